/**
 * Seeded mutations of valid FHIR requests, for the fuzz suites (test/unit/fuzz.test.ts through the handlers in process,
 * test/e2e/fuzz.test.ts through the running stack): byte flips, truncations, inserted bytes (invalid UTF-8, NUL, BOM),
 * wrong JSON types at any element, duplicated properties, deep nesting around the parser's limit, huge strings and
 * numbers, odd decimals, odd headers (charsets, content types and encodings, validation levels, If-Match, Prefer),
 * odd methods and paths. Every case is a plain request description; the same seed gives the same cases.
 */
import { MAX_JSON_DEPTH } from '../../src/fhir/json';

/** One request to send. */
export interface FuzzCase {
  /** What was done to the seed (for failure reports). */
  what: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  /** The body: text, or bytes (sent as bytes; in process, base64-encoded as API Gateway does for binary media). */
  body?: string | Uint8Array;
}

/** A seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const patient: Json = {
  resourceType: 'Patient',
  id: 'fz-1',
  meta: { profile: ['http://hl7.org/fhir/StructureDefinition/Patient'], tag: [{ system: 'http://example.org/tags', code: 't' }] },
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Fuzz</div>' },
  extension: [{ url: 'http://example.org/fhir/StructureDefinition/ext', valueDecimal: 1.5 }],
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9000000009' }, { system: 'http://example.org/mrn', value: 'MRN-1' }],
  active: true,
  name: [{ use: 'official', family: 'Müller', given: ['Zoë', 'A'] }],
  telecom: [{ system: 'phone', value: '0113 496 0000', use: 'home' }],
  gender: 'female',
  birthDate: '1970-01-02',
  _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-01-02T03:04:05Z' }] },
  address: [{ line: ['1 Street'], city: 'Leeds', postalCode: 'LS1 1AA', country: 'GB' }],
  contact: [{ relationship: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0131', code: 'N' }] }], name: { family: 'Kin' } }],
};

const observation: Json = {
  resourceType: 'Observation',
  id: 'fz-2',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure' }], text: 'BP' },
  subject: { reference: 'Patient/fz-1' },
  effectiveDateTime: '2024-05-01T10:00:00Z',
  valueQuantity: { value: 1.5, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
  interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'N' }] }],
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueInteger: 80 },
  ],
};

const questionnaire: Json = {
  resourceType: 'Questionnaire',
  id: 'fz-3',
  status: 'active',
  item: [{ linkId: '1', type: 'group', text: 'G', item: [{ linkId: '1.1', type: 'decimal', text: 'D', initial: [{ valueDecimal: 0.5 }] }, { linkId: '1.2', type: 'string' }] }],
};

const transaction = (type: 'transaction' | 'batch'): Json => ({
  resourceType: 'Bundle',
  type,
  entry: [
    { fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001', resource: { ...(patient as object), id: undefined } as never, request: { method: 'POST', url: 'Patient' } },
    {
      fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000002',
      resource: { ...(observation as object), id: undefined, subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' } } as never,
      request: { method: 'POST', url: 'Observation' },
    },
    { resource: patient, request: { method: 'PUT', url: 'Patient/fz-1' } },
  ],
});

const parameters: Json = { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: observation }] };

/** The seeds: each a route and a valid body. */
const SEEDS: { method: string; path: string; body: Json }[] = [
  { method: 'POST', path: '/fhir/Patient', body: patient },
  { method: 'PUT', path: '/fhir/Patient/fz-1', body: patient },
  { method: 'POST', path: '/fhir/Observation', body: observation },
  { method: 'POST', path: '/fhir/Questionnaire', body: questionnaire },
  { method: 'POST', path: '/fhir', body: transaction('transaction') },
  { method: 'POST', path: '/fhir', body: transaction('batch') },
  { method: 'POST', path: '/fhir/$validate', body: parameters },
  { method: 'POST', path: '/fhir/Observation/$validate', body: observation },
];

const FHIR_JSON = 'application/fhir+json';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

/** Every path (keys and indices) of a JSON value, the root included. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

/** A copy of `v` with the value at `at` replaced (or removed when `value` is undefined). */
function replaceAt(v: Json, at: (string | number)[], value: Json | undefined): Json {
  if (at.length === 0) return value === undefined ? null : value;
  const copy = structuredClone(v);
  let node: any = copy;
  for (const k of at.slice(0, -1)) node = node[k];
  const last = at[at.length - 1]!;
  if (value === undefined) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const get = (v: Json, at: (string | number)[]): Json => at.reduce<any>((n, k) => n?.[k], v);

/** A value of another JSON type than the one found (or any odd value). */
function wrongValue(r: () => number, old: Json): Json {
  const odd: Json[] = [
    null,
    true,
    false,
    0,
    -1,
    1.5,
    2147483648,
    -2147483649,
    9007199254740993,
    1e300,
    '',
    ' ',
    'x',
    '1970-13-45',
    'Patient/',
    'urn:uuid:nope',
    [],
    [null],
    [[]],
    {},
    { resourceType: 'Patient' },
    { resourceType: 5 },
    { url: 5 },
    [1, 'a', null, {}],
    { extension: 'x' },
    { reference: 5 },
    { value: 'x', system: 7 },
  ];
  let v = pick(r, odd);
  if (typeof old === 'string' && r() < 0.3) v = old.length ? old.split('').reverse().join('') : 'z';
  return v;
}

/** `inner` (JSON text) nested `n` levels deep in arrays, FHIR-like `extension` chains or `item` trees (built as text: too deep for JSON.stringify). */
function nestText(r: () => number, n: number, inner: string): string {
  const kind = int(r, 0, 2);
  const [open, close] = kind === 0 ? ['[', ']'] : kind === 1 ? ['{"url":"http://example.org/x","extension":[', ']}'] : ['{"linkId":"l","type":"group","item":[', ']}'];
  return open.repeat(n) + inner + close.repeat(n);
}

/** Text-level mutations of a JSON text. */
function textMutation(r: () => number, text: string): { what: string; body: string | Uint8Array } {
  const bytes = Buffer.from(text, 'utf8');
  switch (int(r, 0, 11)) {
    case 0: {
      const b = Buffer.from(bytes);
      for (let i = int(r, 1, 4); i > 0; i--) b[int(r, 0, b.length - 1)]! ^= 1 << int(r, 0, 7);
      return { what: 'byte flips', body: new Uint8Array(b) };
    }
    case 1:
      return { what: 'truncated', body: text.slice(0, int(r, 0, text.length - 1)) };
    case 2: {
      const ins = pick(r, [[0xff], [0xc3], [0xfc], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0x00], [0xef, 0xbb, 0xbf], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]);
      const at = int(r, 0, bytes.length);
      return { what: `bytes ${ins.map((x) => x.toString(16)).join(' ')} inserted`, body: new Uint8Array(Buffer.concat([bytes.subarray(0, at), Buffer.from(ins), bytes.subarray(at)])) };
    }
    case 3: {
      // a property duplicated: `"x":` → `"x":<dup>,"x":`
      const keys = [...text.matchAll(/"([A-Za-z_]+)":/g)];
      if (keys.length === 0) return { what: 'unchanged', body: text };
      const m = pick(r, keys);
      return { what: `duplicate ${m[1]}`, body: `${text.slice(0, m.index)}"${m[1]}":null,${text.slice(m.index)}` };
    }
    case 4: {
      const esc = pick(r, ['\\u0000', '\\u0007', '\\b', '\\f', '\\u001f', '\\ud800', '\\udfff', '\\ud83d\\u0041', '\\u00e9', '\\ud83d\\ude00', '\\/', '\\x', '\\']);
      const strs = [...text.matchAll(/"[^"\\]{2,}"/g)];
      if (strs.length === 0) return { what: 'unchanged', body: text };
      const m = pick(r, strs);
      const at = m.index! + 1;
      return { what: `escape ${esc} in a string`, body: `${text.slice(0, at)}${esc}${text.slice(at)}` };
    }
    case 5: {
      const nums = [...text.matchAll(/(?<=:)-?\d+(\.\d+)?/g)];
      if (nums.length === 0) return { what: 'unchanged', body: text };
      const m = pick(r, nums);
      const n = pick(r, ['1.50', '0.10000000000000000001', '1e-400', '1e400', '-0', '01', '1.', '.5', '+1', '1e', 'NaN', 'Infinity', '123456789012345678901234567890', '2147483648', '-2147483649', '1E5', '0.0']);
      return { what: `number ${n}`, body: `${text.slice(0, m.index)}${n}${text.slice(m.index! + m[0].length)}` };
    }
    case 6:
      return { what: 'BOM', body: `\ufeff${text}` };
    case 7:
      return { what: 'raw control character', body: text.replace(/"([a-z]+)"/, `"$1${String.fromCharCode(int(r, 0, 31))}"`) };
    case 8:
      return { what: 'trailing garbage', body: `${text}${pick(r, [',', '}', ' x', '\n{}', '\u0000'])}` };
    case 9: {
      const at = int(r, 0, text.length);
      return { what: 'structural character inserted', body: `${text.slice(0, at)}${pick(r, ['{', '}', '[', ']', ',', ':', '"'])}${text.slice(at)}` };
    }
    case 10:
      return { what: 'Latin-1 re-encoding', body: new Uint8Array(Buffer.from(text, 'latin1')) };
    default:
      return { what: 'UTF-16LE', body: new Uint8Array(Buffer.from(text, 'utf16le')) };
  }
}

/** Headers of a case: mostly fine, sometimes odd. */
function headers(r: () => number): { what: string; headers: Record<string, string> } {
  const h: Record<string, string> = { 'Content-Type': FHIR_JSON };
  if (r() > 0.25) return { what: '', headers: h };
  switch (int(r, 0, 9)) {
    case 0:
      h['Content-Type'] = pick(r, [
        'application/json',
        'application/fhir+json; charset=utf-8',
        'application/fhir+json;charset="UTF-8"',
        'application/fhir+json; charset=latin1',
        'application/fhir+json; charset=utf-16',
        'application/fhir+json; charset=',
        'application/fhir+json; charset=utf-8; charset=ascii',
        'text/plain',
        'application/fhir+xml',
        'application/x-www-form-urlencoded',
        '',
        ';;;',
        'application/fhir+json, text/plain',
      ]);
      return { what: `Content-Type ${h['Content-Type']}`, headers: h };
    case 1:
      delete h['Content-Type'];
      return { what: 'no Content-Type', headers: h };
    case 2:
      h['Content-Encoding'] = pick(r, ['gzip', 'br', 'identity', 'x']);
      return { what: `Content-Encoding ${h['Content-Encoding']}`, headers: h };
    case 3:
      h['X-Validation-Level'] = pick(r, ['minimal', 'structure-only', 'strict', 'none', '', 'MINIMAL']);
      return { what: `X-Validation-Level ${h['X-Validation-Level']}`, headers: h };
    case 4:
      h['If-Match'] = pick(r, ['W/"1"', '"1"', 'W/"x"', '*', '', 'W/"99999999999999999999"', 'garbage']);
      return { what: `If-Match ${h['If-Match']}`, headers: h };
    case 5:
      h.Prefer = pick(r, ['return=minimal', 'return=OperationOutcome', 'return=representation', 'return=', 'handling=strict', 'x'.repeat(300)]);
      return { what: `Prefer ${h.Prefer.slice(0, 40)}`, headers: h };
    case 6:
      h['If-None-Exist'] = 'identifier=x';
      return { what: 'If-None-Exist', headers: h };
    case 7:
      h['X-Validation-Level'] = 'minimal';
      return { what: 'X-Validation-Level minimal', headers: h };
    case 8:
      h.Accept = pick(r, ['application/fhir+xml', '*/*', 'text/html']);
      return { what: `Accept ${h.Accept}`, headers: h };
    default:
      h['Content-Type'] = 'application/fhir+json; charset=utf-8';
      h['X-Validation-Level'] = 'structure-only';
      return { what: 'structure-only', headers: h };
  }
}

/** Options of {@link fuzzCases}. */
export interface FuzzOptions {
  /** Share of cases with a huge string or number (70 KB to 1.1 MB bodies); default 0.05. */
  largeRate?: number;
}

/** The `i`-th case of the seeded sequence `seed`. */
export function fuzzCase(seed: number, i: number, opts: FuzzOptions = {}): FuzzCase {
  const r = prng(seed * 1_000_003 + i);
  const s = pick(r, SEEDS);
  const h = headers(r);
  let method = s.method;
  let path = s.path;
  let what = h.what;
  let body: string | Uint8Array;
  const large = r() < (opts.largeRate ?? 0.05);
  const kind = r();
  if (large) {
    // a huge string or number
    const all = paths(s.body).filter((p) => p.length > 0);
    const at = pick(r, all);
    const size = pick(r, [70_000, 300_000, 1_100_000]);
    const value = r() < 0.8 ? 'x'.repeat(size) : Number(`1${'0'.repeat(int(r, 20, 400))}`);
    body = JSON.stringify(replaceAt(s.body, at, value as Json));
    what += ` huge ${typeof value} at ${at.join('.')}`;
  } else if (kind < 0.3) {
    // wrong JSON type (or removal) at a random element
    const all = paths(s.body);
    const at = pick(r, all);
    const remove = r() < 0.15 && at.length > 0;
    const value = remove ? undefined : wrongValue(r, get(s.body, at));
    body = JSON.stringify(replaceAt(s.body, at, value));
    what += ` ${remove ? 'removed' : `wrong type ${JSON.stringify(value)?.slice(0, 30)}`} at ${at.join('.')}`;
  } else if (kind < 0.4) {
    // deep nesting around the parser's limit, at a random object
    const objects = paths(s.body).filter((p) => { const v = get(s.body, p); return v !== null && typeof v === 'object' && !Array.isArray(v); });
    const at = pick(r, objects);
    const depth = pick(r, [MAX_JSON_DEPTH - 4 - at.length, MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 500, 5000]);
    const key = pick(r, ['extension', 'item', 'modifierExtension', 'contained', 'x']);
    const inner = nestText(r, Math.max(1, Math.floor(depth / 2)), '{"url":"http://example.org/leaf","valueString":"leaf"}');
    const target = get(s.body, at) as Record<string, Json>;
    body = JSON.stringify(replaceAt(s.body, at, { ...target, [key]: ['\u0000NEST'] })).replace('"\\u0000NEST"', inner);
    what += ` nested ${depth} under ${[...at, key].join('.')}`;
  } else if (kind < 0.9) {
    const m = textMutation(r, JSON.stringify(s.body, null, r() < 0.2 ? 1 : undefined));
    body = m.body;
    what += ` ${m.what}`;
  } else if (kind < 0.95) {
    // odd method or path
    method = pick(r, ['GET', 'DELETE', 'PATCH', 'PUT', 'POST', 'HEAD', 'OPTIONS']);
    path = pick(r, ['/fhir', '/fhir/', '/fhir/Patient', '/fhir/Patient/fz-1', '/fhir/NotAType', '/fhir/Patient/fz-1/_history/1', '/fhir/metadata', '/fhir/$validate', '/fhir/Patient/$validate', '/other', '/fhir/Patient/%E0%A4%A', '/fhir/Patient/a%2Fb', '/fhir/%00']);
    body = JSON.stringify(s.body);
    what += ` ${method} ${path}`;
  } else {
    // a valid request: some must pass
    body = JSON.stringify(s.body);
    what += ' as is';
  }
  if (s.method === 'PUT' && typeof body === 'string' && r() < 0.3) path = pick(r, ['/fhir/Patient/other', '/fhir/Patient/fz-1', '/fhir/Patient/' + 'x'.repeat(70)]);
  return { what: `${s.method} ${s.path}${what}`, method, path, headers: h.headers, body };
}
