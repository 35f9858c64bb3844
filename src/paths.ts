/**
 * Finds files shipped beside the code (generated/, policy/, views/, rules/) from `src/` (ts-jest), `dist/src/`
 * (node) or the Lambda package root, by walking up from this file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadWithCodeCache } from './lib/code-cache';
import type { RawModel } from './fhir/validation/model';
import type { SchemaModule } from './fhir/validation/schema';
import type { ViewFile } from './fhir/views/load';

/** Absolute path of `rel` in the project (or package) root; throws a clear error when missing. */
export function projectFile(rel: string): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, rel);
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`${rel} not found beside the code (did \`npm run build\` run?)`);
}

/**
 * Reads the pseudonymisation policy file (e.g. `policy/pseudonymisation.yaml`) as text, for `parsePolicy` in
 * `src/fhir/pseudo` (which takes text and reads no files).
 * @throws the fs error when the file cannot be read.
 */
export function readPolicyText(file: string): Promise<string> {
  return fs.promises.readFile(file, 'utf8');
}

// ---------------------------------------------------------------- readers for the FHIR validation and the views
// src/fhir reads no file: these read what it needs (the bootstrap, scripts, bench and tests call them).

/** The compact R4 profile model generated at build time (`generated/profile-model.json`), parsed. */
export function readProfileModel(file: string = projectFile('generated/profile-model.json')): RawModel {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RawModel;
}

/** Where V8 code caches of generated modules are kept: `node_modules/.cache/tributary-v8` of the project. */
export function codeCacheDir(): string {
  return path.join(path.dirname(path.dirname(projectFile('generated/fhir-schema-validate.js'))), 'node_modules', '.cache', 'tributary-v8');
}

/**
 * The ajv standalone R4 JSON-schema module generated at build time (`generated/fhir-schema-validate.js`, 6 MB:
 * 120–160 ms to load in a fresh worker, 45–80 ms from its V8 code cache, src/lib/code-cache.ts; `npm run build`
 * writes the cache for the import runner's flags, other processes write theirs 3 s after their first load). Pass
 * the function itself to `createSchemaValidator` so it loads on first validation.
 */
export function loadSchemaModule(): SchemaModule {
  return (schemaModule ??= loadWithCodeCache<SchemaModule>(projectFile('generated/fhir-schema-validate.js'), { cacheDir: codeCacheDir() }).exports);
}
let schemaModule: SchemaModule | undefined;

/** The user validation rules file (`RULES_FILE`, default `rules/rules.yaml`): its text and its path. */
export function readRulesText(file: string = projectFile('rules/rules.yaml')): { text: string; source: string } {
  return { text: fs.readFileSync(file, 'utf8'), source: file };
}

/** The `*.json` files of a ViewDefinition folder (the mart views), sorted by name, with their texts. */
export function readViewFiles(dir: string): ViewFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = path.join(dir, f);
      return { file, text: fs.readFileSync(file, 'utf8') };
    });
}
