/**
 * Prints every cdk-nag acknowledgement of the app as a Markdown table
 * (rule, where, reason), grouped so each rule/reason pair appears once.
 * Used to write the list in docs/infrastructure.md:
 *   npx ts-node --transpile-only scripts/list-acks.ts
 */
import '../lib/project-home';
import { App } from 'aws-cdk-lib';
import { ACKNOWLEDGEMENTS } from '../lib/base-stack';
import { addEnvironment } from '../lib/build-app';
import { ENVIRONMENTS } from '../lib/config';

import * as fs from 'node:fs';
import * as path from 'node:path';

const context = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')).context;
const app = new App({ context });
for (const env of ENVIRONMENTS) addEnvironment(app, env);

const generic = (s: string) =>
  s
    .replace(/task-definition\/[a-z0-9-]+-migration/g, 'task-definition/<prefix>-<tenant>-migration')
    .replace(/swa-(prod|stg)-[a-z0-9]+-(app|frontend)/g, '<prefix>-<tenant>-$2')
    .replace(/swa-(prod|stg)-/g, '<prefix>-')
    .replace(/Tenant-[a-z0-9]+-/g, 'Tenant-<tenant>-')
    .replace(/<([A-Za-z]+?)[0-9A-F]{8}(\.Arn)?>/g, '<$1$2>');

const rows = new Map<string, { rule: string; where: Set<string>; reason: string }>();
for (const a of ACKNOWLEDGEMENTS) {
  const rule = generic(a.id);
  const key = `${rule}|${a.reason}`;
  const where = generic(a.path.split('/').slice(0, 3).join('/'));
  const row = rows.get(key) ?? { rule, where: new Set<string>(), reason: a.reason };
  row.where.add(where);
  rows.set(key, row);
}
console.log('| Rule | Where | Reason |\n|---|---|---|');
for (const r of rows.values()) {
  console.log(`| \`${r.rule.replace(/\|/g, '\\|')}\` | ${[...r.where].map((w) => `\`${w}\``).join(', ')} | ${r.reason} |`);
}
