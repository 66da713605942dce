/**
 * Keeps every file the CDK writes inside this project.
 *
 * aws-cdk-lib stores an asset fingerprint cache under `$HOME/.cdk/cache`
 * (it does not honour CDK_HOME), so the app and the tests point HOME and
 * CDK_HOME at `.cdk-home/` (gitignored). Import this module first.
 */
import * as path from 'node:path';

export const PROJECT_HOME = path.resolve(__dirname, '..', '.cdk-home');
process.env.HOME = PROJECT_HOME;
process.env.CDK_HOME = process.env.CDK_HOME || PROJECT_HOME;
