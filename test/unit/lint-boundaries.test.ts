/**
 * The module-boundary checkers of `npm run lint` and `npm test` (GitHub issue #12): dependency-cruiser
 * (.dependency-cruiser.cjs: import paths and cycles) and ESLint (eslint.config.mjs: reading the environment).
 *
 * Each checker is run exactly as its package.json script runs it (`lint:deps`, `lint:eslint`), on the real `src/`.
 * First on the tree as it is (the positive control), then with files that break each rule planted in the tree:
 * every planted file must be reported, by the rule it breaks, as an error. Planted files are named
 * `__lint_planted_*` and are removed once the checkers have run, whatever happens; leftovers of a killed run are
 * removed before the first run.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SRC = path.join(ROOT, 'src');
const PLANT_PREFIX = '__lint_planted_';

/**
 * Violations reported on the tree as it is, being fixed on other branches of the reshape (issue #12). The positive
 * control accepts these and nothing else; once they are fixed, empty this list: the control then also requires both
 * checkers to pass (exit code 0). Keys: `rule: from → to` (dependency-cruiser, cycles spelled out) and `rule: file`
 * (ESLint).
 */
const KNOWN_VIOLATIONS: readonly string[] = [];

type Checker = 'depcruise' | 'eslint';

interface Violation {
  checker: Checker;
  rule: string;
  severity: 'error' | 'warn' | 'info';
  /** Path from the repo root of the module or file at fault. */
  file: string;
  /** dependency-cruiser: the modules of the dependency (or cycle), from first. */
  chain: string[];
  /** What KNOWN_VIOLATIONS lists. */
  key: string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  violations: Violation[];
}

/** The command of a package.json script, split into the binary (from node_modules/.bin) and its arguments. */
function npmScript(name: string): { bin: string; args: string[] } {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const script = pkg.scripts[name];
  if (!script || /[&|;<>$`'"]/.test(script)) throw new Error(`package.json script ${name} should be one plain command: ${script}`);
  const [bin, ...args] = script.trim().split(/\s+/);
  return { bin: path.join(ROOT, 'node_modules', '.bin', bin!), args };
}

function exec(bin: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * `npm run lint:deps`, its `err` report parsed: `  error rule: from → to`, a cycle going on over indented lines.
 * (The JSON reporter would always exit 0; the `err` one is what `npm run lint` prints and sets the exit code.)
 */
async function runDepcruise(): Promise<Run> {
  const { bin, args } = npmScript('lint:deps');
  const out = await exec(bin, args);
  if (out.code !== 0 && !/dependency violations/.test(out.stdout)) throw new Error(`dependency-cruiser failed to run:\n${out.stdout}\n${out.stderr}`);
  const violations: Violation[] = [];
  for (const line of out.stdout.split('\n')) {
    const start = /^\s*(error|warn|info) ([\w-]+): (.*)$/.exec(line);
    const last = violations[violations.length - 1];
    if (start) {
      violations.push({ checker: 'depcruise', severity: start[1] as Violation['severity'], rule: start[2]!, file: '', chain: [start[3]!], key: '' });
    } else if (last && /^\s{4,}\S/.test(line)) {
      last.chain.push(line);
    }
  }
  for (const v of violations) {
    v.chain = v.chain.join(' ').split('→').map((m) => m.trim()).filter(Boolean);
    v.file = v.chain[0]!;
    v.key = `${v.rule}: ${v.chain.join(' → ')}`;
  }
  return { ...out, violations };
}

interface EslintResult {
  filePath: string;
  messages: { ruleId: string | null; severity: 1 | 2; message: string; line: number }[];
}

/** `npm run lint:eslint`, with the JSON formatter. */
async function runEslint(): Promise<Run> {
  const { bin, args } = npmScript('lint:eslint');
  const out = await exec(bin, [...args, '--format', 'json']);
  if (out.code !== 0 && out.code !== 1) throw new Error(`ESLint failed to run (exit ${out.code}):\n${out.stdout}\n${out.stderr}`);
  const results = JSON.parse(out.stdout) as EslintResult[];
  const violations = results.flatMap((r) =>
    r.messages.map((m): Violation => {
      const file = path.relative(ROOT, r.filePath).split(path.sep).join('/');
      const rule = m.ruleId ?? `(${m.message})`;
      return { checker: 'eslint', rule, severity: m.severity === 2 ? 'error' : 'warn', file, chain: [], key: `${rule}: ${file}` };
    }),
  );
  return { ...out, violations };
}

/** Planted files under src/ (paths from the repo root), leftovers of an earlier run included. */
function plantedFiles(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return plantedFiles(full);
    return e.name.startsWith(PLANT_PREFIX) ? [path.relative(ROOT, full).split(path.sep).join('/')] : [];
  });
}

interface Plant {
  /** What the case shows. */
  title: string;
  checker: Checker;
  /** The rule expected to report `file`; undefined: the file must not be reported at all. */
  rule: string | undefined;
  file: string;
  source: string;
  /** dependency-cruiser: modules the violation must name after `file`. */
  to?: string[];
  /** Other files planted with this one (the other end of a cycle). */
  also?: { file: string; source: string }[];
}

const p = (dir: string, name: string): string => `src/${dir}${dir ? '/' : ''}${PLANT_PREFIX}${name}_${process.pid}.ts`;
const base = (file: string): string => `./${path.basename(file, '.ts')}`;

const cycleA = p('core', 'cycle_a');
const cycleB = p('core', 'cycle_b');
const typeCycleA = p('fhir', 'type_cycle_a');
const typeCycleB = p('fhir', 'type_cycle_b');

const PLANTS: Plant[] = [
  // 1. src/fhir imports nothing internal outside src/fhir and src/lib, and reads no files
  {
    title: 'fhir importing a core type (type-only imports count)',
    checker: 'depcruise',
    rule: 'fhir-only-fhir-and-lib',
    file: p('fhir', 'fhir_to_core'),
    source: "import type { ObjectStore } from '../core/ports';\nexport type Planted = ObjectStore;\n",
    to: ['src/core/ports.ts'],
  },
  {
    title: 'fhir importing a module at the top of src/',
    checker: 'depcruise',
    rule: 'fhir-only-fhir-and-lib',
    file: p('fhir', 'fhir_to_paths'),
    source: "import { projectFile } from '../paths';\nexport const planted = projectFile;\n",
    to: ['src/paths.ts'],
  },
  {
    title: 'fhir reading files (node:fs)',
    checker: 'depcruise',
    rule: 'fhir-no-file-access',
    file: p('fhir', 'fhir_reads_files'),
    source: "import { readFileSync } from 'node:fs';\nexport const planted = readFileSync;\n",
    to: ['fs'],
  },
  {
    title: 'fhir building file paths (node:path)',
    checker: 'depcruise',
    rule: 'fhir-no-file-access',
    file: p('fhir', 'fhir_file_paths'),
    source: "import path from 'node:path';\nexport const planted = path.join;\n",
    to: ['path'],
  },
  // 2. src/core imports no adapter, handler, bootstrap, configuration, AWS SDK or Lambda types
  {
    title: 'core importing a local adapter',
    checker: 'depcruise',
    rule: 'core-not-to-outer-ring',
    file: p('core', 'core_to_adapter'),
    source: "import { MemoryObjectStore } from '../adapters/local/memory-object-store';\nexport const planted = MemoryObjectStore;\n",
    to: ['src/adapters/local/memory-object-store.ts'],
  },
  {
    title: 'core importing the configuration type (type-only)',
    checker: 'depcruise',
    rule: 'core-not-to-outer-ring',
    file: p('core', 'core_to_config'),
    source: "import type { Config } from '../config';\nexport type Planted = Config;\n",
  },
  {
    title: 'core naming a handler module type (typeof import)',
    checker: 'depcruise',
    rule: 'core-not-to-outer-ring',
    file: p('core', 'core_to_handler'),
    source: "export type Planted = typeof import('../handlers/http');\n",
    to: ['src/handlers/http.ts'],
  },
  {
    title: 'core importing the bootstrap',
    checker: 'depcruise',
    rule: 'core-not-to-outer-ring',
    file: p('core', 'core_to_bootstrap'),
    source: "import { getApp } from '../bootstrap';\nexport const planted = getApp;\n",
  },
  {
    title: 'core importing Lambda event types (type-only)',
    checker: 'depcruise',
    rule: 'core-no-aws-runtime',
    file: p('core', 'core_to_aws_lambda'),
    source: "import type { APIGatewayProxyEvent } from 'aws-lambda';\nexport type Planted = APIGatewayProxyEvent;\n",
  },
  {
    title: 'core importing an AWS SDK client',
    checker: 'depcruise',
    rule: 'core-no-aws-runtime',
    file: p('core', 'core_to_aws_sdk'),
    source: "import { S3Client } from '@aws-sdk/client-s3';\nexport const planted = S3Client;\n",
  },
  // 4. src/adapters/aws does not import src/adapters/local
  {
    title: 'an AWS adapter importing a local adapter',
    checker: 'depcruise',
    rule: 'aws-adapters-not-to-local',
    file: p('adapters/aws', 'aws_to_local'),
    source: "import { MemoryObjectStore } from '../local/memory-object-store';\nexport const planted = MemoryObjectStore;\n",
    to: ['src/adapters/local/memory-object-store.ts'],
  },
  // 5. no import cycles, type-only edges included (a cycle is reported once, from either of its modules)
  {
    title: 'two core modules importing each other',
    checker: 'depcruise',
    rule: 'no-circular',
    file: cycleA,
    source: `import { b } from '${base(cycleB)}';\nexport const a = (): number => b() + 1;\n`,
    also: [{ file: cycleB, source: `import { a } from '${base(cycleA)}';\nexport const b = (): number => a() - 1;\n` }],
    to: [cycleB],
  },
  {
    title: 'two fhir modules in a cycle closed by a type-only import',
    checker: 'depcruise',
    rule: 'no-circular',
    file: typeCycleA,
    source: `import type { B } from '${base(typeCycleB)}';\nexport interface A { b?: B }\nexport const makeA = (): A => ({});\n`,
    also: [{ file: typeCycleB, source: `import { makeA } from '${base(typeCycleA)}';\nexport interface B { a: ReturnType<typeof makeA> }\n` }],
    to: [typeCycleB],
  },
  // 6. src/lib imports nothing internal outside src/lib
  {
    title: 'lib importing fhir',
    checker: 'depcruise',
    rule: 'lib-only-lib',
    file: p('lib', 'lib_to_fhir'),
    source: "import { ClientError } from '../fhir/errors';\nexport const planted = ClientError;\n",
    to: ['src/fhir/errors.ts'],
  },
  {
    title: 'an import that does not resolve',
    checker: 'depcruise',
    rule: 'not-to-unresolvable',
    file: p('lib', 'unresolvable'),
    source: `// @ts-expect-error planted: the module does not exist\nimport { nothing } from './${PLANT_PREFIX}missing';\nexport const planted = nothing;\n`,
  },
  // 3. only the configuration module reads process.env
  {
    title: 'core reading process.env.X',
    checker: 'eslint',
    rule: 'no-restricted-properties',
    file: p('core', 'env_dot'),
    source: "export const planted = process.env.PLANTED;\n",
  },
  {
    title: "a handler reading process['env']",
    checker: 'eslint',
    rule: 'no-restricted-properties',
    file: p('handlers', 'env_bracket'),
    source: "export const planted = process['env'];\n",
  },
  {
    title: 'an adapter destructuring const { env } = process',
    checker: 'eslint',
    rule: 'no-restricted-properties',
    file: p('adapters/local', 'env_destructure'),
    source: 'const { env } = process;\nexport const planted = env;\n',
  },
  {
    title: 'a module at the top of src/ defaulting a parameter to process.env',
    checker: 'eslint',
    rule: 'no-restricted-properties',
    file: p('', 'env_default_param'),
    source: 'export function planted(env: NodeJS.ProcessEnv = process.env): string | undefined {\n  return env.PLANTED;\n}\n',
  },
  {
    title: 'fhir reading globalThis.process.env',
    checker: 'eslint',
    rule: 'no-restricted-syntax',
    file: p('fhir', 'env_global'),
    source: 'export const planted = globalThis.process.env;\n',
  },
  {
    title: "lib importing env from 'node:process'",
    checker: 'eslint',
    rule: 'no-restricted-imports',
    file: p('lib', 'env_import'),
    source: "import { env } from 'node:process';\nexport const planted = env;\n",
  },
  {
    title: 'a configuration folder (src/config/) may read process.env',
    checker: 'eslint',
    rule: undefined,
    file: p('config', 'env_config_folder'),
    source: 'export const planted = process.env.PLANTED;\n',
  },
  // the typescript-eslint plugin is loaded and its no-require-imports rule is on
  {
    title: 'a require() call without a comment saying why',
    checker: 'eslint',
    rule: '@typescript-eslint/no-require-imports',
    file: p('core', 'require'),
    source: "export const planted = require('node:crypto') as typeof import('node:crypto');\n",
  },
];

function removePlants(): void {
  for (const file of plantedFiles()) fs.rmSync(path.join(ROOT, file), { force: true });
}

describe('npm scripts', () => {
  const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

  test('npm run lint runs tsc, redocly and both boundary checkers', () => {
    expect(scripts.lint).toMatch(/^tsc -p tsconfig\.json --noEmit && /);
    expect(scripts.lint).toContain('npm run lint:openapi');
    expect(scripts.lint).toContain('npm run lint:boundaries');
    expect(scripts['lint:boundaries']).toContain('npm run lint:deps');
    expect(scripts['lint:boundaries']).toContain('npm run lint:eslint');
    expect(npmScript('lint:deps').args).toEqual(['src', '--config', '.dependency-cruiser.cjs']);
    expect(npmScript('lint:eslint').args).toContain('src');
  });

  test('npm test checks the boundaries and the OpenAPI document after the build (its tsc) and before Jest', () => {
    const step = (s: string): number => scripts.test!.indexOf(s);
    expect(step('npm run build')).toBe(0);
    for (const lint of ['npm run lint:openapi', 'npm run lint:boundaries']) {
      expect(step(lint)).toBeGreaterThan(step('npm run build'));
      expect(step(lint)).toBeLessThan(step('jest'));
    }
  });
});

describe('the boundary checkers on src/ as it is (positive control)', () => {
  let deps: Run;
  let eslint: Run;
  beforeAll(async () => {
    removePlants();
    deps = await runDepcruise();
    eslint = await runEslint();
  });

  test('dependency-cruiser reports no violation outside KNOWN_VIOLATIONS', () => {
    expect(deps.violations.map((v) => v.key).filter((k) => !KNOWN_VIOLATIONS.includes(k))).toEqual([]);
    if (KNOWN_VIOLATIONS.length === 0) expect(deps.code).toBe(0);
    expect(deps.stdout).toMatch(/\d+ modules, \d+ dependencies cruised/);
  });

  test('ESLint reports no violation outside KNOWN_VIOLATIONS', () => {
    expect(eslint.violations.map((v) => v.key).filter((k) => !KNOWN_VIOLATIONS.includes(k))).toEqual([]);
    if (KNOWN_VIOLATIONS.length === 0) expect(eslint.code).toBe(0);
    // the configuration module reads the environment and is not reported
    expect(eslint.violations.filter((v) => v.file === 'src/config.ts')).toEqual([]);
  });
});

describe('the boundary checkers on src/ with planted violations', () => {
  let runs: Record<Checker, Run>;
  let leftover: string[];
  let createdConfigDir = false;
  beforeAll(async () => {
    removePlants();
    const configDir = path.join(SRC, 'config');
    try {
      if (!fs.existsSync(configDir)) {
        fs.mkdirSync(configDir);
        createdConfigDir = true;
      }
      for (const { file, source } of PLANTS.flatMap((plant) => [plant, ...(plant.also ?? [])])) {
        fs.writeFileSync(path.join(ROOT, file), source, { flag: 'wx' });
      }
      runs = { depcruise: await runDepcruise(), eslint: await runEslint() };
    } finally {
      removePlants();
      if (createdConfigDir) fs.rmdirSync(configDir);
      leftover = plantedFiles();
    }
  });
  afterAll(() => removePlants());

  test('both checkers fail', () => {
    expect(runs.depcruise.code).not.toBe(0);
    expect(runs.eslint.code).not.toBe(0);
  });

  test.each(PLANTS.map((plant) => [plant.title, plant] as const))('%s', (_title, plant) => {
    const cycle = plant.rule === 'no-circular';
    const reported = runs[plant.checker].violations.filter((v) => (cycle ? v.chain.includes(plant.file) : v.file === plant.file));
    if (plant.rule === undefined) {
      expect(reported).toEqual([]);
      return;
    }
    const byRule = reported.filter((v) => v.rule === plant.rule);
    expect(byRule.map((v) => v.key)).not.toEqual([]);
    for (const v of byRule) expect(v.severity).toBe('error');
    for (const to of plant.to ?? []) expect(byRule.some((v) => (cycle ? v.chain : v.chain.slice(1)).includes(to))).toBe(true);
  });

  test('the planted files are gone afterwards', () => {
    expect(leftover).toEqual([]);
    if (createdConfigDir) expect(fs.existsSync(path.join(SRC, 'config'))).toBe(false);
  });
});
