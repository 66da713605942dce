import * as path from 'node:path';
import { CustomResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { acknowledge, BaseStack, BaseStackProps, retentionDays } from './base-stack';
import { TenantConfig } from './config';
import { DB_PORT, NetworkStack } from './network-stack';

export interface DataStackProps extends BaseStackProps {
  readonly network: NetworkStack;
}

/** What a tenant's stacks need from the data stack. */
export interface TenantDatabase {
  /** JSON secret: engine, host, port, username, password, dbname, url. */
  readonly secret: secretsmanager.ISecret;
  readonly databaseName: string;
}

/**
 * The one PostgreSQL 16 instance shared by all tenants of an environment, its
 * master secret, and for every tenant a login role + database + secret,
 * created by a Lambda-backed custom resource (no manual psql).
 */
export class DataStack extends BaseStack {
  readonly instance: rds.DatabaseInstance;
  readonly instanceIdentifier: string;
  readonly tenantDatabases = new Map<string, TenantDatabase>();

  constructor(scope: Construct, id: string, props: DataStackProps) {
    super(scope, id, props);
    const cfg = props.config;
    const db = cfg.database;
    const engine = rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.of(db.engineVersion, '16') });
    this.instanceIdentifier = `${cfg.prefix}-postgres`;

    const parameterGroup = new rds.ParameterGroup(this, 'Parameters', {
      engine,
      description: `${cfg.prefix} PostgreSQL 16`,
      parameters: {
        // TLS for every connection (the service and the bootstrap Lambda both use it).
        'rds.force_ssl': '1',
        // Slow statements show up in the exported postgresql log.
        log_min_duration_statement: '1000',
        log_lock_waits: '1',
      },
    });

    // Log groups of the exports are created here, before the instance, so
    // their retention is set without a LogRetention custom resource.
    const exportedLogs = ['postgresql', 'upgrade'];
    const logGroups = exportedLogs.map(
      (name) =>
        new logs.LogGroup(this, `Log-${name}`, {
          logGroupName: `/aws/rds/instance/${this.instanceIdentifier}/${name}`,
          retention: retentionDays(db.logRetentionDays),
          removalPolicy: RemovalPolicy.RETAIN,
        }),
    );

    this.instance = new rds.DatabaseInstance(this, 'Postgres', {
      instanceIdentifier: this.instanceIdentifier,
      engine,
      instanceType: new ec2.InstanceType(db.instanceType),
      vpc: props.network.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [props.network.databaseSecurityGroup],
      port: DB_PORT,
      publiclyAccessible: false,
      credentials: rds.Credentials.fromGeneratedSecret('postgres', {
        secretName: `${cfg.prefix}/database/master`,
      }),
      parameterGroup,
      multiAz: db.multiAz,
      storageEncrypted: true,
      storageType: rds.StorageType.GP3,
      allocatedStorage: db.allocatedStorageGiB,
      maxAllocatedStorage: db.maxAllocatedStorageGiB,
      // Automated backups enable point-in-time recovery for the whole window.
      backupRetention: Duration.days(db.backupRetentionDays),
      preferredBackupWindow: '03:00-04:00',
      preferredMaintenanceWindow: 'sun:04:30-sun:05:30',
      copyTagsToSnapshot: true,
      deletionProtection: db.deletionProtection,
      removalPolicy: RemovalPolicy.SNAPSHOT,
      // The minor version is pinned in the config; automatic upgrades would
      // make the template lie about what runs. Upgrades are a config change.
      autoMinorVersionUpgrade: false,
      cloudwatchLogsExports: exportedLogs,
      monitoringInterval: Duration.seconds(60),
      enablePerformanceInsights: true,
      performanceInsightRetention: db.performanceInsightsRetentionDays as rds.PerformanceInsightRetention,
      caCertificate: rds.CaCertificate.RDS_CA_RSA2048_G1,
    });
    for (const lg of logGroups) this.instance.node.addDependency(lg);
    const masterSecret = this.instance.secret!;

    acknowledge(
      this.instance,
      {
        id: 'RDS11',
        reason: 'The database keeps the standard PostgreSQL port 5432: it is only reachable from the service and bootstrap security groups inside private subnets, so a non-standard port adds no protection.',
      },
      ...(db.multiAz
        ? []
        : [{ id: 'RDS3', reason: 'Multi-AZ is off in this environment by configuration (lib/config.ts, database.multiAz) to halve the database cost; production has it on.' }]),
    );
    acknowledge(this.instance.node.findChild('Secret'), {
      id: 'SMG4',
      reason: 'The master password is only used by the tenant bootstrap Lambda; rotation is a planned operation (xtask) rather than an automatic one, so nothing holds a stale password.',
    });
    const monitoringRole = this.instance.node.tryFindChild('MonitoringRole');
    if (monitoringRole) {
      acknowledge(monitoringRole, {
        id: 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole]',
        reason: 'Enhanced Monitoring needs exactly the AWS-managed AmazonRDSEnhancedMonitoringRole policy; AWS keeps it up to date.',
      });
    }

    // ---- Tenant bootstrap: one Lambda + provider for all tenants ----
    const bootstrapFn = new lambda.Function(this, 'TenantBootstrapFunction', {
      description: 'Creates tenant login roles and databases on the shared PostgreSQL instance',
      runtime: lambda.Runtime.NODEJS_24_X,
      handler: 'index.handler',
      code: lambda.Code.fromAsset(path.join(__dirname, '..', 'lambda', 'tenant-db')),
      timeout: Duration.minutes(2),
      memorySize: 256,
      vpc: props.network.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: [props.network.bootstrapSecurityGroup],
      allowPublicSubnet: false,
      environment: { RDS_CA_BUNDLE: '/var/runtime/ca-cert.pem' },
      logGroup: new logs.LogGroup(this, 'TenantBootstrapLogs', {
        retention: retentionDays(cfg.appLogRetentionDays),
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    masterSecret.grantRead(bootstrapFn);

    const provider = new cr.Provider(this, 'TenantBootstrapProvider', {
      onEventHandler: bootstrapFn,
      logGroup: new logs.LogGroup(this, 'TenantBootstrapProviderLogs', {
        retention: retentionDays(cfg.appLogRetentionDays),
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });

    acknowledge(
      bootstrapFn,
      {
        id: 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'AWS-managed policy limited to writing the function logs.',
      },
      {
        id: 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
        reason: 'AWS-managed policy with the ENI permissions a Lambda in a VPC needs to reach the database.',
      },
    );
    acknowledge(
      provider,
      {
        id: 'IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The custom-resource framework Lambda (aws-cdk-lib) only writes its own logs with this AWS-managed policy.',
      },
      {
        id: `IAM5[Resource::${this.nagRef(bootstrapFn, 'Arn')}:*]`,
        reason: 'The framework Lambda may invoke any version/alias of the one bootstrap function; the wildcard is the qualifier only.',
      },
    );

    for (const tenant of cfg.tenants) {
      this.tenantDatabases.set(tenant.name, this.addTenant(tenant, masterSecret, provider));
    }

    this.output('data', 'DatabaseInstanceId', this.instance.instanceIdentifier, 'RDS instance identifier (snapshots, restores)');
    this.output('data', 'DatabaseEndpoint', this.instance.dbInstanceEndpointAddress, 'RDS endpoint host name');
    this.output('data', 'MasterSecretArn', masterSecret.secretArn, 'Master credentials (username postgres) in Secrets Manager');
  }

  private addTenant(tenant: TenantConfig, masterSecret: secretsmanager.ISecret, provider: cr.Provider): TenantDatabase {
    const cfg = this.config;
    const id = `Tenant-${tenant.name}`;
    // One JSON secret per tenant. The password is generated here; the bootstrap
    // custom resource adds "url" (the DATABASE_URL the service reads) once the
    // role exists. host/port/username/dbname stay for psql and the ops tools.
    const secret = new secretsmanager.Secret(this, `${id}-DatabaseSecret`, {
      secretName: `${cfg.prefix}/${tenant.name}/database`,
      description: `PostgreSQL login of tenant ${tenant.name}`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({
          engine: 'postgres',
          host: this.instance.dbInstanceEndpointAddress,
          port: String(DB_PORT),
          username: tenant.database.username,
          dbname: tenant.database.name,
          url: '',
        }),
        generateStringKey: 'password',
        passwordLength: 40,
        // Letters and digits only: the password can be put in a URL or a
        // libpq string without any escaping.
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    secret.grantRead(provider.onEventHandler);
    secret.grantWrite(provider.onEventHandler);
    acknowledge(secret, {
      id: 'SMG4',
      reason: 'ECS reads secrets only when a task starts; automatic rotation would break running tasks. The password is rotated on purpose (new secret version, custom resource update, service redeploy).',
    });

    new CustomResource(this, `${id}-Database`, {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::TenantDatabase',
      properties: {
        MasterSecretArn: masterSecret.secretArn,
        TenantSecretArn: secret.secretArn,
        DatabaseName: tenant.database.name,
        Username: tenant.database.username,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // Ordering after the instance follows from the references to its endpoint
    // and master secret attachment.

    this.output(tenant.name, 'DatabaseSecretArn', secret.secretArn, `Database login secret of tenant ${tenant.name}`);
    return { secret, databaseName: tenant.database.name };
  }
}
