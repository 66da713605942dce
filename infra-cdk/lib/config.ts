/**
 * The single typed configuration of the infrastructure.
 *
 * Every account id, domain, email address and size lives in this file; stack
 * code only reads it. The values below are PLACEHOLDERS (example.com, the
 * documentation account ids 111111111111 / 222222222222): replace them before
 * the first deploy. Each stack carries a CloudFormation rule that refuses to
 * deploy into any other account than the one named here, so a forgotten
 * placeholder fails fast instead of creating resources in the wrong place.
 *
 * Adding a tenant = adding one entry to `tenants` of an environment (see
 * docs/infrastructure.md, "Adding a tenant").
 */

/** Names of the environments this app knows. */
export type EnvironmentName = 'production' | 'staging';

export interface TenantConfig {
  /** Short id used in stack names, resource names and export names: [a-z][a-z0-9]{1,15}. */
  readonly name: string;
  /** Host name of the API (ALB). A DNS CNAME to the ALB is created by hand (DNS is not in Route 53). */
  readonly apiDomain: string;
  /** Host name of the storefront (CloudFront). */
  readonly webDomain: string;
  /** Cookie domain the service sets, e.g. ".example.com" so the storefront and the API share cookies. */
  readonly cookieDomain: string;
  /** Extra browser origins allowed to call the API besides https://<webDomain>. */
  readonly extraStorefrontOrigins?: string[];
  /**
   * Existing ACM certificate for the API host (same region as the stacks).
   * When omitted, the app stack requests one with DNS validation; the deploy
   * then waits until the validation CNAME has been added at the DNS provider.
   */
  readonly apiCertificateArn?: string;
  /**
   * Existing ACM certificate for the storefront host. CloudFront only accepts
   * certificates from us-east-1, so this is required when the environment's
   * region is not us-east-1. When omitted, the frontend stack requests one.
   */
  readonly webCertificateArn?: string;
  /** PostgreSQL objects created for the tenant on the shared instance. */
  readonly database: {
    /** Database name: [a-z][a-z0-9_]{0,62}. */
    readonly name: string;
    /** Login role that owns the database: [a-z][a-z0-9_]{0,62}, not "postgres" or an rds_* name. */
    readonly username: string;
  };
  /** Alarm notifications for this tenant (SNS email subscription, must be confirmed once). */
  readonly alertEmail: string;
  /** "From" address of the tenant's mails; its domain must be one of the environment's SES identities. */
  readonly mailFrom: string;
  /** Service task count limits for auto-scaling (CPU 70 %, memory 80 %). */
  readonly scaling: {
    readonly minTasks: number;
    readonly maxTasks: number;
  };
  /** Fargate size of the web task. */
  readonly serviceTask: {
    readonly cpu: number;
    readonly memoryMiB: number;
  };
  /** Fargate size of the one-off migration/admin task. */
  readonly migrationTask: {
    readonly cpu: number;
    readonly memoryMiB: number;
  };
}

export interface EnvironmentConfig {
  readonly name: EnvironmentName;
  /** Prefix of stack names, export names and physical names, e.g. "swa-prod". */
  readonly prefix: string;
  /** Account the stacks may be deployed to (enforced by a template rule, not used at synth). */
  readonly account: string;
  /** Region of all stacks. */
  readonly region: string;
  /** Tags put on every resource (Environment and Application are added automatically). */
  readonly tags?: Record<string, string>;
  readonly network: {
    readonly cidr: string;
    /** NAT gateways: 1 is cheapest (one AZ carries egress), 2 survives the loss of an AZ. */
    readonly natGateways: number;
    /** Retention of VPC flow logs. */
    readonly flowLogRetentionDays: number;
  };
  readonly database: {
    /** Full PostgreSQL 16 version, pinned so CloudFormation never sees an unplanned upgrade. */
    readonly engineVersion: string;
    /** e.g. "t4g.small" (burstable Graviton). */
    readonly instanceType: string;
    readonly allocatedStorageGiB: number;
    readonly maxAllocatedStorageGiB: number;
    readonly multiAz: boolean;
    readonly backupRetentionDays: number;
    /** Protects the instance from deletion (CloudFormation and console). */
    readonly deletionProtection: boolean;
    /** Free tier of Performance Insights is 7 days. */
    readonly performanceInsightsRetentionDays: number;
    /** Retention of the exported PostgreSQL logs. */
    readonly logRetentionDays: number;
    /** Alarm thresholds; sized to the instance class (t4g.small: 2 GiB RAM, ~200 connections). */
    readonly alarms: {
      readonly maxConnections: number;
      readonly minFreeableMemoryMiB: number;
      readonly minFreeStorageGiB: number;
    };
  };
  /** Retention of the ECS service/migration log groups. */
  readonly appLogRetentionDays: number;
  /** Alarms of shared resources (database, NAT) go to this address. */
  readonly opsAlertEmail: string;
  readonly email: {
    /** Domains verified in SES (Easy DKIM) by the email stack. */
    readonly identityDomains: string[];
    /** SMTP relay the service uses; credentials are stored per tenant in its app secret. */
    readonly smtpHost: string;
    readonly smtpPort: number;
  };
  readonly ci: {
    /** GitHub repository allowed to assume the deploy role. */
    readonly githubOwner: string;
    readonly githubRepo: string;
    /** Only workflows running on this branch get credentials (token `sub` claim). */
    readonly githubBranch: string;
    /**
     * When set, only jobs that run in this GitHub environment get credentials:
     * a job with `environment:` receives the token subject
     * `repo:<owner>/<repo>:environment:<name>` instead of the branch subject.
     * The environment's deployment-branch rule must then allow `githubBranch` only.
     */
    readonly githubEnvironment?: string;
    /**
     * An account has at most one provider for token.actions.githubusercontent.com.
     * Set false when another stack or a person already created it; it is then imported.
     */
    readonly createOidcProvider: boolean;
    /** Qualifier of the CDK bootstrap stack whose roles the deploy role may assume (`cdk deploy`). */
    readonly cdkBootstrapQualifier: string;
  };
  readonly tenants: TenantConfig[];
}

const PRODUCTION: EnvironmentConfig = {
  name: 'production',
  prefix: 'swa-prod',
  account: '111111111111',
  region: 'us-east-1',
  network: {
    cidr: '10.0.0.0/16',
    natGateways: 1,
    flowLogRetentionDays: 30,
  },
  database: {
    engineVersion: '16.9',
    instanceType: 't4g.small',
    allocatedStorageGiB: 20,
    maxAllocatedStorageGiB: 100,
    multiAz: true,
    backupRetentionDays: 7,
    deletionProtection: true,
    performanceInsightsRetentionDays: 7,
    logRetentionDays: 30,
    alarms: { maxConnections: 150, minFreeableMemoryMiB: 256, minFreeStorageGiB: 2 },
  },
  appLogRetentionDays: 30,
  opsAlertEmail: 'ops@example.com',
  email: {
    identityDomains: ['example.com'],
    smtpHost: 'email-smtp.us-east-1.amazonaws.com',
    smtpPort: 587,
  },
  ci: {
    githubOwner: 'example-org',
    githubRepo: 'startupwebapp-rs',
    githubBranch: 'main',
    githubEnvironment: 'production',
    createOidcProvider: true,
    cdkBootstrapQualifier: 'hnb659fds',
  },
  tenants: [
    {
      name: 'swa',
      apiDomain: 'startupwebapp-api.example.com',
      webDomain: 'startupwebapp.example.com',
      cookieDomain: '.example.com',
      database: { name: 'startupwebapp_prod', username: 'swa_app' },
      alertEmail: 'alerts-swa@example.com',
      mailFrom: 'orders@example.com',
      scaling: { minTasks: 2, maxTasks: 4 },
      serviceTask: { cpu: 512, memoryMiB: 1024 },
      migrationTask: { cpu: 256, memoryMiB: 512 },
    },
    {
      name: 'healthtech',
      apiDomain: 'healthtech-api.example.com',
      webDomain: 'healthtech.example.com',
      cookieDomain: '.example.com',
      database: { name: 'healthtech_prod', username: 'healthtech_app' },
      alertEmail: 'alerts-healthtech@example.com',
      mailFrom: 'orders-healthtech@example.com',
      scaling: { minTasks: 1, maxTasks: 2 },
      serviceTask: { cpu: 256, memoryMiB: 512 },
      migrationTask: { cpu: 256, memoryMiB: 512 },
    },
  ],
};

const STAGING: EnvironmentConfig = {
  name: 'staging',
  prefix: 'swa-stg',
  account: '222222222222',
  region: 'us-east-1',
  network: {
    cidr: '10.1.0.0/16',
    natGateways: 1,
    flowLogRetentionDays: 7,
  },
  database: {
    engineVersion: '16.9',
    instanceType: 't4g.micro',
    allocatedStorageGiB: 20,
    maxAllocatedStorageGiB: 50,
    multiAz: false,
    backupRetentionDays: 3,
    deletionProtection: true,
    performanceInsightsRetentionDays: 7,
    logRetentionDays: 7,
    alarms: { maxConnections: 60, minFreeableMemoryMiB: 128, minFreeStorageGiB: 2 },
  },
  appLogRetentionDays: 7,
  opsAlertEmail: 'ops@example.com',
  email: {
    identityDomains: ['staging.example.com'],
    smtpHost: 'email-smtp.us-east-1.amazonaws.com',
    smtpPort: 587,
  },
  ci: {
    githubOwner: 'example-org',
    githubRepo: 'startupwebapp-rs',
    githubBranch: 'staging',
    createOidcProvider: true,
    cdkBootstrapQualifier: 'hnb659fds',
  },
  tenants: [
    {
      name: 'swa',
      apiDomain: 'startupwebapp-api.staging.example.com',
      webDomain: 'startupwebapp.staging.example.com',
      cookieDomain: '.staging.example.com',
      database: { name: 'startupwebapp_staging', username: 'swa_app' },
      alertEmail: 'alerts-swa@example.com',
      mailFrom: 'orders@staging.example.com',
      scaling: { minTasks: 1, maxTasks: 2 },
      serviceTask: { cpu: 256, memoryMiB: 512 },
      migrationTask: { cpu: 256, memoryMiB: 512 },
    },
  ],
};

/** All environments, in the order they are synthesized. */
export const ENVIRONMENTS: readonly EnvironmentConfig[] = [PRODUCTION, STAGING];

const TENANT_NAME = /^[a-z][a-z0-9]{1,15}$/;
/** Scope names of the shared stacks in output/export names; a tenant may not use them. */
const RESERVED_TENANT_NAMES = new Set(['network', 'data', 'email', 'ci', 'monitoring']);
const PG_IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;
const RESERVED_ROLES = new Set(['postgres', 'public', 'rdsadmin', 'rds_superuser', 'rdsrepladmin']);
const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const EMAIL = /^[^@\s]+@([a-z0-9.-]+)$/;
const FARGATE_SIZES: Record<number, number[]> = {
  256: [512, 1024, 2048],
  512: [1024, 2048, 3072, 4096],
  1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
  2048: [4096, 5120, 6144, 7168, 8192, 9216, 10240, 11264, 12288, 13312, 14336, 15360, 16384],
};

/**
 * Checks the rules that CloudFormation would only report half-way through a
 * deploy (or never): name formats, uniqueness, Fargate sizes, certificate
 * placement. Returns the list of problems (empty when valid).
 */
export function validateEnvironment(env: EnvironmentConfig): string[] {
  const errors: string[] = [];
  const where = (t: TenantConfig) => `${env.name}/${t.name}`;
  if (!/^[a-z][a-z0-9-]{1,14}$/.test(env.prefix)) errors.push(`${env.name}: prefix must match [a-z][a-z0-9-]{1,14}`);
  if (!/^\d{12}$/.test(env.account)) errors.push(`${env.name}: account must be 12 digits`);
  if (!/^16\.\d+$/.test(env.database.engineVersion)) errors.push(`${env.name}: database.engineVersion must be a pinned 16.x version`);
  if (env.tenants.length === 0) errors.push(`${env.name}: at least one tenant is required`);
  for (const d of env.email.identityDomains) {
    if (!DOMAIN.test(d)) errors.push(`${env.name}: email identity domain ${d} is not a domain name`);
  }
  const seen = { name: new Set<string>(), db: new Set<string>(), user: new Set<string>(), host: new Set<string>() };
  for (const t of env.tenants) {
    if (!TENANT_NAME.test(t.name)) errors.push(`${where(t)}: tenant name must match ${TENANT_NAME}`);
    if (RESERVED_TENANT_NAMES.has(t.name)) errors.push(`${where(t)}: tenant name ${t.name} is reserved for a shared stack`);
    if (seen.name.has(t.name)) errors.push(`${where(t)}: duplicate tenant name`);
    seen.name.add(t.name);
    for (const [label, value] of [['database.name', t.database.name], ['database.username', t.database.username]]) {
      if (!PG_IDENTIFIER.test(value) || RESERVED_ROLES.has(value) || value.startsWith('rds') || value.startsWith('pg_')) {
        errors.push(`${where(t)}: ${label} "${value}" is not an allowed PostgreSQL identifier`);
      }
    }
    if (seen.db.has(t.database.name)) errors.push(`${where(t)}: database ${t.database.name} is used by two tenants`);
    if (seen.user.has(t.database.username)) errors.push(`${where(t)}: role ${t.database.username} is used by two tenants`);
    seen.db.add(t.database.name);
    seen.user.add(t.database.username);
    for (const host of [t.apiDomain, t.webDomain]) {
      if (!DOMAIN.test(host)) errors.push(`${where(t)}: ${host} is not a host name`);
      if (seen.host.has(host)) errors.push(`${where(t)}: host ${host} is used twice`);
      seen.host.add(host);
    }
    if (!t.cookieDomain.startsWith('.') || !t.apiDomain.endsWith(t.cookieDomain) || !t.webDomain.endsWith(t.cookieDomain)) {
      errors.push(`${where(t)}: cookieDomain must start with "." and be a suffix of apiDomain and webDomain`);
    }
    for (const o of t.extraStorefrontOrigins ?? []) {
      if (!/^https:\/\/[a-z0-9.-]+(:\d+)?$/.test(o)) errors.push(`${where(t)}: storefront origin ${o} must be https://host`);
    }
    const alert = EMAIL.exec(t.alertEmail);
    if (!alert) errors.push(`${where(t)}: alertEmail is not an email address`);
    const from = EMAIL.exec(t.mailFrom);
    if (!from) {
      errors.push(`${where(t)}: mailFrom is not an email address`);
    } else if (!env.email.identityDomains.some((d) => from[1] === d || from[1].endsWith(`.${d}`))) {
      errors.push(`${where(t)}: mailFrom domain ${from[1]} is not under an SES identity domain of ${env.name}`);
    }
    if (t.scaling.minTasks < 1 || t.scaling.maxTasks < t.scaling.minTasks) {
      errors.push(`${where(t)}: scaling needs 1 <= minTasks <= maxTasks`);
    }
    for (const [label, size] of [['serviceTask', t.serviceTask], ['migrationTask', t.migrationTask]] as const) {
      if (!(FARGATE_SIZES[size.cpu] ?? []).includes(size.memoryMiB)) {
        errors.push(`${where(t)}: ${label} ${size.cpu} CPU / ${size.memoryMiB} MiB is not a Fargate size`);
      }
    }
    if (env.region !== 'us-east-1' && !t.webCertificateArn) {
      errors.push(`${where(t)}: webCertificateArn (a us-east-1 certificate) is required when the region is not us-east-1`);
    }
    if (t.webCertificateArn && !t.webCertificateArn.startsWith('arn:aws:acm:us-east-1:')) {
      errors.push(`${where(t)}: webCertificateArn must be an ACM certificate in us-east-1 (CloudFront requirement)`);
    }
  }
  return errors;
}

/**
 * Returns the environments selected by the `environments` context value
 * (comma-separated names; all environments when absent), validated.
 */
export function selectEnvironments(selection?: string): EnvironmentConfig[] {
  const wanted = selection ? selection.split(',').map((s) => s.trim()).filter(Boolean) : ENVIRONMENTS.map((e) => e.name);
  const result: EnvironmentConfig[] = [];
  for (const name of wanted) {
    const env = ENVIRONMENTS.find((e) => e.name === name);
    if (!env) throw new Error(`Unknown environment "${name}"; known: ${ENVIRONMENTS.map((e) => e.name).join(', ')}`);
    const errors = validateEnvironment(env);
    if (errors.length > 0) throw new Error(`Invalid configuration:\n  ${errors.join('\n  ')}`);
    result.push(env);
  }
  return result;
}
