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
  /** True when no value is long enough to be hunted: `replace` and `find` then do nothing. */
  readonly empty: boolean;
  /**
   * One regular expression over every value (global, case-insensitive, Unicode), or undefined when there is
   * nothing to match. Built on first access: `replace` and `find` do not use it (compiling one alternation
   * of a request's few hundred values costs V8 1–3 ms, more than pseudonymising the request).
   */
  readonly regex: RegExp | undefined;
  /** Replaces every match in `text` by `replacement`. */
  replace(text: string, replacement: string): string;
  /** Distinct matched substrings in `text`, as found. */
  find(text: string): string[];
}

const boundary = (src: string) => `(?<![\\p{L}\\p{N}])(?:${src})(?![\\p{L}\\p{N}])`;
const WORD = /[\p{L}\p{N}]/u;
const TOKEN = /[\p{L}\p{N}]+/gu;
const DIGIT = /\d/;
const NON_DIGITS = /\D/g;

/** Compiled single-value regular expressions, shared by every matcher of the process (values recur across requests). */
const compiled = new Map<string, RegExp>();
function compile(pat: string): RegExp {
  let re = compiled.get(pat);
  if (re === undefined) {
    if (compiled.size >= 20_000) compiled.clear();
    re = new RegExp(boundary(pat), 'giu');
    compiled.set(pat, re);
  }
  return re;
}

/** One hunted value: its patterns, and the cheap test that tells whether a text may contain it. */
interface Entry {
  pats: string[];
  /** Longest pattern length: longer values are replaced first ("Richard Smith" before "Richard"). */
  len: number;
  /** Digits that any match contains, in order (digit strings and dates). */
  digits?: string;
}

/**
 * Builds a {@link ValueMatcher} for `values` (duplicates and too-short values are dropped).
 * Both `replace` and `find` first narrow the values down cheaply: a value starting with a letter or digit
 * can only match where a token of the text equals the value's first token (matches sit on token boundaries);
 * digit strings and dates only where the text's digits contain theirs. Only those candidates' small regular
 * expressions run (compiled once per process); `find`, meant for large outputs, compares plain single-token
 * values directly.
 */
export function buildMatcher(values: Iterable<IdentifierValue>, opts: MatcherOptions = {}): ValueMatcher {
  const min = { ...DEFAULT_MIN_LENGTH, ...(opts.minLength ?? {}) };
  const all = new Set<string>();
  const complex = new Set<string>();
  const byFirstToken = new Map<string, string[]>();
  // replace(): candidates by the value's lower-cased first token, by digits, or always (values that start with
  // punctuation or leave Latin-1, where the regex's Unicode case folding and toLowerCase() may differ)
  const entriesByToken = new Map<string, Entry[]>();
  const digitEntries: Entry[] = [];
  const alwaysEntries: Entry[] = [];
  const seenValues = new Set<string>();
  for (const v of values) {
    const dedupeKey = `${v.kind}\u0000${v.value}`;
    if (seenValues.has(dedupeKey)) continue;
    seenValues.add(dedupeKey);
    const { pats, simple } = patternFor(v, min);
    if (pats.length === 0) continue;
    for (const p of pats) all.add(p);
    const lead = v.value.trim();
    const entry: Entry = { pats, len: lead.length };
    const flexibleDigits = v.kind === 'birthDate' ? /^\d{4}-\d{2}-\d{2}$/.test(lead) : pats[0]!.includes('[\\s\\-.()/]*');
    if (flexibleDigits) {
      // every date format keeps the year; every digit-string match keeps all its digits in order
      entry.digits = v.kind === 'birthDate' ? lead.slice(0, 4) : lead.replace(NON_DIGITS, '');
      digitEntries.push(entry);
    } else if (/^[\p{L}\p{N}]/u.test(lead) && /^[\u0000-\u00ff]*$/.test(lead)) {
      const first = lead.match(TOKEN)![0]!.toLowerCase();
      const list = entriesByToken.get(first);
      if (list) list.push(entry);
      else entriesByToken.set(first, [entry]);
    } else {
      alwaysEntries.push(entry);
    }
    if (simple !== undefined) {
      const first = simple.match(TOKEN)![0]!;
      const list = byFirstToken.get(first);
      if (!list) byFirstToken.set(first, [simple]);
      else if (!list.includes(simple)) list.push(simple);
    } else {
      for (const p of pats) complex.add(p);
    }
  }
  // Longest first so "Richard Smith" wins over "Richard".
  const alt = (set: Set<string>) => [...set].sort((a, b) => b.length - a.length).join('|');
  let regex: RegExp | undefined;
  let complexRegex: RegExp | undefined;
  const empty = all.size === 0;
  const replaceUncached = (text: string, replacement: string): string => {
      let cands: Entry[] | undefined = alwaysEntries.length ? [...alwaysEntries] : undefined;
      if (entriesByToken.size) {
        for (const m of text.matchAll(TOKEN)) {
          const es = entriesByToken.get(m[0].toLowerCase());
          if (es) (cands ??= []).push(...es);
        }
      }
      if (digitEntries.length && DIGIT.test(text)) {
        const digits = text.replace(NON_DIGITS, '');
        for (const e of digitEntries) if (digits.includes(e.digits!)) (cands ??= []).push(e);
      }
      if (cands === undefined) return text;
      if (cands.length > 1) cands = [...new Set(cands)].sort((a, b) => b.len - a.len);
      let out = text;
      for (const e of cands) {
        for (const p of e.pats) {
          const re = compile(p);
          re.lastIndex = 0;
          if (re.test(out)) out = out.replace(re, replacement);
        }
      }
      return out;
  };
  const memo = new Map<string, string>();
  let lastReplacement: string | undefined;
  return {
    empty,
    get regex() {
      if (!empty) regex ??= new RegExp(boundary(alt(all)), 'giu');
      return regex;
    },
    replace(text, replacement) {
      if (empty) return text;
      // requests repeat the same kept strings ("Body Height", "cm", a practice's name) hundreds of times
      if (replacement === lastReplacement) {
        const hit = memo.get(text);
        if (hit !== undefined) return hit;
      } else {
        memo.clear();
        lastReplacement = replacement;
      }
      const out = replaceUncached(text, replacement);
      if (memo.size < 50_000) memo.set(text, out);
      return out;
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
      if (complex.size) {
        complexRegex ??= new RegExp(boundary(alt(complex)), 'giu');
        complexRegex.lastIndex = 0;
        for (const m of text.matchAll(complexRegex)) found.add(m[0]);
      }
      return [...found];
    },
  };
}
