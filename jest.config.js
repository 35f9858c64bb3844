/**
 * Two projects: `unit` (core, fhir and adapters, in-process; contract suites) and `e2e` (drives the running
 * local stack, started once by test/e2e/global-setup.js from the built `dist/`: `npm test` builds first).
 * TypeScript tests run through ts-jest in transpile-only mode; `npm run build` type-checks everything.
 * jose and hyparquet (a second Parquet reader in tests) ship only as ES modules, so Jest (CommonJS) transpiles them too.
 */
const tsJest = ['ts-jest', { isolatedModules: true, diagnostics: false }];
const transform = {
  '^.+\\.ts$': tsJest,
  '^.+/node_modules/(jose|hyparquet)/.+\\.js$': ['ts-jest', { isolatedModules: true, diagnostics: false, tsconfig: { allowJs: true } }],
};
const common = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  transform,
  transformIgnorePatterns: ['/node_modules/(?!(jose|hyparquet)/)'],
  setupFiles: ['<rootDir>/test/setup-env.js'],
};
module.exports = {
  testTimeout: 180000,
  maxWorkers: 2,
  // e2e files run in a fixed order with the audit-trail check (zz-*) last
  testSequencer: '<rootDir>/test/e2e/sequencer.js',
  projects: [
    { displayName: 'unit', roots: ['<rootDir>/test/unit', '<rootDir>/test/contract'], ...common },
    {
      displayName: 'e2e',
      roots: ['<rootDir>/test/e2e'],
      ...common,
      globalSetup: '<rootDir>/test/e2e/global-setup.js',
      globalTeardown: '<rootDir>/test/e2e/global-teardown.js',
    },
  ],
};
