/**
 * Runs once in jest's main process, before the workers start, so HOME and
 * CDK_HOME point into the project for every worker (process.env inside a
 * test sandbox is a copy and would not reach os.homedir()).
 */
export default async function globalSetup(): Promise<void> {
  await import('../lib/project-home');
}
