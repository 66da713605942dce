import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AppStack } from './app-stack';
import { CiStack } from './ci-stack';
import { EnvironmentConfig } from './config';
import { DataStack } from './data-stack';
import { EmailStack } from './email-stack';
import { FrontendStack } from './frontend-stack';
import { MonitoringStack } from './monitoring-stack';
import { NetworkStack } from './network-stack';

/** The stacks of one environment, for tests and for the entry point. */
export interface EnvironmentStacks {
  readonly config: EnvironmentConfig;
  readonly network: NetworkStack;
  readonly data: DataStack;
  readonly email: EmailStack;
  readonly ci: CiStack;
  readonly apps: AppStack[];
  readonly frontends: FrontendStack[];
  readonly monitoring: MonitoringStack;
}

/** Stack name: <prefix>-<part>, e.g. swa-prod-network or swa-prod-swa-app. */
export function stackName(config: EnvironmentConfig, ...parts: string[]): string {
  return [config.prefix, ...parts].join('-');
}

/**
 * Adds all stacks of one environment to the app. Deploy order follows the
 * dependencies: network, data, email, ci -> per tenant frontend, app -> monitoring.
 */
export function addEnvironment(app: App, config: EnvironmentConfig): EnvironmentStacks {
  const base = { config };
  const network = new NetworkStack(app, stackName(config, 'network'), { ...base, description: `StartUpWebApp ${config.name}: VPC, NAT and security groups` });
  const data = new DataStack(app, stackName(config, 'data'), { ...base, network, description: `StartUpWebApp ${config.name}: shared PostgreSQL and tenant databases` });
  const email = new EmailStack(app, stackName(config, 'email'), { ...base, description: `StartUpWebApp ${config.name}: SES identities` });
  const ci = new CiStack(app, stackName(config, 'ci'), { ...base, description: `StartUpWebApp ${config.name}: GitHub OIDC deploy role` });

  const apps: AppStack[] = [];
  const frontends: FrontendStack[] = [];
  for (const tenant of config.tenants) {
    const frontend = new FrontendStack(app, stackName(config, tenant.name, 'frontend'), {
      ...base,
      tenant,
      deployRole: ci.deployRole,
      description: `StartUpWebApp ${config.name}: storefront of tenant ${tenant.name}`,
    });
    const appStack = new AppStack(app, stackName(config, tenant.name, 'app'), {
      ...base,
      tenant,
      network,
      database: data.tenantDatabases.get(tenant.name)!,
      deployRole: ci.deployRole,
      description: `StartUpWebApp ${config.name}: service of tenant ${tenant.name}`,
    });
    // Mail is sent from the tenant's SES identity.
    appStack.addStackDependency(email);
    frontends.push(frontend);
    apps.push(appStack);
  }
  const monitoring = new MonitoringStack(app, stackName(config, 'monitoring'), {
    ...base,
    data,
    apps,
    description: `StartUpWebApp ${config.name}: alarms and dashboard`,
  });
  return { config, network, data, email, ci, apps, frontends, monitoring };
}

/** Attaches the cdk-nag AwsSolutions pack to the whole app; unacknowledged findings fail synthesis. */
export function addNagChecks(app: App): void {
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
}
