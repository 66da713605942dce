import * as fs from 'node:fs';
import * as path from 'node:path';
// The Lambda code is plain CommonJS without dependencies (lambda/tenant-db).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { databaseUrl, ensureTenant, ident, literal } = require('../lambda/tenant-db/tenant');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Client, scramVerifier } = require('../lambda/tenant-db/pg');

/** In-memory Secrets Manager for the handler (the real SDK ships with the Lambda runtime only). */
const secretStore = new Map<string, string>();
const puts: string[] = [];
jest.mock(
  '@aws-sdk/client-secrets-manager',
  () => ({
    SecretsManagerClient: class {
      async send(cmd: { kind: string; input: { SecretId: string; SecretString?: string } }) {
        if (cmd.kind === 'get') return { SecretString: secretStore.get(cmd.input.SecretId) };
        puts.push(cmd.input.SecretId);
        secretStore.set(cmd.input.SecretId, cmd.input.SecretString!);
        return {};
      }
    },
    GetSecretValueCommand: class {
      kind = 'get';
      constructor(readonly input: unknown) {}
    },
    PutSecretValueCommand: class {
      kind = 'put';
      constructor(readonly input: unknown) {}
    },
  }),
  { virtual: true },
);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { handler } = require('../lambda/tenant-db/index');

/** A stand-in for the PostgreSQL client that answers catalog queries from a tiny in-memory state. */
class FakeDb {
  readonly sql: string[] = [];
  constructor(private readonly state: { roles: Set<string>; databases: Set<string>; members: Set<string> }) {}
  async query(sql: string): Promise<string[][]> {
    this.sql.push(sql);
    let m: RegExpMatchArray | null;
    if ((m = sql.match(/FROM pg_roles WHERE rolname = '([^']+)'/))) return this.state.roles.has(m[1]) ? [['1']] : [];
    if ((m = sql.match(/WHERE r.rolname = '([^']+)' AND u.rolname = current_user/))) return this.state.members.has(m[1]) ? [['1']] : [];
    if ((m = sql.match(/FROM pg_database WHERE datname = '([^']+)'/))) return this.state.databases.has(m[1]) ? [['1']] : [];
    if ((m = sql.match(/^CREATE ROLE "([^"]+)"/))) this.state.roles.add(m[1]);
    if ((m = sql.match(/^GRANT "([^"]+)" TO CURRENT_USER/))) this.state.members.add(m[1]);
    if ((m = sql.match(/^CREATE DATABASE "([^"]+)"/))) this.state.databases.add(m[1]);
    return [];
  }
}

const tenant = { username: 'acme_app', password: 'Pa55wordPa55wordPa55word', database: 'acme_prod' };

describe('tenant database bootstrap (Lambda logic)', () => {
  test('first run creates role, membership and database; a second run converges without errors', async () => {
    const state = { roles: new Set<string>(), databases: new Set<string>(), members: new Set<string>() };
    const first = new FakeDb(state);
    expect(await ensureTenant(first, tenant)).toEqual([
      'role acme_app created',
      'master granted membership',
      'database acme_prod created',
      'connect restricted to the owner',
    ]);
    expect(first.sql).toContain(`CREATE DATABASE "acme_prod" OWNER "acme_app" ENCODING 'UTF8' TEMPLATE template0`);
    expect(first.sql).toContain('REVOKE ALL ON DATABASE "acme_prod" FROM PUBLIC');

    const second = new FakeDb(state);
    expect(await ensureTenant(second, tenant)).toEqual([
      'role acme_app updated',
      'database acme_prod already present, owner checked',
      'connect restricted to the owner',
    ]);
    expect(second.sql.some((s) => s.startsWith('CREATE'))).toBe(false);
  });

  test('the password is sent only as a SCRAM verifier', async () => {
    const db = new FakeDb({ roles: new Set(), databases: new Set(), members: new Set() });
    await ensureTenant(db, tenant);
    expect(db.sql.join('\n')).not.toContain(tenant.password);
    expect(db.sql.find((s) => s.startsWith('CREATE ROLE'))).toMatch(/PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+'$/);
  });

  test('identifiers and literals are validated and quoted', () => {
    expect(ident('acme_prod')).toBe('"acme_prod"');
    for (const bad of ['postgres', 'rds_superuser', 'pg_read_all_data', 'Acme', 'a"b', 'a;drop', '']) expect(() => ident(bad)).toThrow();
    expect(literal("it's")).toBe("'it''s'");
  });

  test('DATABASE_URL requires TLS and encodes the credentials', () => {
    expect(databaseUrl({ username: 'acme_app', password: 'a/b@c', host: 'db.example', port: '5432', dbname: 'acme_prod' })).toBe(
      'postgres://acme_app:a%2Fb%40c@db.example:5432/acme_prod?sslmode=require',
    );
  });

  test('SCRAM verifier matches the RFC 7677 derivation', () => {
    const v = scramVerifier('pencil', 4096, Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'));
    // StoredKey/ServerKey for password "pencil" and the RFC 7677 salt.
    expect(v).toBe('SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=');
  });

  test('Delete keeps role and database and touches nothing', async () => {
    const out = await handler({ RequestType: 'Delete', PhysicalResourceId: 'tenant-db:acme_prod', ResourceProperties: { DatabaseName: 'acme_prod' } });
    expect(out).toEqual({ PhysicalResourceId: 'tenant-db:acme_prod' });
    expect(puts).toEqual([]);
  });

  test('the asset contains only the handler files', () => {
    expect(fs.readdirSync(path.join(__dirname, '..', 'lambda', 'tenant-db')).sort()).toEqual(['index.js', 'pg.js', 'tenant.js']);
  });
});

/**
 * Against a real server when one is given, e.g.
 *   SWA_TEST_PG='{"host":"localhost","port":55432,"user":"master","password":"...","caFile":"/path/server.crt"}' npm test
 * (a non-superuser with CREATEROLE and CREATEDB, like the RDS master user).
 */
const live = process.env.SWA_TEST_PG ? JSON.parse(process.env.SWA_TEST_PG) : undefined;
(live ? describe : describe.skip)('tenant database bootstrap against PostgreSQL', () => {
  test('creates a tenant that can log in with TLS and SCRAM, twice in a row', async () => {
    const ca = live.caFile ? fs.readFileSync(live.caFile) : undefined;
    const name = `t${Date.now().toString(36)}`;
    const t = { username: `${name}_app`, password: 'LiveTestPassword1234567890', database: `${name}_db` };
    for (let i = 0; i < 2; i++) {
      const db = new Client({ ...live, ca });
      await db.connect();
      try {
        await ensureTenant(db, t);
      } finally {
        await db.end();
      }
    }
    const asTenant = new Client({ host: live.host, port: live.port, user: t.username, password: t.password, database: t.database, ca });
    await asTenant.connect();
    expect(await asTenant.query('SELECT current_database(), current_user')).toEqual([[t.database, t.username]]);
    await asTenant.end();
  });

  test('the handler creates the tenant and stores DATABASE_URL once', async () => {
    process.env.RDS_CA_BUNDLE = live.caFile ?? '/nonexistent';
    const name = `h${Date.now().toString(36)}`;
    secretStore.set('master', JSON.stringify({ host: live.host, port: live.port, username: live.user, password: live.password }));
    secretStore.set('tenant', JSON.stringify({ engine: 'postgres', host: live.host, port: String(live.port), username: `${name}_app`, dbname: `${name}_db`, password: 'HandlerTestPassword123456', url: '' }));
    const event = {
      RequestType: 'Create',
      ResourceProperties: { MasterSecretArn: 'master', TenantSecretArn: 'tenant', DatabaseName: `${name}_db`, Username: `${name}_app` },
    };
    puts.length = 0;
    expect(await handler(event)).toEqual({ PhysicalResourceId: `tenant-db:${name}_db`, Data: { DatabaseName: `${name}_db`, Username: `${name}_app` } });
    expect(JSON.parse(secretStore.get('tenant')!).url).toBe(`postgres://${name}_app:HandlerTestPassword123456@${live.host}:${live.port}/${name}_db?sslmode=require`);
    await handler({ ...event, RequestType: 'Update', PhysicalResourceId: `tenant-db:${name}_db` });
    expect(puts).toEqual(['tenant']);
  });
});
