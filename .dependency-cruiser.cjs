/**
 * Module boundaries of `src/` (GitHub issue #12), checked by `npm run lint:deps` (part of `npm run lint` and
 * `npm test`). What an import graph cannot show (reading `process.env`) is checked by ESLint: eslint.config.mjs.
 *
 * The layers: `src/lib` (generic helpers) ← `src/fhir` (pure FHIR logic) ← `src/core` (use cases, ports) ←
 * `src/adapters/{local,aws,shared}`, `src/handlers`, `src/bootstrap`, `src/config` (the outer ring, which may
 * import anything inward).
 *
 * Type-only imports (`import type`, `typeof import('…')`) count for every rule, cycles included: the graph is cruised
 * from the TypeScript sources before compilation (`tsPreCompilationDeps: true`). A type-only edge still couples
 * two modules (one cannot be read, moved or split without the other), and every type shared across a cycle can live
 * in the lower of the two modules instead. Lazy `require()` calls are edges too.
 *
 * `src/bootstrap` and `src/config` may be a file (`src/bootstrap.ts`) or a folder (`src/bootstrap/`): the patterns
 * below accept both.
 */

/**
 * A `to` matching the project's own modules (anything but packages and Node's core modules: `src/`, `generated/`,
 * JSON files beside the code…) outside the given top-level folders of `src/`.
 */
const internalOutside = (...folders) => ({
  pathNot: [`^src/(${folders.join('|')})/`, '(^|/)node_modules/'],
  dependencyTypesNot: ['core'],
  couldNotResolve: false,
});

/** Node's file-system modules (`fs`, `node:fs`, `fs/promises`, …) and `path`. */
const FILE_ACCESS = '^(node:)?(fs|fs/promises|path|path/posix|path/win32)$';

/**
 * The adapters, handlers, bootstrap and configuration (and `src/paths.ts`, which finds files beside the code for the
 * bootstrap): what the core must not know about.
 */
const OUTER_RING = [
  '^src/adapters/',
  '^src/handlers/',
  '^src/bootstrap(\\.ts$|/)',
  '^src/config(\\.ts$|/)',
  '^src/paths(\\.ts$|/)',
];

/** AWS SDKs and the Lambda runtime types: adapters and handlers only. */
const AWS_RUNTIME = [
  '(^|/)node_modules/@aws-sdk/',
  '(^|/)node_modules/@aws-crypto/',
  '(^|/)node_modules/(@types/)?aws-lambda/',
  '^@aws-sdk/',
  '^@aws-crypto/',
  '^aws-lambda$',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'fhir-only-fhir-and-lib',
      severity: 'error',
      comment:
        'src/fhir is pure FHIR logic: it imports nothing internal outside src/fhir except src/lib (generic helpers). ' +
        'Move what it needs down into src/fhir or src/lib, or pass it in from the caller.',
      from: { path: '^src/fhir/' },
      to: internalOutside('fhir', 'lib'),
    },
    {
      name: 'fhir-no-file-access',
      severity: 'error',
      comment:
        'src/fhir reads no files: loaders take text or parsed objects, and reading files (fs, and the paths to them) ' +
        'happens in the bootstrap.',
      from: { path: '^src/fhir/' },
      to: { dependencyTypes: ['core'], path: FILE_ACCESS },
    },
    {
      name: 'lib-only-lib',
      severity: 'error',
      comment: 'src/lib holds generic helpers: it imports nothing internal outside src/lib.',
      from: { path: '^src/lib/' },
      to: internalOutside('lib'),
    },
    {
      name: 'core-not-to-outer-ring',
      severity: 'error',
      comment:
        'src/core never imports adapters, handlers, the bootstrap or the configuration (type-only imports included): ' +
        'it states what it needs as ports (src/core/ports.ts) and receives values from the bootstrap.',
      from: { path: '^src/core/' },
      to: { path: OUTER_RING },
    },
    {
      name: 'core-no-aws-runtime',
      severity: 'error',
      comment:
        'src/core never imports @aws-sdk/*, @aws-crypto/* or aws-lambda (types included): AWS lives in src/adapters/aws ' +
        'and the Lambda event shapes in src/handlers.',
      from: { path: '^src/core/' },
      to: { path: AWS_RUNTIME },
    },
    {
      name: 'aws-adapters-not-to-local',
      severity: 'error',
      comment:
        'src/adapters/aws does not import src/adapters/local: code both use goes in src/adapters/shared.',
      from: { path: '^src/adapters/aws/' },
      to: { path: '^src/adapters/local/' },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'No import cycles in src/, type-only imports and lazy require() calls included (see the header of this file). ' +
        'Break a cycle by moving the shared part into the lower module or a new one both import.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that cannot be resolved (a typo, a missing package) is not checked by the rules above.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
