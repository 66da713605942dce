import * as fs from 'node:fs';
import * as path from 'node:path';
import { ACKNOWLEDGEMENTS } from '../lib/base-stack';
import { buildApp, template } from './helpers';

/**
 * docs/infrastructure.md lists every cdk-nag acknowledgement with its reason
 * and every exported output; this keeps the list in step with the code.
 */
const DOC = path.join(__dirname, '..', '..', 'docs', 'infrastructure.md');
const t = buildApp();

describe('docs/infrastructure.md', () => {
  const doc = fs.readFileSync(DOC, 'utf8');

  test('lists every acknowledgement reason', () => {
    const reasons = [...new Set(ACKNOWLEDGEMENTS.map((a) => a.reason))];
    expect(reasons.length).toBeGreaterThan(10);
    expect(reasons.filter((r) => !doc.includes(r))).toEqual([]);
  });

  test('lists every stable export name', () => {
    const missing: string[] = [];
    for (const env of t.environments) {
      for (const stack of [env.network, env.data, env.email, env.ci, env.monitoring, ...env.apps, ...env.frontends]) {
        for (const output of Object.values(template(stack).toJSON().Outputs ?? {}) as any[]) {
          const name: unknown = output.Export?.Name;
          if (typeof name !== 'string' || name.includes(':')) continue; // CDK's own cross-stack exports
          const generic = name
            .replace(env.config.prefix, '<prefix>')
            .replace(/^<prefix>-([a-z0-9]+)-/, (m, scope) => (env.config.tenants.some((x) => x.name === scope) ? '<prefix>-<tenant>-' : m))
            .replace(/Domain\d+Dkim\d+$/, 'Domain<n>Dkim<1-3>');
          if (!doc.includes(`\`${generic}\``)) missing.push(generic);
        }
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  test('names every variable the service receives', () => {
    for (const app of t.environments.flatMap((e) => e.apps)) {
      for (const c of Object.values(template(app).findResources('AWS::ECS::TaskDefinition')).flatMap((td: any) => td.Properties.ContainerDefinitions)) {
        for (const v of [...(c.Environment ?? []), ...(c.Secrets ?? [])]) expect(doc).toContain(`\`${v.Name}\``);
      }
    }
  });
});
