import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledge, BaseStack, BaseStackProps, retentionDays } from './base-stack';

/** Port the service listens on (APP_BIND_ADDRESS=0.0.0.0:8000). */
export const SERVICE_PORT = 8000;
/** PostgreSQL port; kept at the default because nothing outside the VPC can reach it. */
export const DB_PORT = 5432;

/**
 * VPC over two AZs with public subnets (ALBs, NAT) and private subnets with
 * egress (tasks, database, bootstrap Lambda), and the security groups of the
 * whole environment. All SG rules live here, written out explicitly; every
 * group denies outbound traffic except what is listed, and no group opens SSH.
 *
 * Traffic allowed:
 *   internet  -> ALB        443 (and 80, answered with a redirect to 443)
 *   ALB       -> service    8000
 *   service   -> database   5432
 *   bootstrap -> database   5432   (tenant database custom resource)
 *   service, bootstrap -> internet 443 (ECR, Secrets Manager, CloudWatch Logs, Stripe, SES API)
 *   service   -> internet   SMTP port of the config (SES SMTP)
 */
export class NetworkStack extends BaseStack {
  readonly vpc: ec2.Vpc;
  readonly albSecurityGroup: ec2.SecurityGroup;
  readonly serviceSecurityGroup: ec2.SecurityGroup;
  readonly databaseSecurityGroup: ec2.SecurityGroup;
  readonly bootstrapSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: BaseStackProps) {
    super(scope, id, props);
    const cfg = props.config;

    // Subnet CIDRs are handed out in sequence by the L2 (10.x.0.0/24 ...);
    // the legacy 10.0.1/2 + 10.0.10/11 layout only mattered for importing,
    // and this is a new VPC.
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(cfg.network.cidr),
      maxAzs: 2,
      natGateways: cfg.network.natGateways,
      // Nothing is ever attached to the default security group; stripping its
      // rules would need an extra custom-resource Lambda for no gain.
      restrictDefaultSecurityGroup: false,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      // Traffic leaving the VPC is recorded (AwsSolutions-VPC7) to a log group
      // with a bounded retention so the cost stays small.
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', {
              retention: retentionDays(cfg.network.flowLogRetentionDays),
              removalPolicy: RemovalPolicy.DESTROY,
            }),
          ),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });

    this.albSecurityGroup = new ec2.SecurityGroup(this, 'AlbSecurityGroup', {
      vpc: this.vpc,
      description: 'Internet-facing ALBs of all tenants',
      allowAllOutbound: false,
    });
    this.serviceSecurityGroup = new ec2.SecurityGroup(this, 'ServiceSecurityGroup', {
      vpc: this.vpc,
      description: 'ECS service tasks and one-off migration/admin tasks',
      allowAllOutbound: false,
    });
    this.databaseSecurityGroup = new ec2.SecurityGroup(this, 'DatabaseSecurityGroup', {
      vpc: this.vpc,
      description: 'Shared RDS PostgreSQL instance',
      allowAllOutbound: false,
    });
    this.bootstrapSecurityGroup = new ec2.SecurityGroup(this, 'BootstrapSecurityGroup', {
      vpc: this.vpc,
      description: 'Lambda that creates tenant databases and roles',
      allowAllOutbound: false,
    });

    const https = ec2.Port.tcp(443);
    this.albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), https, 'HTTPS from the internet');
    this.albSecurityGroup.addIngressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(80), 'HTTP from the internet (redirected to HTTPS)');
    acknowledge(this.albSecurityGroup, {
      id: 'EC23',
      reason: 'The ALBs are the public entry point of the API: ports 443 and 80 (redirect only) must be open to the internet; everything behind them is reachable only from this group.',
    });
    this.albSecurityGroup.addEgressRule(this.serviceSecurityGroup, ec2.Port.tcp(SERVICE_PORT), 'Forward to the service');

    this.serviceSecurityGroup.addIngressRule(this.albSecurityGroup, ec2.Port.tcp(SERVICE_PORT), 'Requests and health checks from the ALB');
    this.serviceSecurityGroup.addEgressRule(this.databaseSecurityGroup, ec2.Port.tcp(DB_PORT), 'PostgreSQL');
    this.serviceSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), https, 'AWS APIs, ECR, Stripe over the NAT gateway');
    this.serviceSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(cfg.email.smtpPort), 'SMTP submission to SES');

    this.databaseSecurityGroup.addIngressRule(this.serviceSecurityGroup, ec2.Port.tcp(DB_PORT), 'PostgreSQL from service and one-off tasks');
    this.databaseSecurityGroup.addIngressRule(this.bootstrapSecurityGroup, ec2.Port.tcp(DB_PORT), 'PostgreSQL from the tenant bootstrap Lambda');

    this.bootstrapSecurityGroup.addEgressRule(this.databaseSecurityGroup, ec2.Port.tcp(DB_PORT), 'PostgreSQL');
    this.bootstrapSecurityGroup.addEgressRule(ec2.Peer.anyIpv4(), https, 'Secrets Manager over the NAT gateway');

    this.output('network', 'VpcId', this.vpc.vpcId, 'VPC of the environment');
    this.output(
      'network',
      'PrivateSubnetIds',
      this.vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      'Comma-separated private subnets for one-off tasks (RunTask awsvpcConfiguration.subnets)',
    );
    this.output('network', 'ServiceSecurityGroupId', this.serviceSecurityGroup.securityGroupId, 'Security group for service and one-off tasks');
  }
}
