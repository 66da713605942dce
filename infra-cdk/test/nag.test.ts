import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { addNagChecks } from '../lib/build-app';
import { ENVIRONMENTS } from '../lib/config';
import { buildApp, CDK_CONTEXT } from './helpers';

interface Finding {
  rule: string;
  severity: string;
  path: string;
}

/** Synthesizes the app and returns every finding left in the validation report. */
function synthFindings(app: App, outdir: string): { error?: Error; findings: Finding[] } {
  let error: Error | undefined;
  try {
    app.synth();
  } catch (e) {
    error = e as Error;
  }
  const reportFile = path.join(outdir, 'validation-report.json');
  const findings: Finding[] = [];
  if (fs.existsSync(reportFile)) {
    const report = JSON.parse(fs.readFileSync(reportFile, 'utf8'));
    for (const plugin of report.pluginReports ?? []) {
      for (const v of plugin.violations ?? []) {
        for (const c of v.violatingConstructs ?? []) findings.push({ rule: v.ruleName, severity: v.severity, path: c.constructPath });
      }
    }
  }
  return { error, findings };
}

describe('cdk-nag AwsSolutions', () => {
  test('the whole app synthesizes with zero unacknowledged findings', () => {
    const t = buildApp({ nag: true });
    const { error, findings } = synthFindings(t.app, t.outdir);
    // Printed in full so a failing run says which rule on which construct.
    expect(findings.map((f) => `${f.severity} ${f.rule} ${f.path}`)).toEqual([]);
    expect(error).toBeUndefined();
    const expected = ENVIRONMENTS.reduce((n, e) => n + 5 + 2 * e.tenants.length, 0);
    expect(fs.readdirSync(t.outdir).filter((f) => f.endsWith('.template.json')).length).toBe(expected);
  });

  test('the checks are really active: an unlogged bucket fails synthesis', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'swa-nag-probe-'));
    const app = new App({ outdir, context: CDK_CONTEXT });
    const stack = new Stack(app, 'Probe');
    new s3.Bucket(stack, 'Unlogged', { enforceSSL: true });
    addNagChecks(app);
    const { error, findings } = synthFindings(app, outdir);
    expect(error).toBeDefined();
    expect(findings.map((f) => f.rule)).toContain('AwsSolutions-S1');
  });
});
