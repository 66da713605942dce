import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledge, BaseStack, BaseStackProps } from './base-stack';
import { EnvironmentConfig } from './config';

const GITHUB_ISSUER = 'token.actions.githubusercontent.com';

/**
 * The `sub` claim the deploy role trusts. A job that names a GitHub
 * environment gets `repo:o/r:environment:<name>` (whatever its branch), so
 * with an environment the environment itself (reviewers, branch rule) is the
 * gate; without one, the branch is.
 */
export function ciTokenSubject(ci: EnvironmentConfig['ci']): string {
  const repo = `repo:${ci.githubOwner}/${ci.githubRepo}`;
  return ci.githubEnvironment ? `${repo}:environment:${ci.githubEnvironment}` : `${repo}:ref:refs/heads/${ci.githubBranch}`;
}

/**
 * Credentials for GitHub Actions without long-lived keys: the account's OIDC
 * provider for GitHub and one deploy role per environment that only a
 * workflow of the configured repository *and branch* can assume (the token's
 * `sub` claim), for at most one hour.
 *
 * This stack only grants what is not tied to one tenant: listing and reading stack
 * outputs, logging in to ECR, and (for `cdk deploy`) assuming the CDK
 * bootstrap roles. Each tenant's stacks attach their own narrowly scoped
 * policy to the role (ECR push to its repository, RunTask of its migration
 * task, upload to its bucket, ...), so adding a tenant never edits this stack.
 */
export class CiStack extends BaseStack {
  readonly deployRole: iam.Role;

  constructor(scope: Construct, id: string, props: BaseStackProps) {
    super(scope, id, props);
    const ci = props.config.ci;

    const provider: iam.IOidcProvider = ci.createOidcProvider
      ? new iam.OidcProviderNative(this, 'GitHubOidcProvider', {
          url: `https://${GITHUB_ISSUER}`,
          clientIds: ['sts.amazonaws.com'],
        })
      : iam.OidcProviderNative.fromOidcProviderArn(
          this,
          'GitHubOidcProvider',
          this.formatArn({ service: 'iam', region: '', resource: 'oidc-provider', resourceName: GITHUB_ISSUER }),
        );

    this.deployRole = new iam.Role(this, 'DeployRole', {
      description: `GitHub Actions deploy role for ${ci.githubOwner}/${ci.githubRepo} on ${ci.githubEnvironment ? `environment ${ci.githubEnvironment}` : ci.githubBranch} (${props.config.name})`,
      maxSessionDuration: Duration.hours(1),
      assumedBy: new iam.WebIdentityPrincipal(provider.oidcProviderArn, {
        StringEquals: {
          [`${GITHUB_ISSUER}:aud`]: 'sts.amazonaws.com',
          // Exact match: no other repository, branch, tag, pull request or
          // environment can get these credentials.
          [`${GITHUB_ISSUER}:sub`]: ciTokenSubject(ci),
        },
      }),
    });

    this.deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadStackOutputs',
        actions: ['cloudformation:DescribeStacks', 'cloudformation:DescribeStackEvents'],
        resources: [this.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${props.config.prefix}-*` })],
      }),
    );
    this.deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'FindStacks',
        // `xtask ... --all` lists the environment's stacks to find its tenants;
        // ListStacks has no resource-level permissions (names and states only).
        actions: ['cloudformation:ListStacks'],
        resources: ['*'],
      }),
    );
    this.deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EcrLogin',
        // GetAuthorizationToken has no resource-level permissions.
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    this.deployRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'CdkDeploy',
        // `cdk deploy` works through the roles of the CDK bootstrap stack; what
        // CloudFormation may change is bounded by the execution policy chosen
        // at `cdk bootstrap` time, not by this role.
        actions: ['sts:AssumeRole', 'sts:TagSession'],
        resources: [
          this.formatArn({
            service: 'iam',
            region: '',
            resource: 'role',
            resourceName: `cdk-${ci.cdkBootstrapQualifier}-*-${this.account}-${this.region}`,
          }),
        ],
      }),
    );
    acknowledge(
      this.deployRole,
      {
        id: `IAM5[Resource::${this.nagArn('cloudformation', `stack/${props.config.prefix}-*`)}]`,
        reason: 'Read-only access to the outputs of this environment\'s own stacks, which share the configured prefix.',
      },
      {
        id: 'IAM5[Resource::*]',
        reason: 'ecr:GetAuthorizationToken and cloudformation:ListStacks (finding the tenant stacks for --all) do not support resource-level permissions; pushing is still limited per repository, and stack details to this environment\'s stacks.',
      },
      {
        id: `IAM5[Resource::${this.nagArn('iam', `role/cdk-${ci.cdkBootstrapQualifier}-*-<AWS::AccountId>-${this.region}`, false)}]`,
        reason: 'The wildcard selects the fixed set of CDK bootstrap roles (deploy, file-publishing, image-publishing, lookup) of this account and region.',
      },
    );

    this.output('ci', 'DeployRoleArn', this.deployRole.roleArn, 'Role for aws-actions/configure-aws-credentials (role-to-assume)');
    this.output('ci', 'OidcProviderArn', provider.oidcProviderArn, 'GitHub Actions OIDC provider of the account');
  }
}
