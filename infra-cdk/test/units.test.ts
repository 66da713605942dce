import * as fs from 'node:fs';
import * as vm from 'node:vm';
import { ENVIRONMENTS, EnvironmentConfig, selectEnvironments, validateEnvironment } from '../lib/config';
import { DIRECTORY_INDEX_FUNCTION_FILE } from '../lib/frontend-stack';
import { normalizeTemplate } from './helpers';

describe('config', () => {
  test('the shipped environments are valid', () => {
    for (const env of ENVIRONMENTS) expect(validateEnvironment(env)).toEqual([]);
    expect(ENVIRONMENTS.map((e) => e.name)).toEqual(['production', 'staging']);
  });

  test('the environments context narrows the selection', () => {
    expect(selectEnvironments('staging').map((e) => e.name)).toEqual(['staging']);
    expect(selectEnvironments().length).toBe(ENVIRONMENTS.length);
    expect(() => selectEnvironments('qa')).toThrow(/Unknown environment "qa"/);
  });

  const prod = ENVIRONMENTS[0];
  const withTenant = (patch: Partial<EnvironmentConfig['tenants'][number]>): EnvironmentConfig => ({
    ...prod,
    tenants: [...prod.tenants, { ...prod.tenants[0], name: 'extra', apiDomain: 'x-api.example.com', webDomain: 'x.example.com', database: { name: 'x_db', username: 'x_app' }, ...patch }],
  });

  test.each([
    ['duplicate database', { database: { name: prod.tenants[0].database.name, username: 'x_app' } }, /used by two tenants/],
    ['reserved role', { database: { name: 'x_db', username: 'postgres' } }, /not an allowed PostgreSQL identifier/],
    ['SQL in a name', { database: { name: 'x"; drop', username: 'x_app' } }, /not an allowed PostgreSQL identifier/],
    ['bad tenant name', { name: 'Extra-Tenant' }, /tenant name must match/],
    ['reserved tenant name', { name: 'data' }, /reserved for a shared stack/],
    ['Fargate size', { serviceTask: { cpu: 256, memoryMiB: 4096 } }, /not a Fargate size/],
    ['scaling limits', { scaling: { minTasks: 3, maxTasks: 2 } }, /minTasks <= maxTasks/],
    ['mail domain without SES identity', { mailFrom: 'shop@other.org' }, /not under an SES identity/],
    ['cookie domain', { cookieDomain: '.other.org' }, /cookieDomain/],
    ['CloudFront certificate region', { webCertificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/x' }, /us-east-1/],
  ])('rejects %s', (_label, patch, message) => {
    expect(validateEnvironment(withTenant(patch as any)).join('\n')).toMatch(message);
  });

  test('a region other than us-east-1 needs an imported CloudFront certificate', () => {
    expect(validateEnvironment({ ...prod, region: 'eu-west-1' }).join('\n')).toMatch(/webCertificateArn .* is required/);
  });
});

describe('CloudFront directory-index function', () => {
  const code = fs.readFileSync(DIRECTORY_INDEX_FUNCTION_FILE, 'utf8');
  const context = vm.createContext({});
  vm.runInContext(code, context);
  const rewrite = (uri: string) => (context as any).handler({ request: { uri, method: 'GET', headers: {} } }).uri;

  test.each([
    ['/', '/index.html'],
    ['/account', '/account/index.html'],
    ['/account/', '/account/index.html'],
    ['/about', '/about/index.html'],
    ['/checkout/confirm', '/checkout/confirm/index.html'],
    ['/index.html', '/index.html'],
    ['/error.html', '/error.html'],
    ['/js/index-0.0.2.js', '/js/index-0.0.2.js'],
    ['/css/main-0.0.3.css', '/css/main-0.0.3.css'],
    ['/robots.txt', '/robots.txt'],
    ['/v1.2/page', '/v1.2/page/index.html'],
  ])('%s -> %s', (uri, expected) => {
    expect(rewrite(uri)).toBe(expected);
  });

  test('uses only syntax the cloudfront-js runtime accepts (no arrow functions, let/const, template literals)', () => {
    const body = code.replace(/\/\/.*$/gm, '');
    expect(body).not.toMatch(/=>|\blet\b|\bconst\b|`/);
  });
});

describe('snapshot normalisation', () => {
  test('asset hashes are replaced, everything else kept', () => {
    const hash = 'a'.repeat(64);
    expect(normalizeTemplate({ S3Key: `${hash}.zip`, [`asset.${hash}`]: 1, Port: 8000, list: ['x', hash] })).toEqual({
      S3Key: 'NORMALIZED_ASSET_HASH.zip',
      'asset.NORMALIZED_ASSET_HASH': 1,
      Port: 8000,
      list: ['x', 'NORMALIZED_ASSET_HASH'],
    });
  });
});
