'use strict';
/**
 * Idempotent creation of one tenant's login role and database on the shared
 * instance. Runs as the master user through ./pg.js. Every step checks the
 * catalog first, so a retried or repeated Create/Update converges instead of
 * failing on "already exists".
 */
const { scramVerifier } = require('./pg');

const IDENTIFIER = /^[a-z][a-z0-9_]{0,62}$/;

function ident(name) {
  if (!IDENTIFIER.test(name) || name === 'postgres' || name.startsWith('rds') || name.startsWith('pg_')) {
    throw new Error(`refusing unsafe PostgreSQL identifier "${name}"`);
  }
  return `"${name}"`;
}

function literal(value) {
  return `'${String(value).replace(/'/g, "''")}'`;
}

/**
 * @param {import('./pg').Client} db connected as the master user to the "postgres" database
 * @param {{username: string, password: string, database: string}} tenant
 * @returns {Promise<string[]>} what was done, for the CloudWatch log
 */
async function ensureTenant(db, tenant) {
  const role = ident(tenant.username);
  const dbName = ident(tenant.database);
  if (!tenant.password || tenant.password.length < 16) throw new Error('tenant password missing or too short');
  const steps = [];

  // The password is sent as a SCRAM verifier, never in clear text, so it
  // cannot end up in a server log line.
  const verifier = literal(scramVerifier(tenant.password));
  const roleExists = (await db.query(`SELECT 1 FROM pg_roles WHERE rolname = ${literal(tenant.username)}`)).length > 0;
  if (roleExists) {
    // ALTER keeps the role in step with the secret (e.g. after the secret was regenerated).
    await db.query(`ALTER ROLE ${role} WITH LOGIN PASSWORD ${verifier}`);
    steps.push(`role ${tenant.username} updated`);
  } else {
    await db.query(`CREATE ROLE ${role} WITH LOGIN PASSWORD ${verifier}`);
    steps.push(`role ${tenant.username} created`);
  }

  // The master user must be a member of the role to create a database owned
  // by it (RDS masters are not superusers; PostgreSQL 16 no longer lets the
  // creator SET ROLE to roles it created without an explicit grant).
  const member = await db.query(
    `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member ` +
      `WHERE r.rolname = ${literal(tenant.username)} AND u.rolname = current_user`,
  );
  if (member.length === 0) {
    await db.query(`GRANT ${role} TO CURRENT_USER`);
    steps.push('master granted membership');
  }

  const dbExists = (await db.query(`SELECT 1 FROM pg_database WHERE datname = ${literal(tenant.database)}`)).length > 0;
  if (dbExists) {
    await db.query(`ALTER DATABASE ${dbName} OWNER TO ${role}`);
    steps.push(`database ${tenant.database} already present, owner checked`);
  } else {
    // CREATE DATABASE cannot run inside a transaction block; the simple query
    // protocol sends it on its own. Locale follows the instance default.
    await db.query(`CREATE DATABASE ${dbName} OWNER ${role} ENCODING 'UTF8' TEMPLATE template0`);
    steps.push(`database ${tenant.database} created`);
  }

  // Tenants share one instance: no role but the owner (and the master) may
  // connect to a tenant's database.
  await db.query(`REVOKE ALL ON DATABASE ${dbName} FROM PUBLIC`);
  await db.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${dbName} TO ${role}`);
  steps.push('connect restricted to the owner');
  return steps;
}

/**
 * The DATABASE_URL of a tenant secret. TLS is required (the parameter group
 * also forces it); user and password are percent-encoded.
 */
function databaseUrl(secret) {
  const user = encodeURIComponent(secret.username);
  const password = encodeURIComponent(secret.password);
  return `postgres://${user}:${password}@${secret.host}:${secret.port}/${secret.dbname}?sslmode=require`;
}

module.exports = { databaseUrl, ensureTenant, ident, literal };
