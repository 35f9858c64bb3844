/**
 * Checks of FHIR R4 primitive values in their JSON form (https://hl7.org/fhir/R4/datatypes.html#primitive,
 * https://hl7.org/fhir/R4/json.html#primitive): JSON type, the R4 regular expressions (taken from the
 * primitive StructureDefinitions by the generator), integer ranges, calendar validity of dates,
 * base64 validity and the 1 MB string limit.
 */

/** Primitive definitions as found in the generated model. */
export type PrimitiveDefs = Record<string, { json: 'string' | 'number' | 'boolean'; regex?: string; maxLength?: number }>;

/** A compiled checker: returns undefined when the value is fine, else a short diagnostic (no value echoed when long). */
export type PrimitiveChecker = (value: unknown) => string | undefined;

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
/** R4: string values are limited to 1 MB (1,048,576 characters are checked here). */
export const MAX_STRING = 1048576;

const DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** True when the date part `YYYY[-MM[-DD]]` at the start of `s` names a real calendar day. */
function calendarOk(s: string): boolean {
  if (s.length < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return true;
  const y = Number(s.slice(0, 4));
  const m = Number(s.slice(5, 7));
  const d = Number(s.slice(8, 10));
  if (d <= 28) return true;
  if (m === 2 && d === 29) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return d <= DAYS[m - 1];
}

/**
 * True when `s` is valid base64 (RFC 4648 alphabet, correct padding); whitespace is ignored as the
 * R4 regex allows it.
 */
export function isBase64(s: string): boolean {
  const t = /\s/.test(s) ? s.replace(/\s+/g, '') : s;
  if (t.length % 4 !== 0) return false;
  return /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(t);
}

/** Number of bytes the base64 text decodes to (for Attachment.size checks). */
export function base64DecodedLength(s: string): number {
  const t = s.replace(/\s+/g, '');
  const pad = t.endsWith('==') ? 2 : t.endsWith('=') ? 1 : 0;
  return (t.length / 4) * 3 - pad;
}

const show = (v: unknown): string => {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}...` : s;
};

/**
 * Rewrites `\s`/`\S` to Java's ASCII-only meaning ([ \t\n\x0B\f\r]), as the R4 regexes are applied by the
 * reference validator in Java: a no-break space is not whitespace there.
 */
export function javaRegex(re: string): string {
  const WS = ' \\t\\n\\x0B\\f\\r';
  let out = '';
  let inClass = false;
  for (let i = 0; i < re.length; i++) {
    const ch = re[i];
    if (ch === '\\' && i + 1 < re.length) {
      const nx = re[i + 1];
      if (nx === 's') out += inClass ? WS : `[${WS}]`;
      else if (nx === 'S' && !inClass) out += `[^${WS}]`;
      else out += ch + nx;
      i++;
      continue;
    }
    if (ch === '[' && !inClass) inClass = true;
    else if (ch === ']' && inClass) inClass = false;
    out += ch;
  }
  return out;
}

/**
 * Builds one checker per primitive type from the model definitions.
 * @param defs primitive definitions (JSON type, regex) from the generated model
 */
export function compilePrimitiveCheckers(defs: PrimitiveDefs): Map<string, PrimitiveChecker> {
  const out = new Map<string, PrimitiveChecker>();
  for (const [name, def] of Object.entries(defs)) {
    const re = def.regex ? new RegExp(`^(?:${javaRegex(def.regex)})$`) : undefined;
    let fn: PrimitiveChecker;
    switch (name) {
      case 'boolean':
        fn = (v) => (typeof v === 'boolean' ? undefined : `Not a valid boolean (JSON true/false expected): ${show(v)}`);
        break;
      case 'integer':
        fn = (v) =>
          typeof v === 'number' && Number.isInteger(v) && v >= INT_MIN && v <= INT_MAX
            ? undefined
            : `Not a valid integer (32-bit JSON number expected): ${show(v)}`;
        break;
      case 'positiveInt':
        fn = (v) =>
          typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= INT_MAX ? undefined : `Not a valid positiveInt: ${show(v)}`;
        break;
      case 'unsignedInt':
        fn = (v) =>
          typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= INT_MAX ? undefined : `Not a valid unsignedInt: ${show(v)}`;
        break;
      case 'decimal':
        fn = (v) => (typeof v === 'number' && Number.isFinite(v) ? undefined : `Not a valid decimal (JSON number expected): ${show(v)}`);
        break;
      case 'string':
      case 'markdown':
        // The R4 regexes accept any non-empty string (Java's \S is ASCII-only): only emptiness and size are checked.
        fn = (v) => {
          if (typeof v !== 'string') return `Not a valid ${name} (JSON string expected): ${show(v)}`;
          if (v.length === 0) return `@value cannot be empty`;
          if (v.length > MAX_STRING) return `value is longer than permitted maximum length of 1 MB (${MAX_STRING} bytes)`;
          return undefined;
        };
        break;
      case 'base64Binary':
        fn = (v) => {
          if (typeof v !== 'string') return `Not a valid base64Binary (JSON string expected): ${show(v)}`;
          if (v.length === 0) return `@value cannot be empty`;
          return isBase64(v) ? undefined : `The value '${show(v)}' is not a valid Base64 value`;
        };
        break;
      case 'date':
      case 'dateTime':
      case 'instant':
        fn = (v) => {
          if (typeof v !== 'string') return `Not a valid ${name} (JSON string expected): ${show(v)}`;
          if (!re!.test(v) || !calendarOk(v)) return `Not a valid ${name} format: '${show(v)}'`;
          return undefined;
        };
        break;
      case 'xhtml':
        // content is checked by the narrative checker (xhtml.ts)
        fn = (v) => (typeof v === 'string' ? undefined : `Not a valid xhtml (JSON string expected): ${show(v)}`);
        break;
      default:
        fn = (v) => {
          if (typeof v !== 'string') return `Not a valid ${name} (JSON string expected): ${show(v)}`;
          if (v.length === 0) return `@value cannot be empty`;
          if (v.length > MAX_STRING) return `value is longer than permitted maximum length of 1 MB (${MAX_STRING} bytes)`;
          if (re && !re.test(v)) {
            if (name === 'id') {
              return v.length > 64 ? `Invalid id: Too long (${v.length} chars)` : `Invalid id: Invalid Characters ('${show(v)}')`;
            }
            return `Not a valid ${name} format: '${show(v)}'`;
          }
          return undefined;
        };
    }
    out.set(name, fn);
  }
  return out;
}

/** Converts a FHIR date/dateTime/instant string to [precision-normalised comparable key, precision]. */
function dateKey(s: string): { ms: number; prec: number } | undefined {
  // precision: 1 year, 2 month, 3 day, 4 time (to the second or better)
  const m = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(s);
  if (!m) return undefined;
  if (m[4] !== undefined) {
    const iso = `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}${m[8] ?? 'Z'}`;
    const ms = Date.parse(iso);
    return Number.isNaN(ms) ? undefined : { ms, prec: 4 };
  }
  const y = Number(m[1]);
  const mo = m[2] ? Number(m[2]) - 1 : 0;
  const d = m[3] ? Number(m[3]) : 1;
  return { ms: Date.UTC(y, mo, d), prec: m[3] ? 3 : m[2] ? 2 : 1 };
}

/**
 * FHIRPath `start <= end` for two date/dateTime strings: true, false, or undefined when the precisions
 * differ and the answer is uncertain (FHIRPath returns empty, which does not fail the invariant).
 * Values of different precision are compared as intervals, allowing +/-14 h for an absent time zone.
 */
export function dateLessOrEqual(start: string, end: string): boolean | undefined {
  const a = dateKey(start);
  const b = dateKey(end);
  if (!a || !b) return undefined;
  if (a.prec === b.prec) return a.ms <= b.ms;
  const H14 = 14 * 3600000;
  const span = (p: number): number => (p === 1 ? 366 : p === 2 ? 31 : p === 3 ? 1 : 0) * 86400000;
  const lo = (k: { ms: number; prec: number }): number => k.ms - (k.prec === 4 ? 0 : H14);
  const hi = (k: { ms: number; prec: number }): number => k.ms + span(k.prec) + (k.prec === 4 ? 0 : H14);
  if (lo(a) > hi(b)) return false;
  if (hi(a) <= lo(b)) return true;
  return undefined;
}
