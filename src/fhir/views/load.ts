/**
 * Loading the mart ViewDefinitions from a folder (one JSON file per mart, `name` = table name).
 * The only module of the runner that touches the file system.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { compileView, type CompiledView } from './compile';
import { ViewDefinitionError } from './errors';
import type { ViewDefinition } from './types';

/** A mart view read from disk, validated and compiled. */
export interface LoadedView {
  /** Table name (`ViewDefinition.name`). */
  name: string;
  /** Path of the file it came from. */
  file: string;
  definition: ViewDefinition;
  compiled: CompiledView;
}

/**
 * Reads, validates and compiles every `*.json` ViewDefinition in a folder, sorted by file name.
 * Each must have a `name` (the table name), unique across the folder.
 * @throws ViewDefinitionError whose message starts with the offending file's name.
 */
export function loadViews(dir: string): LoadedView[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const out: LoadedView[] = [];
  const byName = new Map<string, string>();
  for (const f of files) {
    const file = join(dir, f);
    const fail = (msg: string, cause?: unknown, location?: string): never => {
      throw new ViewDefinitionError(`${basename(file)}: ${msg}`, location, cause === undefined ? undefined : { cause });
    };
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      fail(`not valid JSON (${err instanceof Error ? err.message : String(err)})`, err);
    }
    let compiled: CompiledView;
    try {
      compiled = compileView(json);
    } catch (err) {
      if (err instanceof ViewDefinitionError) return fail(err.message, err, err.location);
      throw err;
    }
    const name = compiled.name;
    if (!name) return fail('a mart view needs a name (its table name)', undefined, 'name');
    const other = byName.get(name);
    if (other) return fail(`name '${name}' is already used by ${other}`, undefined, 'name');
    byName.set(name, basename(file));
    out.push({ name, file, definition: compiled.definition, compiled });
  }
  return out;
}
