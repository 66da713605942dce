import { CfnCondition, CfnParameter, Duration, Fn, RemovalPolicy, Token } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledge, BaseStack, BaseStackProps, retentionDays } from './base-stack';
import { TenantConfig } from './config';
import { TenantDatabase } from './data-stack';
import { NetworkStack, SERVICE_PORT } from './network-stack';

/** Path of the service binary in the image (the image has no shell and no curl). */
export const SERVICE_BINARY = '/app/startupwebapp';
/** Health endpoint served by the service without touching the database. */
export const HEALTH_CHECK_PATH = '/healthz';
/** Image tag value meaning "no image pushed yet": the service then runs zero tasks. */
export const NO_IMAGE = 'none';
export const WEB_CONTAINER = 'web';
export const MIGRATION_CONTAINER = 'migration';
/** Variable (read by `startupwebapp create-superuser`) and secret key of the first admin's password. */
export const SUPERUSER_PASSWORD_ENV = 'APP_SUPERUSER_PASSWORD';
export const SUPERUSER_PASSWORD_KEY = 'password';

/**
 * Keys of the tenant's app secret (JSON). Only app_secret_key is generated;
 * the others start empty (the service treats an empty variable as unset:
 * Stripe off, SMTP without login) until the operator sets them.
 */
export const APP_SECRET_KEYS = ['app_secret_key', 'stripe_secret_key', 'stripe_webhook_secrets', 'smtp_username', 'smtp_password'] as const;

/** SSM path under which xtask records each deployment of a tenant (no leading slash, as in an ARN). */
export function deploymentRecordsPath(prefix: string, tenant: string): string {
  return `${prefix}/${tenant}/deployments`;
}

export interface AppStackProps extends BaseStackProps {
  readonly tenant: TenantConfig;
  readonly network: NetworkStack;
  readonly database: TenantDatabase;
  readonly deployRole: iam.IRole;
}

/**
 * Everything one tenant runs: image repository, ECS cluster, the web service
 * behind its own HTTPS ALB with auto-scaling, a one-off migration/admin task
 * definition, the tenant's app secret, log groups, and the slice of the CI
 * deploy role's permissions that concerns this tenant.
 */
export class AppStack extends BaseStack {
  readonly tenant: TenantConfig;
  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;
  readonly serviceLogGroup: logs.LogGroup;
  readonly migrationLogGroup: logs.LogGroup;
  readonly repository: ecr.Repository;
  readonly appSecret: secretsmanager.Secret;
  readonly superuserSecret: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: AppStackProps) {
    super(scope, id, props);
    const cfg = props.config;
    const tenant = props.tenant;
    this.tenant = tenant;
    const name = `${cfg.prefix}-${tenant.name}`;

    // ---- Image tags: CloudFormation parameters, so `cdk deploy` keeps the
    // previous value unless a new one is passed (no accidental rollback), and
    // the migration task can be moved to a new image before the service.
    const serviceImageTag = new CfnParameter(this, 'ServiceImageTag', {
      type: 'String',
      default: NO_IMAGE,
      allowedPattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$',
      description: `Image tag the web service runs ("${NO_IMAGE}" = no image yet, zero tasks)`,
    });
    const migrationImageTag = new CfnParameter(this, 'MigrationImageTag', {
      type: 'String',
      default: NO_IMAGE,
      allowedPattern: '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$',
      description: 'Image tag of the one-off migration/admin task definition',
    });
    const imageDeployed = new CfnCondition(this, 'ServiceImageDeployed', {
      expression: Fn.conditionNot(Fn.conditionEquals(serviceImageTag.valueAsString, NO_IMAGE)),
    });

    // ---- Image repository
    this.repository = new ecr.Repository(this, 'Repository', {
      repositoryName: `${name}-backend`,
      imageScanOnPush: true,
      // A tag always names the same image, so a task definition revision can
      // be re-run or rolled back to exactly what was tested.
      imageTagMutability: ecr.TagMutability.IMMUTABLE,
      encryption: ecr.RepositoryEncryption.AES_256,
      lifecycleRules: [
        { description: 'Drop untagged layers after a day', tagStatus: ecr.TagStatus.UNTAGGED, maxImageAge: Duration.days(1), rulePriority: 1 },
        // Enough images for a long rollback window (one image per deploy).
        { description: 'Keep the 30 newest images', tagStatus: ecr.TagStatus.ANY, maxImageCount: 30, rulePriority: 2 },
      ],
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // ---- Secrets: the tenant's app secret; the database secret comes from the data stack.
    this.appSecret = new secretsmanager.Secret(this, 'AppSecret', {
      secretName: `${cfg.prefix}/${tenant.name}/app`,
      description: `Application secrets of tenant ${tenant.name} (keys: ${APP_SECRET_KEYS.join(', ')})`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify(
          Object.fromEntries(APP_SECRET_KEYS.filter((k) => k !== 'app_secret_key').map((k) => [k, ''])),
        ),
        generateStringKey: 'app_secret_key',
        passwordLength: 64,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.appSecret, {
      id: 'SMG4',
      reason: 'Holds third-party credentials (Stripe, SMTP) that are rotated at the provider and written with xtask; the session key is rotated deliberately because rotating it logs every user out.',
    });

    // The first admin's password: generated, read only by the migration/admin
    // task (create-superuser), so it never travels through overrides or logs.
    this.superuserSecret = new secretsmanager.Secret(this, 'SuperuserSecret', {
      secretName: `${cfg.prefix}/${tenant.name}/superuser`,
      description: `Password of the first admin user of tenant ${tenant.name} (key: ${SUPERUSER_PASSWORD_KEY}); read by \`xtask admin create-superuser\` only`,
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: SUPERUSER_PASSWORD_KEY,
        passwordLength: 40,
        excludePunctuation: true,
      },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(this.superuserSecret, {
      id: 'SMG4',
      reason: 'Used once, when the first admin user is created; the admin then changes the password in the application, so rotating this copy would change nothing.',
    });

    // ---- Logs
    const logGroup = (id: string, suffix: string) =>
      new logs.LogGroup(this, id, {
        logGroupName: `/ecs/${name}/${suffix}`,
        retention: retentionDays(cfg.appLogRetentionDays),
        removalPolicy: RemovalPolicy.RETAIN,
      });
    this.serviceLogGroup = logGroup('ServiceLogs', 'service');
    this.migrationLogGroup = logGroup('MigrationLogs', 'migration');
    const execLogGroup = logGroup('ExecLogs', 'exec');

    // ---- Cluster
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc: props.network.vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      // ECS Exec sessions are recorded in a log group of their own.
      executeCommandConfiguration: {
        logging: ecs.ExecuteCommandLogging.OVERRIDE,
        logConfiguration: { cloudWatchLogGroup: execLogGroup, cloudWatchEncryptionEnabled: false },
      },
    });

    // ---- What the service reads (service/src/config.rs). Plain values carry
    // no secret; every secret is injected key by key from Secrets Manager by
    // the ECS agent when a task starts.
    const storefrontUrl = `https://${tenant.webDomain}`;
    const environment: Record<string, string> = {
      APP_ENVIRONMENT: cfg.name,
      APP_BIND_ADDRESS: `0.0.0.0:${SERVICE_PORT}`,
      APP_STOREFRONT_URL: storefrontUrl,
      APP_STOREFRONT_ORIGINS: [storefrontUrl, ...(tenant.extraStorefrontOrigins ?? [])].join(','),
      APP_COOKIE_DOMAIN: tenant.cookieDomain,
      APP_LOG_FORMAT: 'json',
      // Only the load balancer (inside the VPC) may vouch for the client
      // address in X-Forwarded-For; rate limits key on that address.
      APP_TRUSTED_PROXIES: props.network.vpc.vpcCidrBlock,
      SMTP_HOST: cfg.email.smtpHost,
      SMTP_PORT: String(cfg.email.smtpPort),
      SMTP_SECURITY: 'starttls',
      SMTP_FROM: tenant.mailFrom,
    };
    const secrets: Record<string, ecs.Secret> = {
      // postgres://user:password@host:5432/dbname?sslmode=require, written by
      // the tenant bootstrap custom resource next to the generated password.
      DATABASE_URL: ecs.Secret.fromSecretsManager(props.database.secret, 'url'),
      APP_SECRET_KEY: ecs.Secret.fromSecretsManager(this.appSecret, 'app_secret_key'),
      STRIPE_SECRET_KEY: ecs.Secret.fromSecretsManager(this.appSecret, 'stripe_secret_key'),
      STRIPE_WEBHOOK_SECRETS: ecs.Secret.fromSecretsManager(this.appSecret, 'stripe_webhook_secrets'),
      SMTP_USERNAME: ecs.Secret.fromSecretsManager(this.appSecret, 'smtp_username'),
      SMTP_PASSWORD: ecs.Secret.fromSecretsManager(this.appSecret, 'smtp_password'),
    };

    // ---- Web task
    const serviceTask = new ecs.FargateTaskDefinition(this, 'ServiceTask', {
      family: `${name}-web`,
      cpu: tenant.serviceTask.cpu,
      memoryLimitMiB: tenant.serviceTask.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    serviceTask.addContainer(WEB_CONTAINER, {
      image: ecs.ContainerImage.fromEcrRepository(this.repository, serviceImageTag.valueAsString),
      // The image's default command starts the server.
      portMappings: [{ containerPort: SERVICE_PORT, protocol: ecs.Protocol.TCP }],
      environment,
      secrets,
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.serviceLogGroup, streamPrefix: WEB_CONTAINER }),
      // Exec form: the image has no shell and no curl, the binary checks itself.
      healthCheck: {
        command: ['CMD', SERVICE_BINARY, 'healthcheck'],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
    });

    // ---- One-off migration/admin task: same image and settings, a fixed
    // default command; admin subcommands are passed as RunTask overrides so
    // the task definition never changes between runs.
    const migrationTask = new ecs.FargateTaskDefinition(this, 'MigrationTask', {
      family: `${name}-migration`,
      cpu: tenant.migrationTask.cpu,
      memoryLimitMiB: tenant.migrationTask.memoryMiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
    });
    migrationTask.addContainer(MIGRATION_CONTAINER, {
      image: ecs.ContainerImage.fromEcrRepository(this.repository, migrationImageTag.valueAsString),
      entryPoint: [SERVICE_BINARY],
      command: ['migrate'],
      environment,
      // Only the one-off task gets the superuser password (for create-superuser); the web task never does.
      secrets: { ...secrets, [SUPERUSER_PASSWORD_ENV]: ecs.Secret.fromSecretsManager(this.superuserSecret, SUPERUSER_PASSWORD_KEY) },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.migrationLogGroup, streamPrefix: MIGRATION_CONTAINER }),
    });

    for (const task of [serviceTask, migrationTask]) {
      acknowledge(task.executionRole!, {
        id: 'IAM5[Resource::*]',
        reason: 'The execution role needs ecr:GetAuthorizationToken to pull the image; that action has no resource-level permissions (layer pulls are limited to this repository).',
      });
      acknowledge(task, {
        id: 'ECS2',
        reason: 'The plain environment holds only non-secret settings (environment name, bind address, URLs, cookie domain, SMTP host/port/from); every credential is injected from Secrets Manager.',
      });
    }

    // ---- Load balancer
    const accessLogs = new s3.Bucket(this, 'AccessLogs', {
      // ALB access logs only support SSE-S3.
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    acknowledge(accessLogs, {
      id: 'S1',
      reason: 'This bucket receives the ALB access logs; logging access to the log bucket itself would only log the log deliveries.',
    });

    const loadBalancer = new elbv2.ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: props.network.vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      securityGroup: props.network.albSecurityGroup,
      dropInvalidHeaderFields: true,
      deletionProtection: cfg.name === 'production',
    });
    loadBalancer.logAccessLogs(accessLogs, tenant.name);

    const certificate = tenant.apiCertificateArn
      ? acm.Certificate.fromCertificateArn(this, 'ApiCertificate', tenant.apiCertificateArn)
      : new acm.Certificate(this, 'ApiCertificate', {
          domainName: tenant.apiDomain,
          // DNS is not in Route 53: the deploy waits until the validation
          // CNAME shown in the ACM console / `xtask dns records` is added.
          validation: acm.CertificateValidation.fromDns(),
        });

    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      cluster,
      taskDefinition: serviceTask,
      loadBalancer,
      publicLoadBalancer: true,
      certificate,
      protocol: elbv2.ApplicationProtocol.HTTPS,
      sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
      redirectHTTP: true,
      targetProtocol: elbv2.ApplicationProtocol.HTTP,
      taskSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      securityGroups: [props.network.serviceSecurityGroup],
      circuitBreaker: { enable: true, rollback: true },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      healthCheckGracePeriod: Duration.seconds(60),
      enableExecuteCommand: true,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
    });
    // The pattern adds its own unnamed outputs; this stack publishes stable ones instead.
    this.service.node.tryRemoveChild('LoadBalancerDNS');
    this.service.node.tryRemoveChild('ServiceURL');

    this.service.targetGroup.configureHealthCheck({
      path: HEALTH_CHECK_PATH,
      interval: Duration.seconds(30),
      timeout: Duration.seconds(5),
      healthyThresholdCount: 2,
      unhealthyThresholdCount: 3,
      healthyHttpCodes: '200',
    });
    // Targets are registered on the container port; say so in the target group too.
    (this.service.targetGroup.node.defaultChild as elbv2.CfnTargetGroup).port = SERVICE_PORT;
    // Short drain: requests are short, and deploys finish sooner.
    this.service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', '30');

    // Zero tasks until a first image tag is deployed; then the configured minimum.
    const cfnService = this.service.service.node.defaultChild as ecs.CfnService;
    cfnService.desiredCount = Token.asNumber(Fn.conditionIf(imageDeployed.logicalId, tenant.scaling.minTasks, 0));
    const scaling = this.service.service.autoScaleTaskCount({
      minCapacity: Token.asNumber(Fn.conditionIf(imageDeployed.logicalId, tenant.scaling.minTasks, 0)),
      maxCapacity: Token.asNumber(Fn.conditionIf(imageDeployed.logicalId, tenant.scaling.maxTasks, 0)),
    });
    scaling.scaleOnCpuUtilization('CpuScaling', {
      targetUtilizationPercent: 70,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });
    scaling.scaleOnMemoryUtilization('MemoryScaling', {
      targetUtilizationPercent: 80,
      scaleOutCooldown: Duration.seconds(60),
      scaleInCooldown: Duration.seconds(300),
    });

    // ---- Task role permissions
    // Mail may also go through the SES API with the task role instead of SMTP
    // credentials; it is limited to the tenant's own From address.
    const mailDomain = tenant.mailFrom.split('@')[1];
    const identityDomain = cfg.email.identityDomains.find((d) => mailDomain === d || mailDomain.endsWith(`.${d}`))!;
    serviceTask.taskRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'SendTenantMail',
        actions: ['ses:SendEmail', 'ses:SendRawEmail'],
        resources: [this.formatArn({ service: 'ses', resource: 'identity', resourceName: identityDomain })],
        conditions: { StringEquals: { 'ses:FromAddress': tenant.mailFrom } },
      }),
    );
    acknowledge(
      serviceTask.taskRole,
      {
        id: 'IAM5[Resource::*]',
        reason: 'ECS Exec: the ssmmessages channel actions and logs:DescribeLogGroups have no resource-level permissions (added by aws-cdk-lib for enableExecuteCommand).',
      },
      {
        id: `IAM5[Resource::${this.nagArn('logs', `log-group:${this.nagRef(execLogGroup)}:*`)}]`,
        reason: 'ECS Exec session logging writes streams inside the exec log group of this tenant only.',
      },
    );

    // ---- CI deploy permissions for this tenant
    const deployPolicy = new iam.Policy(this, 'CiDeployPolicy', {
      roles: [props.deployRole],
      statements: [
        new iam.PolicyStatement({
          sid: 'PushImages',
          actions: [
            'ecr:BatchCheckLayerAvailability',
            'ecr:BatchGetImage',
            'ecr:CompleteLayerUpload',
            'ecr:DescribeImages',
            'ecr:GetDownloadUrlForLayer',
            'ecr:InitiateLayerUpload',
            'ecr:PutImage',
            'ecr:UploadLayerPart',
          ],
          resources: [this.repository.repositoryArn],
        }),
        new iam.PolicyStatement({
          sid: 'RunMigrationTask',
          actions: ['ecs:RunTask'],
          resources: [this.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${migrationTask.family}:*` })],
          conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
        }),
        new iam.PolicyStatement({
          sid: 'TagStartedTasks',
          // RunTask with tags (or propagateTags) also needs TagResource on the new task.
          actions: ['ecs:TagResource'],
          resources: [this.formatArn({ service: 'ecs', resource: 'task', resourceName: `${cluster.clusterName}/*` })],
          conditions: { StringEquals: { 'ecs:CreateAction': 'RunTask' } },
        }),
        new iam.PolicyStatement({
          sid: 'FollowTasks',
          actions: ['ecs:DescribeTasks', 'ecs:StopTask'],
          resources: [this.formatArn({ service: 'ecs', resource: 'task', resourceName: `${cluster.clusterName}/*` })],
        }),
        new iam.PolicyStatement({
          sid: 'ListClusterTasks',
          // ListTasks has no resource-level permissions; the condition keeps it to this cluster.
          actions: ['ecs:ListTasks'],
          resources: ['*'],
          conditions: { ArnEquals: { 'ecs:cluster': cluster.clusterArn } },
        }),
        new iam.PolicyStatement({
          sid: 'RollService',
          // xtask deploy/rollback point the service at a new task definition revision and watch the rollout.
          actions: ['ecs:DescribeServices', 'ecs:UpdateService'],
          resources: [this.service.service.serviceArn],
        }),
        new iam.PolicyStatement({
          sid: 'RegisterTaskDefinitions',
          // Neither action supports resource-level permissions. A registered
          // revision can only run through RunTask/UpdateService above (this
          // tenant's families and service) and PassRole below (this tenant's roles).
          actions: ['ecs:RegisterTaskDefinition', 'ecs:DescribeTaskDefinition'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'TagRegisteredTaskDefinitions',
          // A revision registered with the stack's tags also needs TagResource on it.
          actions: ['ecs:TagResource'],
          resources: [serviceTask.family, migrationTask.family].map((family) =>
            this.formatArn({ service: 'ecs', resource: 'task-definition', resourceName: `${family}:*` }),
          ),
          conditions: { StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } },
        }),
        new iam.PolicyStatement({
          sid: 'PassTaskRoles',
          actions: ['iam:PassRole'],
          resources: [serviceTask.taskRole.roleArn, serviceTask.executionRole!.roleArn, migrationTask.taskRole.roleArn, migrationTask.executionRole!.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
        }),
        new iam.PolicyStatement({
          sid: 'ReadTargetHealth',
          // elasticloadbalancing:Describe* actions have no resource-level permissions.
          actions: ['elasticloadbalancing:DescribeTargetHealth'],
          resources: ['*'],
        }),
        new iam.PolicyStatement({
          sid: 'DeploymentRecords',
          // xtask keeps one SSM parameter per deployment (what ran, which image), the history `deployments`/`rollback` read.
          actions: ['ssm:PutParameter', 'ssm:GetParameter', 'ssm:GetParametersByPath'],
          resources: [
            this.formatArn({ service: 'ssm', resource: 'parameter', resourceName: deploymentRecordsPath(cfg.prefix, tenant.name) }),
            this.formatArn({ service: 'ssm', resource: 'parameter', resourceName: `${deploymentRecordsPath(cfg.prefix, tenant.name)}/*` }),
          ],
        }),
        new iam.PolicyStatement({
          sid: 'ReadTaskLogs',
          actions: ['logs:GetLogEvents', 'logs:FilterLogEvents'],
          resources: [this.migrationLogGroup.logGroupArn, this.serviceLogGroup.logGroupArn],
        }),
      ],
    });
    acknowledge(
      deployPolicy,
      {
        id: `IAM5[Resource::${this.nagArn('ecs', `task-definition/${migrationTask.family}:*`)}]`,
        reason: 'Any revision of this tenant\'s migration task family, and only in this tenant\'s cluster (ecs:cluster condition).',
      },
      {
        id: `IAM5[Resource::${this.nagArn('ecs', `task/${this.nagRef(cluster)}/*`)}]`,
        reason: 'Task ids are only known at run time; the wildcard is limited to tasks of this tenant\'s cluster.',
      },
      {
        id: `IAM5[Resource::${this.nagArn('ecs', `task-definition/${serviceTask.family}:*`)}]`,
        reason: 'Tagging only, and only while registering a revision of this tenant\'s web task family (ecs:CreateAction condition).',
      },
      {
        id: 'IAM5[Resource::*]',
        reason: 'ecs:RegisterTaskDefinition, ecs:DescribeTaskDefinition, ecs:ListTasks (limited to this cluster by condition) and elasticloadbalancing:DescribeTargetHealth have no resource-level permissions; what a registered revision can run is limited by the tenant-scoped RunTask, UpdateService and PassRole statements.',
      },
      {
        id: `IAM5[Resource::${this.nagArn('ssm', `parameter/${deploymentRecordsPath(cfg.prefix, tenant.name)}/*`)}]`,
        reason: 'One parameter per deployment record, named at deploy time; only under this tenant\'s deployments path.',
      },
    );

    // ---- Outputs read by the ops tooling (names documented in docs/infrastructure.md)
    const t = tenant.name;
    this.output(t, 'ClusterName', cluster.clusterName, 'ECS cluster');
    this.output(t, 'ServiceName', this.service.service.serviceName, 'ECS service of the web task');
    this.output(t, 'ServiceTaskDefinitionArn', serviceTask.taskDefinitionArn, 'Web task definition revision');
    this.output(t, 'ServiceContainerName', WEB_CONTAINER, 'Container name in the web task');
    this.output(t, 'MigrationTaskDefinitionArn', migrationTask.taskDefinitionArn, 'Migration/admin task definition revision (RunTask)');
    this.output(t, 'MigrationTaskFamily', migrationTask.family, 'Migration/admin task definition family');
    this.output(t, 'MigrationContainerName', MIGRATION_CONTAINER, 'Container name for RunTask command overrides');
    this.output(t, 'RepositoryUri', this.repository.repositoryUri, 'ECR repository (push <uri>:<git sha>)');
    this.output(t, 'ServiceImageTag', serviceImageTag.valueAsString, 'Image tag the service currently runs');
    this.output(t, 'MigrationImageTag', migrationImageTag.valueAsString, 'Image tag of the migration/admin task definition');
    this.output(t, 'LoadBalancerDnsName', loadBalancer.loadBalancerDnsName, 'ALB DNS name (target of the API CNAME)');
    this.output(t, 'ApiUrl', `https://${tenant.apiDomain}`, 'Public API base URL');
    this.output(t, 'ServiceLogGroupName', this.serviceLogGroup.logGroupName, 'Web logs; stream web/web/<task id>');
    this.output(t, 'MigrationLogGroupName', this.migrationLogGroup.logGroupName, 'Migration/admin logs; stream migration/migration/<task id>');
    this.output(t, 'ExecLogGroupName', execLogGroup.logGroupName, 'ECS Exec session logs');
    this.output(t, 'AppSecretArn', this.appSecret.secretArn, 'App secret (app_secret_key, stripe_*, smtp_*)');
    this.output(t, 'SuperuserSecretArn', this.superuserSecret.secretArn, 'Password of the first admin user (key password), injected only into the migration/admin task');
    this.output(t, 'TargetGroupArn', this.service.targetGroup.targetGroupArn, 'Target group of the web service (target health for xtask status)');
    // Subnets and security group for RunTask come from the network stack outputs
    // (re-exporting imported values here would only add a second name for them).
  }
}
