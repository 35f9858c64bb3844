/**
 * One text matcher for the person's own identifying values, shared by the engine's scrubber (which
 * replaces them in the free text a policy keeps) and by {@link findLeaks} (which looks for them in output).
 * Using the same matcher for both means "scrubbed" and "not found by the scanner" are the same thing.
 *
 * Matching is case-insensitive and on token boundaries (no letter or digit immediately before or after),
 * so `"Lang"` does not match inside `"Language"` and a date does not match inside a longer number.
 * Values made mostly of digits (phone numbers, NHS numbers, MRNs) also match with any spacing or
 * punctuation between the digits (`"01131231234"` matches `"0113 123 1234"`). ISO dates also match in
 * `DD/MM/YYYY`, `D/M/YYYY` and `MM/DD/YYYY` form.
 */

/** Kinds of identifying value; the kind decides the minimum length and how flexibly it is matched. */
export type IdentifierKind = 'identifier' | 'name' | 'address' | 'city' | 'postcode' | 'telecom' | 'birthDate' | 'id' | 'text';

/** One identifying value found in input data. */
export interface IdentifierValue {
  kind: IdentifierKind;
  value: string;
}

/** Minimum lengths (characters, after trimming) below which a value of that kind is not matched. */
export interface MatcherOptions {
  minLength?: Partial<Record<IdentifierKind, number>>;
}

/**
 * Default minimum lengths. Names: 3 (so "Li" is not hunted in every text); identifiers: 5 (a 1–4 character
 * identifier such as a Synthea practitioner number "2339" is not identifying on its own and matches codes and
 * numbers in clinical data, e.g. LOINC 2339-0); postcodes: 5 (full UK postcodes and US ZIPs are longer; Synthea's
 * 4-digit ZIPs with a lost leading zero hit LOINC codes too); resource ids: 6.
 */
export const DEFAULT_MIN_LENGTH: Record<IdentifierKind, number> = {
  identifier: 5,
  name: 3,
  address: 3,
  city: 3,
  postcode: 5,
  telecom: 4,
  birthDate: 8,
  id: 6,
  text: 3,
};

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function datePatterns(iso: string): string[] {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return [escape(iso)];
  const [, y, mo, d] = m as unknown as [string, string, string, string];
  const nd = String(Number(d));
  const nmo = String(Number(mo));
  const out = new Set([`${y}-${mo}-${d}`, `${d}/${mo}/${y}`, `${nd}/${nmo}/${y}`, `${mo}/${d}/${y}`, `${nmo}/${nd}/${y}`, `${d}\\.${mo}\\.${y}`]);
  return [...out].map((p) => p.replace(/\//g, '\\/'));
}

/** Regex sources for one value (empty when it is too short to hunt); `simple` when it is one literal run of text. */
function patternFor(v: IdentifierValue, min: Record<IdentifierKind, number>): { pats: string[]; simple?: string } {
  const value = v.value.trim();
  if (value.length < min[v.kind]) return { pats: [] };
  if (v.kind === 'birthDate') return { pats: datePatterns(value) };
  const digits = value.replace(/\D/g, '');
  // Mostly digits (phone numbers, NHS numbers, SSNs): any separators between the digits.
  if (digits.length >= 6 && /^[\d\s\-().+/]+$/.test(value)) {
    return { pats: [digits.split('').join('[\\s\\-.()/]*')] };
  }
  const pat = escape(value).replace(/\s+/g, '\\s+');
  // Starts and ends with a letter/digit and has no white space: found through the token index.
  const simple = /^[\p{L}\p{N}](?:\S*[\p{L}\p{N}])?$/u.test(value) ? value.toLowerCase() : undefined;
  return simple !== undefined && simple.length === value.length ? { pats: [pat], simple } : { pats: [pat] };
}

/** A compiled matcher over a set of values. */
export interface ValueMatcher {
  /** The regular expression over every value (global, case-insensitive, Unicode), or undefined when there is nothing to match. */
  readonly regex: RegExp | undefined;
  /** Replaces every match in `text` by `replacement`. */
  replace(text: string, replacement: string): string;
  /** Distinct matched substrings in `text`, as found. */
  find(text: string): string[];
}

const boundary = (src: string) => `(?<![\\p{L}\\p{N}])(?:${src})(?![\\p{L}\\p{N}])`;
const WORD = /[\p{L}\p{N}]/u;
const TOKEN = /[\p{L}\p{N}]+/gu;

/**
 * Builds a {@link ValueMatcher} for `values` (duplicates and too-short values are dropped).
 * `replace` uses one regular expression; `find`, meant for large outputs, looks plain values up in a token
 * index of the text (one pass) and runs a regular expression only for the flexible ones (digit strings, dates,
 * values with spaces or punctuation at their ends).
 */
export function buildMatcher(values: Iterable<IdentifierValue>, opts: MatcherOptions = {}): ValueMatcher {
  const min = { ...DEFAULT_MIN_LENGTH, ...(opts.minLength ?? {}) };
  const all = new Set<string>();
  const complex = new Set<string>();
  const byFirstToken = new Map<string, string[]>();
  for (const v of values) {
    const { pats, simple } = patternFor(v, min);
    for (const p of pats) all.add(p);
    if (simple !== undefined) {
      const first = simple.match(TOKEN)![0]!;
      const list = byFirstToken.get(first);
      if (!list) byFirstToken.set(first, [simple]);
      else if (!list.includes(simple)) list.push(simple);
    } else {
      for (const p of pats) complex.add(p);
    }
  }
  if (all.size === 0) {
    return { regex: undefined, replace: (t) => t, find: () => [] };
  }
  // Longest first so "Richard Smith" wins over "Richard".
  const alt = (set: Set<string>) => [...set].sort((a, b) => b.length - a.length).join('|');
  const regex = new RegExp(boundary(alt(all)), 'giu');
  const complexRegex = complex.size ? new RegExp(boundary(alt(complex)), 'giu') : undefined;
  return {
    regex,
    replace(text, replacement) {
      regex.lastIndex = 0;
      return regex.test(text) ? text.replace(regex, replacement) : text;
    },
    find(text) {
      const found = new Set<string>();
      if (byFirstToken.size) {
        for (const m of text.matchAll(TOKEN)) {
          const cands = byFirstToken.get(m[0].toLowerCase());
          if (!cands) continue;
          for (const c of cands) {
            const slice = text.substr(m.index, c.length);
            if (slice.toLowerCase() === c && !WORD.test(text.charAt(m.index + c.length))) found.add(slice);
          }
        }
      }
      if (complexRegex) {
        complexRegex.lastIndex = 0;
        for (const m of text.matchAll(complexRegex)) found.add(m[0]);
      }
      return [...found];
    },
  };
}
