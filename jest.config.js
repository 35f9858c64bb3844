/** Jest runs the TypeScript tests directly (ts-jest, transpile only: `npm run typecheck` / the build type-checks). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testTimeout: 120000,
  maxWorkers: 2,
};
