#!/usr/bin/env node
/**
 * Entry point of `cdk synth` / `cdk deploy`.
 *
 * All environments of lib/config.ts are synthesized unless the context value
 * `environments` narrows them: `cdk synth -c environments=staging`.
 * Synthesis needs no AWS credentials and does no lookups.
 */
import '../lib/project-home';
import { App } from 'aws-cdk-lib';
import { addEnvironment, addNagChecks } from '../lib/build-app';
import { selectEnvironments } from '../lib/config';

const app = new App();
for (const config of selectEnvironments(app.node.tryGetContext('environments'))) {
  addEnvironment(app, config);
}
addNagChecks(app);
app.synth();
