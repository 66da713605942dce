import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import { BaseStack, BaseStackProps } from './base-stack';

/**
 * SES domain identities (Easy DKIM, 2048-bit keys) for the mail domains of the
 * environment. DNS is not in Route 53, so the three DKIM CNAMEs per domain are
 * published as outputs for the operator to add at the DNS provider; SES keeps
 * checking until they appear. Leaving the SES sandbox (production access) is a
 * one-time request to AWS that CloudFormation cannot make.
 */
export class EmailStack extends BaseStack {
  readonly identities = new Map<string, ses.EmailIdentity>();

  constructor(scope: Construct, id: string, props: BaseStackProps) {
    super(scope, id, props);
    props.config.email.identityDomains.forEach((domain, index) => {
      const identity = new ses.EmailIdentity(this, `Identity-${domain.replace(/\./g, '-')}`, {
        identity: ses.Identity.domain(domain),
        dkimSigning: true,
        dkimIdentity: ses.DkimIdentity.easyDkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
      });
      this.identities.set(domain, identity);
      const n = index + 1;
      const records = [
        [identity.dkimDnsTokenName1, identity.dkimDnsTokenValue1],
        [identity.dkimDnsTokenName2, identity.dkimDnsTokenValue2],
        [identity.dkimDnsTokenName3, identity.dkimDnsTokenValue3],
      ];
      records.forEach(([name, value], i) => {
        this.output('email', `Domain${n}Dkim${i + 1}`, `${name} CNAME ${value}`, `DKIM record ${i + 1} of ${domain} (add at the DNS provider)`);
      });
    });
  }
}
