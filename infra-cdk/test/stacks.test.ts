import { Match } from 'aws-cdk-lib/assertions';
import {
  APP_SECRET_KEYS,
  deploymentRecordsPath,
  HEALTH_CHECK_PATH,
  MIGRATION_CONTAINER,
  NO_IMAGE,
  SERVICE_BINARY,
  SUPERUSER_PASSWORD_ENV,
  SUPERUSER_PASSWORD_KEY,
  WEB_CONTAINER,
} from '../lib/app-stack';
import { ciTokenSubject } from '../lib/ci-stack';
import { ENVIRONMENTS, EnvironmentConfig } from '../lib/config';
import { buildApp, resourcesOf, template } from './helpers';

const t = buildApp();
const prod = t.environments.find((e) => e.config.name === 'production')!;
const staging = t.environments.find((e) => e.config.name === 'staging')!;
const allApps = t.environments.flatMap((e) => e.apps);

/** Names the service receives as secrets; none may ever appear as a plain environment value. */
const SECRET_ENV = ['DATABASE_URL', 'APP_SECRET_KEY', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRETS', 'SMTP_USERNAME', 'SMTP_PASSWORD'];

describe('tenancy', () => {
  test('one app stack and one frontend stack per tenant, in every environment', () => {
    for (const env of t.environments) {
      expect(env.apps.map((a) => a.tenant.name)).toEqual(env.config.tenants.map((x) => x.name));
      expect(env.frontends.length).toBe(env.config.tenants.length);
      expect(env.apps.map((a) => a.stackName)).toEqual(env.config.tenants.map((x) => `${env.config.prefix}-${x.name}-app`));
    }
  });

  test('adding a tenant is adding one config entry', () => {
    const base = ENVIRONMENTS.find((e) => e.name === 'staging')!;
    const extra: EnvironmentConfig = {
      ...base,
      tenants: [...base.tenants, { ...base.tenants[0], name: 'fintech', apiDomain: 'fintech-api.staging.example.com', webDomain: 'fintech.staging.example.com', database: { name: 'fintech_staging', username: 'fintech_app' } }],
    };
    const grown = buildApp({ environments: [extra] });
    const env = grown.environments[0];
    expect(env.apps.map((a) => a.stackName)).toEqual(['swa-stg-swa-app', 'swa-stg-fintech-app']);
    expect(env.frontends.map((f) => f.stackName)).toEqual(['swa-stg-swa-frontend', 'swa-stg-fintech-frontend']);
    // ... and its database, role and secret in the data stack.
    const data = template(env.data);
    data.resourceCountIs('Custom::TenantDatabase', 2);
    data.hasResourceProperties('Custom::TenantDatabase', { DatabaseName: 'fintech_staging', Username: 'fintech_app' });
    data.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'swa-stg/fintech/database' });
    // ... and its alarms in the monitoring stack.
    template(env.monitoring).hasResourceProperties('AWS::CloudWatch::Alarm', { AlarmName: 'swa-stg-fintech-Target5xx' });
  });

  test('each tenant gets a database secret and a bootstrap custom resource', () => {
    for (const env of t.environments) {
      const data = template(env.data);
      data.resourceCountIs('Custom::TenantDatabase', env.config.tenants.length);
      for (const tenant of env.config.tenants) {
        data.hasResourceProperties('Custom::TenantDatabase', {
          DatabaseName: tenant.database.name,
          Username: tenant.database.username,
          MasterSecretArn: Match.anyValue(),
          TenantSecretArn: Match.anyValue(),
        });
        data.hasResourceProperties('AWS::SecretsManager::Secret', {
          Name: `${env.config.prefix}/${tenant.name}/database`,
          GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', ExcludePunctuation: true }),
        });
      }
      // Tenant data is never deleted by CloudFormation.
      for (const [, r] of resourcesOf(data, 'Custom::TenantDatabase')) expect(r.DeletionPolicy).toBe('Retain');
    }
  });
});

describe('database', () => {
  test('encrypted, PostgreSQL 16 with a pinned minor version, backups, deletion protection, snapshot on removal', () => {
    for (const env of t.environments) {
      const data = template(env.data);
      const [[, db]] = resourcesOf(data, 'AWS::RDS::DBInstance');
      expect(db.Properties).toMatchObject({
        Engine: 'postgres',
        EngineVersion: env.config.database.engineVersion,
        StorageEncrypted: true,
        DeletionProtection: true,
        BackupRetentionPeriod: env.config.database.backupRetentionDays,
        PubliclyAccessible: false,
        EnablePerformanceInsights: true,
        EnableCloudwatchLogsExports: ['postgresql', 'upgrade'],
        CopyTagsToSnapshot: true,
        AutoMinorVersionUpgrade: false,
        StorageType: 'gp3',
        MonitoringInterval: 60,
      });
      expect(db.Properties.EngineVersion).toMatch(/^16\.\d+$/);
      expect(db.DeletionPolicy).toBe('Snapshot');
      expect(db.UpdateReplacePolicy).toBe('Snapshot');
      // Master credentials are generated into Secrets Manager, never in the template.
      expect(JSON.stringify(db.Properties.MasterUserPassword)).toContain('resolve:secretsmanager');
      data.hasResourceProperties('AWS::SecretsManager::Secret', {
        Name: `${env.config.prefix}/database/master`,
        GenerateSecretString: Match.objectLike({ GenerateStringKey: 'password', SecretStringTemplate: '{"username":"postgres"}' }),
      });
      data.hasResourceProperties('AWS::RDS::DBParameterGroup', {
        Family: 'postgres16',
        Parameters: { 'rds.force_ssl': '1', log_min_duration_statement: '1000', log_lock_waits: '1' },
      });
    }
  });

  test('Multi-AZ is on for production and follows the config elsewhere', () => {
    template(prod.data).hasResourceProperties('AWS::RDS::DBInstance', { MultiAZ: true });
    template(staging.data).hasResourceProperties('AWS::RDS::DBInstance', { MultiAZ: false });
  });

  test('the exported PostgreSQL logs have a retention', () => {
    template(prod.data).hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/rds/instance/swa-prod-postgres/postgresql',
      RetentionInDays: prod.config.database.logRetentionDays,
    });
  });

  test('the bootstrap Lambda runs inside the VPC and reads only the secrets it needs', () => {
    const data = template(prod.data);
    data.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      VpcConfig: Match.objectLike({ SecurityGroupIds: Match.anyValue() }),
    });
    const policies = resourcesOf(data, 'AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties.PolicyDocument));
    const secretAccess = policies.filter((p) => p.includes('secretsmanager:'));
    expect(secretAccess.join()).toContain('secretsmanager:PutSecretValue');
    for (const p of secretAccess) expect(p).not.toContain('"Resource":"*"');
  });
});

describe('network', () => {
  test('two AZs with public and private subnets and a NAT gateway', () => {
    const net = template(prod.network);
    net.resourceCountIs('AWS::EC2::Subnet', 4);
    net.resourceCountIs('AWS::EC2::NatGateway', prod.config.network.natGateways);
    net.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  test('security groups: only ALB->8000, service->5432, no SSH, no open egress', () => {
    for (const env of t.environments) {
      const net = template(env.network);
      const ingress = resourcesOf(net, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties);
      const inline = resourcesOf(net, 'AWS::EC2::SecurityGroup').flatMap(([, r]) => r.Properties.SecurityGroupIngress ?? []);
      const ports = [...ingress, ...inline].map((r: any) => r.FromPort);
      expect(ports).not.toContain(22);
      expect(ports.sort()).toEqual([443, 5432, 5432, 80, 8000].sort());
      net.hasResourceProperties('AWS::EC2::SecurityGroupIngress', { FromPort: 8000, ToPort: 8000, SourceSecurityGroupId: Match.anyValue() });
      net.hasResourceProperties('AWS::EC2::SecurityGroupEgress', { FromPort: 5432, ToPort: 5432, DestinationSecurityGroupId: Match.anyValue() });
      for (const [, sg] of resourcesOf(net, 'AWS::EC2::SecurityGroup')) {
        for (const rule of sg.Properties.SecurityGroupEgress ?? []) expect(rule.IpProtocol).not.toBe('-1');
      }
      // Every app stack uses these groups instead of creating open ones.
      for (const app of env.apps) template(app).resourceCountIs('AWS::EC2::SecurityGroup', 0);
    }
  });
});

describe('app stack', () => {
  test('ECR: scan on push, immutable tags, lifecycle rule', () => {
    for (const app of allApps) {
      template(app).hasResourceProperties('AWS::ECR::Repository', {
        ImageScanningConfiguration: { ScanOnPush: true },
        ImageTagMutability: 'IMMUTABLE',
        LifecyclePolicy: { LifecyclePolicyText: Match.stringLikeRegexp('imageCountMoreThan') },
      });
    }
  });

  test('HTTPS listener uses the recommended TLS policy and HTTP redirects to HTTPS', () => {
    for (const app of allApps) {
      const tpl = template(app);
      tpl.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Protocol: 'HTTPS',
        Port: 443,
        SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      });
      tpl.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Protocol: 'HTTP',
        Port: 80,
        DefaultActions: [{ Type: 'redirect', RedirectConfig: { Protocol: 'HTTPS', Port: '443', StatusCode: 'HTTP_301' } }],
      });
      tpl.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        Scheme: 'internet-facing',
        LoadBalancerAttributes: Match.arrayWith([
          { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
          { Key: 'access_logs.s3.enabled', Value: 'true' },
        ]),
      });
    }
  });

  test('target group health check on /healthz', () => {
    for (const app of allApps) {
      template(app).hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        HealthCheckPath: HEALTH_CHECK_PATH,
        HealthCheckIntervalSeconds: 30,
        HealthCheckTimeoutSeconds: 5,
        HealthyThresholdCount: 2,
        UnhealthyThresholdCount: 3,
        Matcher: { HttpCode: '200' },
        Port: 8000,
        TargetType: 'ip',
      });
    }
  });

  test('deployment circuit breaker with rollback, min healthy 100 %, ECS Exec, private subnets', () => {
    for (const app of allApps) {
      template(app).hasResourceProperties('AWS::ECS::Service', {
        DeploymentConfiguration: {
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
          MinimumHealthyPercent: 100,
          MaximumPercent: 200,
        },
        EnableExecuteCommand: true,
        LaunchType: 'FARGATE',
        NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
        // Zero tasks until a first image tag is deployed, then the configured minimum.
        DesiredCount: { 'Fn::If': ['ServiceImageDeployed', app.tenant.scaling.minTasks, 0] },
      });
    }
  });

  test('image tags are parameters that default to "no image yet"', () => {
    const tpl = template(prod.apps[0]);
    tpl.hasParameter('ServiceImageTag', { Type: 'String', Default: NO_IMAGE });
    tpl.hasParameter('MigrationImageTag', { Type: 'String', Default: NO_IMAGE });
    tpl.hasCondition('ServiceImageDeployed', { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'ServiceImageTag' }, NO_IMAGE] }] });
  });

  test('auto-scaling on CPU 70 % and memory 80 % within the tenant limits', () => {
    for (const app of allApps) {
      const tpl = template(app);
      tpl.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
        MinCapacity: { 'Fn::If': ['ServiceImageDeployed', app.tenant.scaling.minTasks, 0] },
        MaxCapacity: { 'Fn::If': ['ServiceImageDeployed', app.tenant.scaling.maxTasks, 0] },
      });
      tpl.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
          TargetValue: 70,
        }),
      });
      tpl.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageMemoryUtilization' },
          TargetValue: 80,
        }),
      });
    }
  });

  test('container health check runs the binary (no shell, no curl)', () => {
    for (const app of allApps) {
      template(app).hasResourceProperties('AWS::ECS::TaskDefinition', {
        ContainerDefinitions: [Match.objectLike({ Name: WEB_CONTAINER, HealthCheck: Match.objectLike({ Command: ['CMD', SERVICE_BINARY, 'healthcheck'] }) })],
      });
    }
  });

  test('migration task: same image repository, command "startupwebapp migrate", own log group', () => {
    for (const app of allApps) {
      template(app).hasResourceProperties('AWS::ECS::TaskDefinition', {
        Family: `${app.config.prefix}-${app.tenant.name}-migration`,
        ContainerDefinitions: [
          Match.objectLike({
            Name: MIGRATION_CONTAINER,
            EntryPoint: [SERVICE_BINARY],
            Command: ['migrate'],
            LogConfiguration: Match.objectLike({ Options: Match.objectLike({ 'awslogs-stream-prefix': MIGRATION_CONTAINER }) }),
          }),
        ],
      });
    }
  });

  test('no secret in plain environment: every secret comes from Secrets Manager, key by key', () => {
    for (const app of allApps) {
      for (const [, td] of resourcesOf(template(app), 'AWS::ECS::TaskDefinition')) {
        for (const c of td.Properties.ContainerDefinitions) {
          const envNames: string[] = (c.Environment ?? []).map((e: any) => e.Name);
          for (const name of envNames) {
            expect(SECRET_ENV).not.toContain(name);
            expect({ name, looksSecret: /PASSWORD|SECRET|TOKEN|_KEY$|DATABASE_URL/.test(name) }).toEqual({ name, looksSecret: false });
          }
          for (const e of c.Environment ?? []) expect(String(e.Value)).not.toMatch(/sk_live|sk_test|whsec_|postgres:\/\//);
          const secrets = Object.fromEntries((c.Secrets ?? []).map((s: any) => [s.Name, JSON.stringify(s.ValueFrom)]));
          const expected = c.Name === MIGRATION_CONTAINER ? [...SECRET_ENV, SUPERUSER_PASSWORD_ENV] : SECRET_ENV;
          expect(Object.keys(secrets).sort()).toEqual([...expected].sort());
          // valueFrom is "<secret arn>:<json key>::" (one key per variable).
          expect(secrets.DATABASE_URL).toMatch(/:url::/);
          expect(secrets.STRIPE_WEBHOOK_SECRETS).toMatch(/:stripe_webhook_secrets::/);
          expect(envNames.sort()).toEqual(
            ['APP_ENVIRONMENT', 'APP_BIND_ADDRESS', 'APP_STOREFRONT_ORIGINS', 'APP_COOKIE_DOMAIN', 'APP_STOREFRONT_URL', 'APP_LOG_FORMAT', 'APP_TRUSTED_PROXIES', 'SMTP_HOST', 'SMTP_PORT', 'SMTP_SECURITY', 'SMTP_FROM'].sort(),
          );
        }
      }
    }
    const web = resourcesOf(template(prod.apps[0]), 'AWS::ECS::TaskDefinition')
      .map(([, td]) => td.Properties.ContainerDefinitions[0])
      .find((c: any) => c.Name === WEB_CONTAINER);
    const env = Object.fromEntries(web.Environment.map((e: any) => [e.Name, e.Value]));
    expect(env).toMatchObject({
      APP_ENVIRONMENT: 'production',
      APP_BIND_ADDRESS: '0.0.0.0:8000',
      APP_STOREFRONT_URL: `https://${prod.config.tenants[0].webDomain}`,
      APP_COOKIE_DOMAIN: prod.config.tenants[0].cookieDomain,
    });
  });

  test('superuser password: a generated secret injected only into the migration/admin container', () => {
    for (const app of allApps) {
      const tpl = template(app);
      const [[secretId, secret]] = resourcesOf(tpl, 'AWS::SecretsManager::Secret').filter(([, s]) => s.Properties.Name === `${app.config.prefix}/${app.tenant.name}/superuser`);
      expect(secret.Properties.GenerateSecretString).toMatchObject({ GenerateStringKey: SUPERUSER_PASSWORD_KEY, ExcludePunctuation: true });
      expect(secret.Properties.GenerateSecretString.PasswordLength).toBeGreaterThanOrEqual(32);
      const containers = resourcesOf(tpl, 'AWS::ECS::TaskDefinition').flatMap(([, td]) => td.Properties.ContainerDefinitions);
      const injected = (name: string) =>
        containers.find((c: any) => c.Name === name).Secrets.filter((s: any) => JSON.stringify(s.ValueFrom).includes(secretId));
      const migration = injected(MIGRATION_CONTAINER);
      expect(migration.map((s: any) => s.Name)).toEqual([SUPERUSER_PASSWORD_ENV]);
      expect(JSON.stringify(migration[0].ValueFrom)).toContain(`:${SUPERUSER_PASSWORD_KEY}::`);
      expect(injected(WEB_CONTAINER)).toEqual([]);
      // Nowhere as a plain value either.
      expect(JSON.stringify(containers.flatMap((c: any) => c.Environment ?? []))).not.toContain(SUPERUSER_PASSWORD_ENV);
      // Only the migration task's execution role may read it.
      const readers = resourcesOf(tpl, 'AWS::IAM::Policy').filter(([, p]) => JSON.stringify(p.Properties.PolicyDocument).includes(`"Ref":"${secretId}"`));
      expect(readers.map(([id]) => id)).toEqual([expect.stringMatching(/^MigrationTaskExecutionRoleDefaultPolicy/)]);
      tpl.hasOutput(`${app.tenant.name.charAt(0).toUpperCase()}${app.tenant.name.slice(1)}SuperuserSecretArn`, {
        Export: { Name: `${app.config.prefix}-${app.tenant.name}-SuperuserSecretArn` },
      });
    }
  });

  test('app secret holds the generated session key and empty slots, never real values', () => {
    template(prod.apps[0]).hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'swa-prod/swa/app',
      GenerateSecretString: Match.objectLike({ GenerateStringKey: 'app_secret_key', PasswordLength: 64 }),
    });
    const [[, secret]] = resourcesOf(template(prod.apps[0]), 'AWS::SecretsManager::Secret').filter(([, s]) => s.Properties.Name === 'swa-prod/swa/app');
    const slots = JSON.parse(secret.Properties.GenerateSecretString.SecretStringTemplate);
    expect(Object.keys(slots).sort()).toEqual(APP_SECRET_KEYS.filter((k) => k !== 'app_secret_key').sort());
    expect(Object.values(slots).every((v) => v === '')).toBe(true);
  });

  test('ECS Exec has the permissions it needs', () => {
    const policies = resourcesOf(template(prod.apps[0]), 'AWS::IAM::Policy').map(([, p]) => JSON.stringify(p.Properties.PolicyDocument));
    const taskPolicy = policies.find((p) => p.includes('ssmmessages:CreateControlChannel'));
    expect(taskPolicy).toBeDefined();
    for (const action of ['ssmmessages:CreateDataChannel', 'ssmmessages:OpenControlChannel', 'ssmmessages:OpenDataChannel', 'logs:PutLogEvents']) {
      expect(taskPolicy).toContain(action);
    }
  });

  test('log groups have a retention', () => {
    for (const app of allApps) {
      for (const [, lg] of resourcesOf(template(app), 'AWS::Logs::LogGroup')) {
        expect(lg.Properties.RetentionInDays).toBe(app.config.appLogRetentionDays);
      }
    }
  });

  test('stable outputs with export names', () => {
    const tpl = template(prod.apps[0]);
    for (const name of [
      'ClusterName',
      'ServiceName',
      'ServiceTaskDefinitionArn',
      'MigrationTaskDefinitionArn',
      'MigrationTaskFamily',
      'RepositoryUri',
      'LoadBalancerDnsName',
      'ServiceLogGroupName',
      'MigrationLogGroupName',
      'AppSecretArn',
      'SuperuserSecretArn',
      'TargetGroupArn',
    ]) {
      tpl.hasOutput(`Swa${name}`, { Export: { Name: `swa-prod-swa-${name}` } });
    }
    template(prod.frontends[0]).hasOutput('SwaDistributionId', { Export: { Name: 'swa-prod-swa-DistributionId' } });
    template(prod.frontends[0]).hasOutput('SwaFrontendBucketName', { Export: { Name: 'swa-prod-swa-FrontendBucketName' } });
    template(prod.data).hasOutput('SwaDatabaseSecretArn', { Export: { Name: 'swa-prod-swa-DatabaseSecretArn' } });
    template(prod.data).hasOutput('DataMasterSecretArn', { Export: { Name: 'swa-prod-data-MasterSecretArn' } });
    template(prod.network).hasOutput('NetworkPrivateSubnetIds', { Export: { Name: 'swa-prod-network-PrivateSubnetIds' } });
  });
});

describe('frontend', () => {
  test('private bucket read by CloudFront through Origin Access Control', () => {
    for (const fe of t.environments.flatMap((e) => e.frontends)) {
      const tpl = template(fe);
      tpl.hasResourceProperties('AWS::S3::Bucket', {
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        VersioningConfiguration: { Status: 'Enabled' },
      });
      tpl.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
        OriginAccessControlConfig: { OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' },
      });
      tpl.hasResourceProperties('AWS::CloudFront::Distribution', {
        DistributionConfig: Match.objectLike({
          Origins: [Match.objectLike({ OriginAccessControlId: Match.anyValue(), S3OriginConfig: { OriginAccessIdentity: '' } })],
        }),
      });
      // Bucket policy: only the CloudFront service principal, only for this distribution.
      tpl.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'cloudfront.amazonaws.com' },
              Action: Match.arrayWith(['s3:GetObject']),
              Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } },
            }),
          ]),
        },
      });
    }
  });

  test('TLS 1.2 minimum, 404 -> /error.html, directory-index function, HTML uncached and assets cached', () => {
    const tpl = template(prod.frontends[0]);
    tpl.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: [prod.config.tenants[0].webDomain],
        ViewerCertificate: Match.objectLike({ MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' }),
        CustomErrorResponses: [{ ErrorCode: 404, ResponseCode: 404, ResponsePagePath: '/error.html', ErrorCachingMinTTL: 60 }],
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad', // CachingDisabled
          ViewerProtocolPolicy: 'redirect-to-https',
          FunctionAssociations: [Match.objectLike({ EventType: 'viewer-request' })],
        }),
        CacheBehaviors: Match.arrayWith([
          Match.objectLike({ PathPattern: '/js/*', CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6' }), // CachingOptimized
        ]),
      }),
    });
    tpl.hasResourceProperties('AWS::CloudFront::Function', { FunctionConfig: Match.objectLike({ Runtime: 'cloudfront-js-2.0' }), AutoPublish: true });
  });
});

describe('monitoring', () => {
  test('mail failure metric filters use the quoted terms (allTerms), one pair per tenant', () => {
    for (const env of t.environments) {
      const tpl = template(env.monitoring);
      const filters = resourcesOf(tpl, 'AWS::Logs::MetricFilter');
      expect(filters.length).toBe(2 * env.config.tenants.length);
      const patterns = filters.map(([, f]) => f.Properties.FilterPattern).sort();
      expect(new Set(patterns)).toEqual(new Set(['"[EMAIL_FAILURE]"', '"[ORDER_EMAIL_FAILURE]"']));
      for (const [, f] of filters) {
        expect(f.Properties.MetricTransformations[0]).toMatchObject({ MetricValue: '1', DefaultValue: 0 });
      }
    }
  });

  test('alarms on ALB 5xx, unhealthy hosts, ECS CPU/memory, RDS CPU/connections/storage/memory, all wired to SNS', () => {
    const tpl = template(prod.monitoring);
    const alarms = resourcesOf(tpl, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const metricNames = alarms.map((a: any) => a.MetricName);
    for (const m of ['HTTPCode_Target_5XX_Count', 'HTTPCode_ELB_5XX_Count', 'UnHealthyHostCount', 'CPUUtilization', 'MemoryUtilization', 'DatabaseConnections', 'FreeStorageSpace', 'FreeableMemory']) {
      expect(metricNames).toContain(m);
    }
    expect(alarms.filter((a: any) => a.Namespace === 'AWS/RDS').length).toBe(4);
    for (const a of alarms) {
      expect(a.AlarmActions).toHaveLength(1);
      expect(a.OKActions).toHaveLength(1);
      expect(a.TreatMissingData).toBe('notBreaching');
    }
    // Ops topic + one topic per tenant, each with its email subscription.
    tpl.resourceCountIs('AWS::SNS::Topic', 1 + prod.config.tenants.length);
    tpl.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: prod.config.opsAlertEmail });
    for (const tenant of prod.config.tenants) {
      tpl.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: tenant.alertEmail });
    }
    tpl.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  });

  test('dashboard metrics are scoped to the instance', () => {
    const body = JSON.stringify(template(prod.monitoring).findResources('AWS::CloudWatch::Dashboard'));
    expect(body).toContain('DBInstanceIdentifier');
  });
});

describe('email and CI access', () => {
  test('SES domain identity with Easy DKIM', () => {
    template(prod.email).hasResourceProperties('AWS::SES::EmailIdentity', {
      EmailIdentity: prod.config.email.identityDomains[0],
      DkimAttributes: { SigningEnabled: true },
      DkimSigningAttributes: { NextSigningKeyLength: 'RSA_2048_BIT' },
    });
  });

  test('GitHub OIDC provider and a deploy role trusted only for the configured repository and branch', () => {
    for (const env of t.environments) {
      const tpl = template(env.ci);
      tpl.hasResourceProperties('AWS::IAM::OIDCProvider', { Url: 'https://token.actions.githubusercontent.com', ClientIdList: ['sts.amazonaws.com'] });
      const ci = env.config.ci;
      tpl.hasResourceProperties('AWS::IAM::Role', {
        MaxSessionDuration: 3600,
        AssumeRolePolicyDocument: {
          Statement: [
            {
              Action: 'sts:AssumeRoleWithWebIdentity',
              Effect: 'Allow',
              Principal: { Federated: { Ref: Match.anyValue() } },
              Condition: {
                StringEquals: {
                  'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com',
                  'token.actions.githubusercontent.com:sub': ciTokenSubject(ci),
                },
              },
            },
          ],
        },
      });
      // No long-lived keys anywhere in the app.
      for (const stack of [env.network, env.data, env.email, env.ci, env.monitoring, ...env.apps, ...env.frontends]) {
        template(stack).resourceCountIs('AWS::IAM::AccessKey', 0);
        template(stack).resourceCountIs('AWS::IAM::User', 0);
      }
    }
  });

  test('the production role trusts only jobs of the production GitHub environment; staging trusts its branch', () => {
    expect(ciTokenSubject(prod.config.ci)).toBe(`repo:${prod.config.ci.githubOwner}/${prod.config.ci.githubRepo}:environment:production`);
    expect(ciTokenSubject(staging.config.ci)).toBe(`repo:${staging.config.ci.githubOwner}/${staging.config.ci.githubRepo}:ref:refs/heads/staging`);
    const trust = JSON.stringify(resourcesOf(template(prod.ci), 'AWS::IAM::Role')[0][1].Properties.AssumeRolePolicyDocument);
    expect(trust).toContain(':environment:production"');
    expect(trust).not.toContain('refs/heads');
    // The only unscoped grants: ECR login and listing stacks (xtask --all).
    const [[, policy]] = resourcesOf(template(prod.ci), 'AWS::IAM::Policy');
    const unscoped = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Resource === '*').flatMap((s: any) => [s.Action].flat());
    expect(unscoped.sort()).toEqual(['cloudformation:ListStacks', 'ecr:GetAuthorizationToken']);
  });

  test('deploy role: deployment records only under the tenant path in SSM', () => {
    for (const app of allApps) {
      const [[, policy]] = resourcesOf(template(app), 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CiDeployPolicy'));
      const records = policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'DeploymentRecords');
      expect(records.Action.sort()).toEqual(['ssm:GetParameter', 'ssm:GetParametersByPath', 'ssm:PutParameter']);
      const path = deploymentRecordsPath(app.config.prefix, app.tenant.name);
      const resources = JSON.stringify(records.Resource);
      expect(resources).toContain(`:parameter/${path}"`);
      expect(resources).toContain(`:parameter/${path}/*"`);
      expect(records.Resource).toHaveLength(2);
      // No other statement touches SSM.
      const others = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Sid !== 'DeploymentRecords');
      expect(JSON.stringify(others)).not.toContain('ssm:');
    }
  });

  test('deploy role: rolls only its own service and passes only its own task roles', () => {
    const tpl = template(prod.apps[0]);
    const [[, policy]] = resourcesOf(tpl, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CiDeployPolicy'));
    const bySid = Object.fromEntries(policy.Properties.PolicyDocument.Statement.map((s: any) => [s.Sid, s]));
    expect(bySid.RollService.Action.sort()).toEqual(['ecs:DescribeServices', 'ecs:UpdateService']);
    const [[serviceId]] = resourcesOf(tpl, 'AWS::ECS::Service');
    expect(bySid.RollService.Resource).toEqual({ Ref: serviceId });
    // The four roles of the web and migration tasks, nothing else.
    expect(bySid.PassTaskRoles.Resource).toHaveLength(4);
    for (const r of bySid.PassTaskRoles.Resource) expect(r['Fn::GetAtt'][0]).toMatch(/^(ServiceTask|MigrationTask)(TaskRole|ExecutionRole)/);
    // Wildcard resources only for actions AWS offers no resource-level permissions for.
    const starActions = policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Resource === '*').flatMap((s: any) => [s.Action].flat());
    expect(starActions.sort()).toEqual(['ecs:DescribeTaskDefinition', 'ecs:ListTasks', 'ecs:RegisterTaskDefinition', 'elasticloadbalancing:DescribeTargetHealth']);
    expect(bySid.ListClusterTasks.Condition.ArnEquals['ecs:cluster']).toBeDefined();
    expect(bySid.TagRegisteredTaskDefinitions.Condition).toEqual({ StringEquals: { 'ecs:CreateAction': 'RegisterTaskDefinition' } });
  });

  test('tenant deploy permissions are scoped to the tenant resources', () => {
    const tpl = template(prod.apps[0]);
    const [[, policy]] = resourcesOf(tpl, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('CiDeployPolicy'));
    const statements = policy.Properties.PolicyDocument.Statement;
    const unscoped = new Set(['RegisterTaskDefinitions', 'ListClusterTasks', 'ReadTargetHealth']);
    for (const s of statements) if (!unscoped.has(s.Sid)) expect(s.Resource).not.toBe('*');
    expect(statements.find((s: any) => s.Sid === 'RunMigrationTask').Condition.ArnEquals['ecs:cluster']).toBeDefined();
    expect(statements.find((s: any) => s.Sid === 'PassTaskRoles').Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } });
  });

  test('every stack refuses to deploy into an account other than the configured one', () => {
    for (const env of t.environments) {
      for (const stack of [env.network, env.data, env.ci, ...env.apps]) {
        const rule = template(stack).toJSON().Rules.AccountGuard;
        expect(rule.Assertions[0].Assert).toEqual({ 'Fn::Equals': [{ Ref: 'AWS::AccountId' }, env.config.account] });
      }
    }
  });
});
