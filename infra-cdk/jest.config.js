/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // tsconfig.json sets isolatedModules, so ts-jest transpiles file by file
    // without type-checking (`npm run build` type-checks); this keeps the
    // suite fast on two cores.
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  // Synthesizing all stacks takes a few seconds per test file.
  // HOME/CDK_HOME -> .cdk-home for all workers (aws-cdk-lib caches under $HOME).
  globalSetup: '<rootDir>/test/global-setup.ts',
  testTimeout: 120000,
  maxWorkers: 2,
};
