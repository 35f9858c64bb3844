/**
 * Loading the mart ViewDefinitions (SQL on FHIR v2, https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html):
 * one JSON file per mart, `name` = table name. The caller reads the files (see `readViewFiles` in `src/paths.ts`);
 * this module checks and compiles their text.
 */
import { compileView, type CompiledView } from './compile';
import { ViewDefinitionError } from './errors';
import type { ViewDefinition } from './types';

/** One ViewDefinition file as read: its path and its text. */
export interface ViewFile {
  /** Path of the file (messages name its last segment). */
  file: string;
  /** The file's text (JSON). */
  text: string;
}

/** A mart view read from disk, validated and compiled. */
export interface LoadedView {
  /** Table name (`ViewDefinition.name`). */
  name: string;
  /** Path of the file it came from. */
  file: string;
  definition: ViewDefinition;
  compiled: CompiledView;
}

/** The last segment of a path (`views/patient.json` → `patient.json`). */
function baseName(file: string): string {
  return file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
}

/**
 * Parses, validates and compiles mart ViewDefinitions, in the order given (a folder's `*.json` files sorted by
 * name, as `readViewFiles` returns them). Each must have a `name` (the table name), unique across the set.
 * @param files the files' paths and texts
 * @throws ViewDefinitionError whose message starts with the offending file's name.
 */
export function loadViews(files: readonly ViewFile[]): LoadedView[] {
  const out: LoadedView[] = [];
  const byName = new Map<string, string>();
  for (const { file, text } of files) {
    const label = baseName(file);
    const fail = (msg: string, cause?: unknown, location?: string): never => {
      throw new ViewDefinitionError(`${label}: ${msg}`, location, cause === undefined ? undefined : { cause });
    };
    let json: unknown;
    try {
      json = JSON.parse(text);
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
    byName.set(name, label);
    out.push({ name, file, definition: compiled.definition, compiled });
  }
  return out;
}
