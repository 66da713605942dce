import '../lib/project-home';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { addEnvironment, addNagChecks, EnvironmentStacks } from '../lib/build-app';
import { EnvironmentConfig, ENVIRONMENTS } from '../lib/config';

/** The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does. */
export const CDK_CONTEXT: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;

export interface TestApp {
  readonly app: App;
  readonly outdir: string;
  readonly environments: EnvironmentStacks[];
}

/** Builds the whole app (all environments of lib/config.ts unless others are given) in a temporary output folder. */
export function buildApp(options: { nag?: boolean; environments?: readonly EnvironmentConfig[] } = {}): TestApp {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'swa-cdk-test-'));
  const app = new App({ outdir, context: CDK_CONTEXT });
  const environments = (options.environments ?? ENVIRONMENTS).map((config) => addEnvironment(app, config));
  if (options.nag) addNagChecks(app);
  return { app, outdir, environments };
}

export function allStacks(t: TestApp): Stack[] {
  return t.app.node.children.filter((c): c is Stack => Stack.isStack(c));
}

const templates = new WeakMap<Stack, Template>();
/** Template.fromStack, memoised (each call would synthesize again). */
export function template(stack: Stack): Template {
  let tpl = templates.get(stack);
  if (!tpl) {
    tpl = Template.fromStack(stack);
    templates.set(stack, tpl);
  }
  return tpl;
}

/**
 * Replaces what differs between machines or between runs of the same code
 * with fixed markers: content hashes of assets (S3 keys, asset ids).
 */
export function normalizeTemplate(value: unknown): unknown {
  if (typeof value === 'string') {
    return value.replace(/[0-9a-f]{64}/g, 'NORMALIZED_ASSET_HASH');
  }
  if (Array.isArray(value)) return value.map(normalizeTemplate);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[0-9a-f]{64}/g, 'NORMALIZED_ASSET_HASH'), normalizeTemplate(v)]));
  }
  return value;
}

/** Every resource of the given type in a template, as [logicalId, resource]. */
export function resourcesOf(tpl: Template, type: string): [string, { Properties: any; DependsOn?: string[]; DeletionPolicy?: string; UpdateReplacePolicy?: string }][] {
  return Object.entries(tpl.findResources(type)) as any;
}
