/**
 * The serialiser that goes with {@link parseFhirJson}: `JSON.stringify`, except that a number parsed from a text a
 * JS number would not reproduce (`1.50`, `1e-400`) is written as that text, so the lake holds the decimal the
 * client sent (https://hl7.org/fhir/R4/datatypes.html#decimal: precision is significant). A value without any such
 * number is handed to `JSON.stringify` whole, so the common case costs one WeakSet lookup. Pure: no I/O.
 */
import { hasRawNumbers, rawNumbersOf } from './raw-numbers';
import type { parseFhirJson } from './parse';

function item(v: unknown, raws: ReadonlyMap<string | number, string> | undefined, key: string | number): string | undefined {
  if (typeof v === 'number') {
    const t = raws?.get(key);
    if (t !== undefined && +t === v) return t;
    return JSON.stringify(v);
  }
  if (typeof v === 'object' && v !== null) return write(v);
  return JSON.stringify(v);
}

function write(node: object): string {
  if (!hasRawNumbers(node) || typeof (node as { toJSON?: unknown }).toJSON === 'function') return JSON.stringify(node);
  const raws = rawNumbersOf(node);
  if (Array.isArray(node)) {
    let out = '[';
    for (let i = 0; i < node.length; i++) {
      if (i > 0) out += ',';
      out += item(node[i], raws, i) ?? 'null';
    }
    return `${out}]`;
  }
  let out = '{';
  let first = true;
  const o = node as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const s = item(o[k], raws, k);
    if (s === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

/**
 * `JSON.stringify(value)` keeping the text of the numbers {@link parseFhirJson} recorded (see the module notes;
 * https://hl7.org/fhir/R4/json.html#primitive, https://hl7.org/fhir/R4/datatypes.html#decimal).
 * Values that are not JSON (functions, undefined) are left out as `JSON.stringify` does.
 */
export function stringifyFhirJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  return write(value);
}
