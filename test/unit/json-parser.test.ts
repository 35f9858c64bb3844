/**
 * The strict FHIR JSON parser (src/fhir/json/parse.ts) and the strict UTF-8 decoder (utf8.ts): the same values as
 * `JSON.parse` for every valid text, and a JsonInputError with the problem, the element's FHIRPath and the line and
 * column for everything FHIR's JSON rules refuse.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeUtf8, JsonInputError, MAX_JSON_DEPTH, parseFhirJson } from '../../src/fhir/json';

const refusal = (text: string): JsonInputError => {
  try {
    parseFhirJson(text);
  } catch (err) {
    if (err instanceof JsonInputError) return err;
    throw err;
  }
  throw new Error(`accepted: ${text.slice(0, 80)}`);
};

/** A seeded PRNG (mulberry32). */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

describe('valid JSON: the same values as JSON.parse', () => {
  it.each([
    ['{}'],
    ['[]'],
    [' \t\r\n{ "a" : [ 1 , -2 , 3.25 , -0.5e-3 , 1E+2 , true , false , null , "x" ] } \n'],
    ['{"s":"esc \\" \\\\ \\/ \\b\\f? \\n \\r \\t \\u00e9 \\u20AC \\ud83d\\ude00 raw é € 😀"}'.replace('\\b\\f?', '')],
    ['{"resourceType":"Patient","name":[{"family":"Müller","given":["Zoë"]}],"birthDate":"1970-01-01"}'],
    ['"top"'],
    ['12'],
    ['{"a":{"b":{"c":[[[]]]}}}'],
    ['{"constructor":1,"toString":2,"hasOwnProperty":3,"valueOf":{"x":1}}'],
  ])('%s', (text) => {
    expect(parseFhirJson(text)).toEqual(JSON.parse(text));
  });

  it('keeps a "__proto__" property as an own property, as JSON.parse does', () => {
    const v = parseFhirJson('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(Object.keys(v)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('skips a UTF-8 byte-order mark at the start (RFC 8259 §8.1)', () => {
    expect(parseFhirJson('\ufeff{"resourceType":"Patient"}')).toEqual({ resourceType: 'Patient' });
    expect(refusal('{"a":1}\ufeff').problem).toBe('syntax');
  });

  it('agrees with JSON.parse on 3,000 seeded random documents', () => {
    const r = rng(17);
    const str = (): string => {
      const alphabet = ['a', 'Z', ' ', '"', '\\', '/', '\t', '\n', 'é', '€', '😀', '\u2028', '0'];
      let s = '';
      for (let i = Math.floor(r() * 8); i > 0; i--) s += alphabet[Math.floor(r() * alphabet.length)];
      return s;
    };
    const value = (d: number): unknown => {
      const k = Math.floor(r() * (d > 4 ? 4 : 7));
      if (k === 0) return Math.round((r() - 0.5) * 1e6) / [1, 10, 1000][Math.floor(r() * 3)]!;
      if (k === 1) return str();
      if (k === 2) return r() < 0.5;
      if (k === 3) return null;
      if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => value(d + 1));
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 4); i > 0; i--) o[`${str()}${i}`] = value(d + 1);
      return o;
    };
    for (let i = 0; i < 3000; i++) {
      const text = JSON.stringify(value(0), null, r() < 0.3 ? 2 : undefined);
      expect(parseFhirJson(text)).toEqual(JSON.parse(text));
    }
  });

  it('reads every Synthea Bundle as JSON.parse does (when ../shared is present)', () => {
    const dir = ['../../../shared', '../../../../shared'].map((d) => path.resolve(__dirname, d, 'fhir/synthea/smart-on-fhir-r4')).find((d) => fs.existsSync(d));
    if (!dir) return;
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).slice(0, 5)) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(parseFhirJson(text)).toEqual(JSON.parse(text));
    }
  });
});

describe('refusals, each with its problem, FHIRPath, line and column', () => {
  it('a property given twice in one object (JSON.parse keeps the last)', () => {
    const e = refusal('{"resourceType":"Patient","name":[{"family":"A",\n "family":"B"}]}');
    expect(e.problem).toBe('duplicate-key');
    expect(e.expression).toBe('Patient.name[0].family');
    expect([e.line, e.column]).toEqual([2, 2]);
    expect(e.message).toMatch(/'family' appears twice/);
    expect(refusal('{"a":1,"a":1}').expression).toBe('a');
    expect(refusal('{"__proto__":1,"__proto__":2}').problem).toBe('duplicate-key');
    expect(refusal('{"toString":1,"toString":2}').problem).toBe('duplicate-key');
  });

  it.each([
    ['\\u0000', 'control-character'],
    ['\\u001f', 'control-character'],
    ['\\b', 'control-character'],
    ['\\f', 'control-character'],
    ['\\u000B', 'control-character'],
    ['\\ud800', 'lone-surrogate'],
    ['\\udc00x', 'lone-surrogate'],
    ['\\ud800\\u0041', 'lone-surrogate'],
    ['\ud800', 'lone-surrogate'],
    ['x\udfff', 'lone-surrogate'],
    ['\u0001', 'control-character'],
    ['\u0000', 'control-character'],
  ])('a string holding %j → %s', (inner, problem) => {
    const e = refusal(`{"resourceType":"Patient","name":[{"family":"${inner}"}]}`);
    expect(e.problem).toBe(problem);
    expect(e.expression).toBe('Patient.name[0].family');
  });

  it('tab, CR and LF are accepted escaped, and refused raw (RFC 8259: control characters must be escaped)', () => {
    expect(parseFhirJson('{"a":"x\\ty\\r\\nz"}')).toEqual({ a: 'x\ty\r\nz' });
    expect(refusal('{"a":"x\ty"}').problem).toBe('syntax');
  });

  it('a control character or a lone surrogate in a property name', () => {
    expect(refusal('{"a\\u0000":1}').problem).toBe('control-character');
    expect(refusal('{"\\ud800":1}').problem).toBe('lone-surrogate');
  });

  it(`nesting deeper than ${MAX_JSON_DEPTH} levels, before any recursion can overflow`, () => {
    const nest = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    expect(() => parseFhirJson(nest(MAX_JSON_DEPTH))).not.toThrow();
    expect(refusal(nest(MAX_JSON_DEPTH + 1)).problem).toBe('depth');
    expect(refusal(nest(1_000_000)).problem).toBe('depth');
    let ext = '{"url":"u"}';
    for (let i = 0; i < 10_000; i++) ext = `{"url":"u","extension":[${ext}]}`;
    const e = refusal(`{"resourceType":"Patient","extension":[${ext}]}`);
    expect(e.problem).toBe('depth');
    expect(e.expression).toMatch(/^Patient\.extension\[0\](\.extension\[0\])+$/);
    expect(parseFhirJson(nest(300), { maxDepth: 300 })).toBeDefined();
  });

  it.each([
    ['01'],
    ['-'],
    ['1.'],
    ['.5'],
    ['+1'],
    ['1e'],
    ['1e+'],
    ['0x10'],
    ['NaN'],
    ['Infinity'],
    ['- 1'],
    ['1.5.2'],
    ['00.5'],
  ])('the number %s is malformed', (n) => {
    expect(refusal(`{"a":${n}}`).problem).toBe('syntax');
  });

  it('a number beyond the range of a double', () => {
    const e = refusal('{"resourceType":"Observation","valueQuantity":{"value":1e400}}');
    expect(e.problem).toBe('number-range');
    expect(e.expression).toBe('Observation.valueQuantity.value');
    expect(refusal(`[-${'9'.repeat(400)}]`).problem).toBe('number-range');
  });

  it.each([
    ['', 'empty'],
    ['  \n ', 'empty'],
    ['{', 'syntax'],
    ['{"a"', 'syntax'],
    ['{"a":}', 'syntax'],
    ['{"a":1,}', 'syntax'],
    ['[1,]', 'syntax'],
    ['{a:1}', 'syntax'],
    ["{'a':1}", 'syntax'],
    ['{"a":1} {"b":2}', 'syntax'],
    ['{"a":"unterminated}', 'syntax'],
    ['{"a":"\\x"}', 'syntax'],
    ['{"a":"\\u12G4"}', 'syntax'],
    ['{"a":tru}', 'syntax'],
    ['{"a":nul}', 'syntax'],
    ['// comment\n{}', 'syntax'],
    ['\ufeff\ufeff{}', 'syntax'],
  ])('%j → %s', (text, problem) => {
    expect(refusal(text).problem).toBe(problem);
  });

  it('a syntax error names the place with the FHIRPath known so far', () => {
    const e = refusal('{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","active":tru}}]}');
    expect(e.expression).toBe('Bundle.entry[0].resource.active');
    expect(e.message).toMatch(/line 1, column \d+/);
    const odd = refusal('{"weird key`":{"x":01}}');
    expect(odd.expression).toBe('`weird key\\``.x');
  });
});

describe('strict UTF-8 decoding', () => {
  const bytes = (...xs: (number | string)[]): Uint8Array => new Uint8Array(xs.flatMap((x) => (typeof x === 'string' ? [...Buffer.from(x)] : [x])));

  it('decodes UTF-8, multi-byte characters and a BOM included', () => {
    expect(decodeUtf8(bytes('{"a":"Müller € 😀"}'))).toEqual({ ok: true, text: '{"a":"Müller € 😀"}' });
    expect(decodeUtf8(bytes(0xef, 0xbb, 0xbf, '{}'))).toEqual({ ok: true, text: '\ufeff{}' });
  });

  it.each([
    ['Latin-1 ü', bytes('{"a":"M', 0xfc, 'ller"}'), 7],
    ['a truncated sequence', bytes('{"a":"', 0xe2, 0x82, '"}'), 6],
    ['an overlong form of "/"', bytes('{"a":"', 0xc0, 0xaf, '"}'), 6],
    ['an encoded surrogate (CESU-8)', bytes('{"a":"', 0xed, 0xa0, 0x80, '"}'), 6],
    ['a code point above U+10FFFF', bytes('{"a":"', 0xf4, 0x90, 0x80, 0x80, '"}'), 6],
    ['a lone continuation byte', bytes('{"a":"', 0x80, '"}'), 6],
    ['a byte never used in UTF-8', bytes('{"a":"', 0xff, '"}'), 6],
    ['a sequence cut at the end', bytes('{"a":"x"}', 0xf0, 0x9f), 9],
  ])('%s is refused with its offset', (_name, b, offset) => {
    const r = decodeUtf8(b);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.offset).toBe(offset);
      expect(r.message).toMatch(new RegExp(`not valid UTF-8 \\(.* at offset ${offset}\\)`));
    }
  });
});
