// ESLint (flat config), run on src/ by `npm run lint:eslint` (part of `npm run lint` and `npm test`).
// It checks what the import graph (.dependency-cruiser.cjs) cannot see: who reads the environment. Only the
// configuration module, `src/config.ts` (or a `src/config/` folder), reads `process.env`; everything else gets its
// settings from the values the configuration returns (GitHub issue #12).
// The typescript-eslint plugin is loaded so that the `@typescript-eslint/...` names in the code's eslint-disable
// comments resolve; of its rules only `no-require-imports` is on (the recommended sets are not adopted here).
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const ENV_MESSAGE = 'Only the configuration module (src/config.ts or src/config/) reads the environment: take the value from the Config it returns.';

/** `process.env`, `process['env']`, `process?.env` and `const { env } = process` (no-restricted-properties sees all four). */
const processEnv = [{ object: 'process', property: 'env', message: ENV_MESSAGE }];

/** What no-restricted-properties misses: `globalThis.process.env` (and `global.`, `globalThis['process']['env']`…). */
const processEnvSyntax = [
  {
    selector:
      "MemberExpression[object.type='MemberExpression'][object.property.name='process'][property.name='env']," +
      "MemberExpression[object.type='MemberExpression'][object.property.value='process'][property.name='env']," +
      "MemberExpression[object.type='MemberExpression'][object.property.name='process'][property.value='env']," +
      "MemberExpression[object.type='MemberExpression'][object.property.value='process'][property.value='env']",
    message: ENV_MESSAGE,
  },
  {
    selector: "VariableDeclarator[init.type='MemberExpression'][init.property.name='process'] > ObjectPattern > Property[key.name='env']",
    message: ENV_MESSAGE,
  },
  {
    selector: "CallExpression[callee.name='require'][arguments.0.value=/^(node:)?process$/]",
    message: ENV_MESSAGE,
  },
];

/** `import { env } from 'node:process'`, `import * as p from 'process'`, `require('process')`: `process` is a global. */
const processModule = ['process', 'node:process'].map((name) => ({
  name,
  message: `${ENV_MESSAGE} (\`process\` is a global: importing the module only hides an environment read.)`,
}));

export default defineConfig([
  { ignores: ['dist/', 'generated/', 'coverage/'] },
  {
    files: ['src/**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      ecmaVersion: 2022,
      sourceType: 'module',
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: {
      // a disable comment that no longer silences anything is reported, so stale ones do not pile up
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      // CommonJS `require()` only where a comment says why (lazy loading of cold-start-heavy modules);
      // `import x = require('…')` is TypeScript's typed form of an import and stays allowed
      '@typescript-eslint/no-require-imports': ['error', { allowAsImport: true }],
      'no-restricted-properties': ['error', ...processEnv],
      'no-restricted-syntax': ['error', ...processEnvSyntax],
      'no-restricted-imports': ['error', { paths: processModule }],
    },
  },
  {
    files: ['src/config.ts', 'src/config/**/*.ts'],
    rules: {
      'no-restricted-properties': 'off',
      'no-restricted-syntax': 'off',
      'no-restricted-imports': 'off',
    },
  },
]);
