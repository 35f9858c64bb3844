/**
 * Reading the lines of one NDJSON chunk of a bulk import (https://hl7.org/fhir/R4/nd-json.html,
 * https://hl7.org/fhir/uv/bulkdata/export.html#file-format) into the entries of one `batch` Bundle
 * (https://hl7.org/fhir/R4/http.html#transaction): a resource with an id is an update-or-create of that id (`PUT`,
 * the same ownership rules as `PUT /fhir/{type}/{id}`), one without is a create (`POST`). A line that cannot be an
 * entry (empty, malformed JSON, not a resource, of another type than its file) is refused here with its file and
 * line number. Pure: no I/O; messages never carry payload values.
 */
import type { Bundle, BundleEntry, OperationOutcome, OperationOutcomeIssue, Resource } from 'fhir/r4';
import { JsonInputError, parseFhirJson } from '../../fhir/json';
import { isResourceType } from '../../fhir/resource-types';

/** The extension naming the input file and line of an import error. */
export const IMPORT_INPUT_EXTENSION = 'https://tributary.dev/fhir/StructureDefinition/import-input';

/** Where a refused line came from. */
export interface LinePlace {
  /** The input's name (its `url` as given to `$import`). */
  file: string;
  /** 1-based line number in the file (for a Bundle file: 1). */
  line: number;
}

/**
 * One OperationOutcome of the import's error output: the issues, each prefixed with `file:line`, with the file and
 * line also in an extension for machines. Only codes, paths and the server's messages: no payload values.
 */
export function importError(place: LinePlace, issues: OperationOutcomeIssue[], resourceType?: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    extension: [
      {
        url: IMPORT_INPUT_EXTENSION,
        extension: [
          { url: 'file', valueString: place.file },
          { url: 'line', valueInteger: place.line },
        ],
      },
    ],
    issue: issues.map((i) => ({
      ...i,
      diagnostics: `${place.file} line ${place.line}: ${withoutValues(i.diagnostics ?? '')}`.trimEnd(),
      ...(i.expression ? { expression: i.expression.map((e) => (resourceType ? e.replace(ENTRY_ROOT, resourceType) : e)) } : {}),
      location: [`line ${place.line}`],
    })),
  };
}

/** The FHIRPath root of a chunk's entry, replaced by the resource type in the error output. */
const ENTRY_ROOT = /^Bundle\.entry\[\d+\]\.resource/;

/**
 * A message without the values it quotes (a validator quotes the value it refused, `The value provided ('x')`, and
 * the error output carries no payload values): every quoted text but URLs becomes `'…'`.
 */
export function withoutValues(text: string): string {
  return text.replace(/'([^']*)'/g, (m, inner: string) => (/^https?:\/\/\S+$/.test(inner) || /^[A-Z][A-Za-z]+$/.test(inner) ? m : "'…'"));
}

/** The issue of a line refused before validation. */
function refusal(code: OperationOutcomeIssue['code'], diagnostics: string, expression?: string): OperationOutcomeIssue {
  return { severity: 'error', code, diagnostics, ...(expression ? { expression: [expression] } : {}) };
}

/** The entries of a chunk and the lines refused on the way. */
export interface ChunkEntries {
  bundle: Bundle;
  /** Line number of each Bundle entry (same order). */
  lineOf: number[];
  errors: OperationOutcome[];
}

/**
 * Reads the lines of a chunk (`firstLine` is the 1-based number of `lines[0]`) of an NDJSON file whose resources
 * must be of `type` (when given) into a `batch` Bundle; refuses an empty line, malformed JSON (the parser's
 * message: position and kind, never the text), a value that is not a resource, an unknown type, or a resource of
 * another type than the file's.
 * @param isLast the chunk ends the file: its final empty line (the newline that ends the file) is not an error.
 * @param maxLineBytes a line longer than this (in UTF-8) is refused without being parsed (`too-costly`, as REST answers
 *   a body over the limit with 413), so one huge line cannot exhaust the worker's capped heap.
 */
export function readChunkLines(file: string, type: string | undefined, firstLine: number, lines: readonly string[], isLast = false, maxLineBytes = Infinity): ChunkEntries {
  const entry: BundleEntry[] = [];
  const lineOf: number[] = [];
  const errors: OperationOutcome[] = [];
  lines.forEach((text, i) => {
    const line = firstLine + i;
    const fail = (issue: OperationOutcomeIssue): void => void errors.push(importError({ file, line }, [issue]));
    if (text.trim() === '') {
      if (!(isLast && i === lines.length - 1)) fail(refusal('structure', 'Empty line: each line must be one FHIR resource'));
      return;
    }
    // a UTF-8 byte is at most one UTF-16 unit, and a unit at most 3 bytes: measure only when it can matter
    if (text.length * 3 > maxLineBytes && Buffer.byteLength(text, 'utf8') > maxLineBytes) {
      fail(refusal('too-costly', `The line is over ${maxLineBytes} bytes, the largest resource accepted (MAX_BODY_BYTES)`));
      return;
    }
    let value: unknown;
    try {
      value = parseFhirJson(text);
    } catch (err) {
      if (!(err instanceof JsonInputError)) throw err;
      fail(refusal('structure', `Malformed JSON (${err.problem}) at column ${err.column}`, err.expression));
      return;
    }
    const r = value as Resource;
    if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof r.resourceType !== 'string') {
      fail(refusal('structure', 'The line is not a FHIR resource (a JSON object with resourceType)', 'resourceType'));
      return;
    }
    if (!isResourceType(r.resourceType)) {
      fail(refusal('not-supported', 'Unknown resourceType', 'resourceType'));
      return;
    }
    if (type && r.resourceType !== type) {
      fail(refusal('invalid', `Wrong resource type: ${r.resourceType} in a file of ${type}`, 'resourceType'));
      return;
    }
    const hasId = typeof r.id === 'string' && r.id !== '';
    entry.push({ resource: r as BundleEntry['resource'], request: hasId ? { method: 'PUT', url: `${r.resourceType}/${r.id}` } : { method: 'POST', url: r.resourceType } });
    lineOf.push(line);
  });
  return { bundle: { resourceType: 'Bundle', type: 'batch', entry }, lineOf, errors };
}
