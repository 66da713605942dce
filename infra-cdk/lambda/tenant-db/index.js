'use strict';
/**
 * onEvent handler of the "tenant database" custom resource (custom_resources.Provider).
 *
 * Properties: MasterSecretArn, TenantSecretArn (JSON with username, password,
 * dbname, host, port). Create and Update make sure the role and database exist
 * and match the secret, then store the connection URL the service reads
 * (DATABASE_URL) in the secret's "url" key. Delete leaves role and data in place on purpose: a
 * tenant's orders must never disappear because a config entry was removed;
 * dropping is a deliberate manual step (docs/infrastructure.md).
 */
const fs = require('node:fs');
const { Client } = require('./pg');
const { databaseUrl, ensureTenant } = require('./tenant');

function secretsManager() {
  // The AWS SDK v3 is part of the Lambda Node.js runtime.
  const sdk = require('@aws-sdk/client-secrets-manager');
  return { sdk, client: new sdk.SecretsManagerClient({}) };
}

async function readSecret(arn) {
  const { sdk, client } = secretsManager();
  const out = await client.send(new sdk.GetSecretValueCommand({ SecretId: arn }));
  return JSON.parse(out.SecretString);
}

/** Writes the "url" key when it is missing or stale (e.g. after the password was changed). */
async function storeUrl(arn, secret) {
  const url = databaseUrl(secret);
  if (secret.url === url) return false;
  const { sdk, client } = secretsManager();
  await client.send(new sdk.PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ ...secret, url }) }));
  return true;
}

function caBundle() {
  // Lambda ships the RDS CA certificates here; verifying the server certificate
  // keeps the master password from going to an impostor.
  const path = process.env.RDS_CA_BUNDLE || '/var/runtime/ca-cert.pem';
  return fs.existsSync(path) ? fs.readFileSync(path) : undefined;
}

exports.handler = async (event) => {
  const props = event.ResourceProperties;
  const physicalResourceId = `tenant-db:${props.DatabaseName}`;
  if (event.RequestType === 'Delete') {
    console.log(`Delete of ${physicalResourceId}: role and database are kept`);
    return { PhysicalResourceId: event.PhysicalResourceId || physicalResourceId };
  }

  const [master, tenant] = await Promise.all([readSecret(props.MasterSecretArn), readSecret(props.TenantSecretArn)]);
  if (tenant.dbname !== props.DatabaseName || tenant.username !== props.Username) {
    throw new Error('tenant secret does not match the resource properties');
  }
  const db = new Client({
    host: master.host,
    port: Number(master.port),
    user: master.username,
    password: master.password,
    database: 'postgres',
    ca: caBundle(),
  });
  await db.connect();
  try {
    const steps = await ensureTenant(db, { username: tenant.username, password: tenant.password, database: tenant.dbname });
    if (await storeUrl(props.TenantSecretArn, tenant)) steps.push('url stored in the secret');
    console.log(`${physicalResourceId}: ${steps.join('; ')}`);
  } finally {
    await db.end();
  }
  return { PhysicalResourceId: physicalResourceId, Data: { DatabaseName: tenant.dbname, Username: tenant.username } };
};
