/**
 * Bad input is never a 500 and never altered silently (issue #17, point 4), through the API handlers in process
 * (test/unit/api-harness.ts: real validation and pseudonymisation, in-memory stores): each case answers its status
 * and an OperationOutcome whose issue names the element at fault (`expression`), and a refused request stores
 * nothing. The transport cases (bodies over the local server's 10 MB, bodies that never complete) are in
 * test/e2e/bad-input.test.ts; decimals in test/unit/json-decimals.test.ts.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import { apiEvent, closeHarness, getHarness, issuesOf } from './api-harness';
import { MAX_JSON_DEPTH } from '../../src/fhir/json';

jest.mock('../../src/bootstrap', () => ({ getApp: () => require('./api-harness').harnessApp() }));
import { ingest, validate } from '../../src/handlers/api';

const FHIR = { 'Content-Type': 'application/fhir+json' };
afterAll(() => closeHarness());

/** Sends a request and checks: the status, an issue with `expression` (when given) and `diagnostics`, nothing stored. */
async function refused(
  send: () => Promise<APIGatewayProxyResult>,
  status: number,
  expression: string | undefined,
  diagnostics: RegExp,
): Promise<APIGatewayProxyResult> {
  const h = getHarness();
  const stored = h.lake.objects.size;
  const events = h.events.events.length;
  const r = await send();
  const issues = issuesOf(r);
  expect({ status: r.statusCode, contentType: r.headers?.['Content-Type'] }).toEqual({ status, contentType: 'application/fhir+json; charset=utf-8' });
  const issue = issues.find((i) => diagnostics.test(i.diagnostics ?? ''));
  expect(issue).toBeDefined();
  if (expression !== undefined) expect(issue!.expression).toEqual([expression]);
  expect(h.lake.objects.size).toBe(stored);
  expect(h.events.events.length).toBe(events);
  return r;
}

const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = FHIR) => () => ingest(apiEvent('POST', path, headers, body));
const tx = (entries: unknown[], type = 'transaction') => JSON.stringify({ resourceType: 'Bundle', type, entry: entries });
const patientEntry = { request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', gender: 'female' } };

describe('wrong JSON types where the write path reads before validation: 400 with the expression', () => {
  it('Bundle.entry that is not an array (was a TypeError 500)', async () => {
    await refused(post('/fhir', '{"resourceType":"Bundle","type":"transaction","entry":{"resource":{}}}'), 400, 'Bundle.entry', /Bundle.entry must be a JSON array, got an object/);
    await refused(post('/fhir', '{"resourceType":"Bundle","type":"batch","entry":"x"}'), 400, 'Bundle.entry', /got 'x'/);
  });

  it.each([
    ['an entry that is not an object', [5], 'Bundle.entry[0]', /Entry must be a JSON object, got a number/],
    ['an entry that is an array', [[patientEntry]], 'Bundle.entry[0]', /Entry must be a JSON object, got an array/],
    ['request that is not an object', [{ ...patientEntry, request: 'POST Patient' }], 'Bundle.entry[0].request', /request must be a JSON object/],
    ['request.url that is a number (was a TypeError 500)', [{ ...patientEntry, request: { method: 'POST', url: 5 } }], 'Bundle.entry[0].request.url', /request.url must be a string, got a number/],
    ['request.method that is an array', [{ ...patientEntry, request: { method: ['POST'], url: 'Patient' } }], 'Bundle.entry[0].request.method', /request.method must be a string/],
    ['request.ifMatch that is a number', [{ ...patientEntry, request: { method: 'POST', url: 'Patient', ifMatch: 1 } }], 'Bundle.entry[0].request.ifMatch', /must be a string/],
    ['fullUrl that is a number (was accepted and ignored)', [{ ...patientEntry, fullUrl: 7 }], 'Bundle.entry[0].fullUrl', /fullUrl must be a string/],
    ['resource that is an array', [{ ...patientEntry, resource: [{ resourceType: 'Patient' }] }], 'Bundle.entry[0].resource', /needs a resource \(a JSON object\)/],
    ['meta that is a string (was spread into {"0":…})', [{ ...patientEntry, resource: { resourceType: 'Patient', meta: 'x' } }], 'Bundle.entry[0].resource.meta', /meta must be a JSON object/],
  ])('a transaction entry with %s', async (_name, entries, expression, diagnostics) => {
    await refused(post('/fhir', tx(entries)), 400, expression, diagnostics);
  });

  it('a batch answers the wrong entry with its own 400 and stores the good one', async () => {
    const r = await ingest(apiEvent('POST', '/fhir', FHIR, tx([patientEntry, { ...patientEntry, request: { method: 'POST', url: 5 } }], 'batch')));
    expect(r.statusCode).toBe(200);
    const b = JSON.parse(r.body);
    expect(b.entry.map((e: { response: { status: string } }) => e.response.status)).toEqual(['201 Created', '400 Bad Request']);
    expect(b.entry[1].response.outcome.issue[0].expression).toEqual(['Bundle.entry[1].request.url']);
  });

  it('meta that is not an object, at every validation level (the server writes meta.versionId)', async () => {
    for (const level of ['strict', 'minimal']) {
      await refused(post('/fhir/Patient', '{"resourceType":"Patient","meta":[1]}', { ...FHIR, 'X-Validation-Level': level }), 400, 'Patient.meta', /meta must be a JSON object, got an array/);
    }
  });

  it('$validate with Parameters.parameter that is not an array (was a TypeError 500)', async () => {
    await refused(
      () => validate(apiEvent('POST', '/fhir/$validate', FHIR, '{"resourceType":"Parameters","parameter":{"name":"resource"}}')),
      400,
      'Parameters.parameter',
      /Parameters.parameter must be a JSON array/,
    );
  });

  it('a body that is not a JSON object', async () => {
    for (const body of ['[]', '"Patient"', '5', 'null']) await refused(post('/fhir/Patient', body), 400, 'resourceType', /Body must be a FHIR resource/);
  });

  it('a wrong type inside a resource is the validator\'s 400 with the element', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient","name":"Smith"}'), 400, 'Patient.name', /./);
  });
});

describe(`nesting deeper than MAX_JSON_DEPTH (${MAX_JSON_DEPTH}): 400 before any recursion`, () => {
  const chain = (n: number, open: string, close: string, leaf: string) => open.repeat(n) + leaf + close.repeat(n);

  it('a 10,000-level extension chain (was a RangeError 500)', async () => {
    const ext = chain(10_000, '{"url":"http://example.org/x","extension":[', ']}', '{"url":"http://example.org/x","valueString":"v"}');
    await refused(post('/fhir/Patient', `{"resourceType":"Patient","extension":[${ext}]}`), 400, undefined, new RegExp(`nested deeper than ${MAX_JSON_DEPTH} levels`));
  });

  it('a 10,000-level Questionnaire.item chain, the expression pointing into it', async () => {
    const items = chain(10_000, '{"linkId":"l","type":"group","item":[', ']}', '{"linkId":"leaf","type":"string"}');
    const r = await refused(post('/fhir/Questionnaire', `{"resourceType":"Questionnaire","status":"active","item":[${items}]}`), 400, undefined, /nested deeper/);
    expect(issuesOf(r)[0]!.expression![0]).toMatch(/^Questionnaire\.item\[0\](\.item\[0\])+$/);
  });

  it('an 8,000-level chain is no longer stored at strict', async () => {
    const ext = chain(8_000, '{"url":"http://example.org/x","extension":[', ']}', '{"url":"http://example.org/x","valueString":"v"}');
    await refused(post('/fhir/Patient', `{"resourceType":"Patient","extension":[${ext}]}`), 400, undefined, /nested deeper/);
  });

  it('a chain just inside the limit goes through every walker without a 500', async () => {
    // resource (1) + extension array (2) + n × (object + array) + leaf object ≤ MAX_JSON_DEPTH
    const n = Math.floor((MAX_JSON_DEPTH - 3) / 2);
    const ext = chain(n, '{"url":"http://example.org/x","extension":[', ']}', '{"url":"http://example.org/x","valueString":"v"}');
    for (const level of ['strict', 'minimal']) {
      const r = await ingest(apiEvent('POST', '/fhir/Patient', { ...FHIR, 'X-Validation-Level': level }, `{"resourceType":"Patient","extension":[${ext}]}`));
      expect([201, 400]).toContain(r.statusCode);
    }
  });
});

describe('body size', () => {
  it('over MAX_BODY_BYTES: the FHIR 413, whatever the encoding', async () => {
    const max = getHarness().app.config.maxBodyBytes;
    const big = `{"resourceType":"Patient","text":{"status":"generated","div":"${'x'.repeat(max)}"}}`;
    await refused(post('/fhir/Patient', big), 413, undefined, new RegExp(`the limit is ${max} bytes`));
    await refused(post('/fhir/Patient', new Uint8Array(Buffer.from(big))), 413, undefined, /Request body is \d+ bytes/);
  });
});

describe('encodings and charsets', () => {
  const latin1 = new Uint8Array(Buffer.from('{"resourceType":"Patient","name":[{"family":"Müller"}]}', 'latin1'));

  it('bytes that are not UTF-8 (Latin-1 "Müller") → 400, never stored as U+FFFD', async () => {
    await refused(post('/fhir/Patient', latin1), 400, undefined, /not valid UTF-8 \(byte 0xFC at offset 46\)/);
  });

  it.each([['latin1'], ['ISO-8859-1'], ['utf-16'], ['"windows-1252"'], ['']])('charset=%s → 415', async (cs) => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient"}', { 'Content-Type': `application/fhir+json; charset=${cs}` }), 415, undefined, /charset '.*' is not supported: FHIR JSON is UTF-8/);
  });

  it('charset=utf-8 in any spelling is accepted', async () => {
    for (const cs of ['utf-8', 'UTF-8', '"UTF-8"', 'utf8']) {
      const r = await ingest(apiEvent('POST', '/fhir/Patient', { 'Content-Type': `application/fhir+json;charset=${cs}` }, '{"resourceType":"Patient"}'));
      expect(r.statusCode).toBe(201);
    }
  });

  it('Content-Encoding (a compressed body) → 415', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient"}', { ...FHIR, 'Content-Encoding': 'gzip' }), 415, undefined, /Content-Encoding 'gzip' is not supported/);
  });

  it('a UTF-8 byte-order mark is accepted and stripped (RFC 8259 §8.1), as bytes or as text', async () => {
    const h = getHarness();
    for (const body of [new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('{"resourceType":"Basic","code":{"text":"bom"}}')]), '\ufeff{"resourceType":"Basic","code":{"text":"bom"}}']) {
      const r = await ingest(apiEvent('POST', '/fhir/Basic', FHIR, body));
      expect(r.statusCode).toBe(201);
      const key = h.events.events.at(-1)!.objectKey as string;
      const line = Buffer.from((await h.lake.get(key))!);
      expect(line[0]).toBe(0x7b);
      expect(line.toString('utf8')).not.toContain('\ufeff');
    }
  });
});

describe('JSON that FHIR refuses and JSON.parse accepts', () => {
  it('a property given twice → 400 naming the property and its path (JSON.parse kept the last)', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"A","family":"B"}]}'), 400, 'Patient.name[0].family', /Property 'family' appears twice/);
    await refused(post('/fhir/Patient', '{"resourceType":"Patient","resourceType":"Patient"}'), 400, 'Patient.resourceType', /'resourceType' appears twice/);
  });

  it.each([
    ['NUL', '\\u0000', /Control character U\+0000/],
    ['a backspace', '\\b', /Control character U\+0008/],
    ['U+001F', '\\u001f', /Control character U\+001F/],
    ['a lone high surrogate', '\\ud800', /Lone surrogate/],
    ['a lone low surrogate', '\\udc00', /Lone surrogate/],
  ])('%s in a string → 400 at the element', async (_name, esc, diagnostics) => {
    await refused(post('/fhir/Patient', `{"resourceType":"Patient","name":[{"family":"M${esc}ller"}]}`), 400, 'Patient.name[0].family', diagnostics);
  });

  it('tab, CR and LF in strings are accepted (FHIR string rules)', async () => {
    const r = await ingest(apiEvent('POST', '/fhir/Basic', FHIR, '{"resourceType":"Basic","code":{"text":"a\\tb\\r\\nc"}}'));
    expect(r.statusCode).toBe(201);
  });

  it('a lone surrogate in a body delivered as text (not base64) → 400', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient","name":[{"family":"M\ud800ller"}]}'), 400, 'Patient.name[0].family', /Lone surrogate U\+D800/);
  });

  it('malformed JSON → 400 with the line, column and element', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient",\n"active":tru}'), 400, 'Patient.active', /line 2, column 10/);
  });
});

describe('numbers', () => {
  it.each([
    ['valueInteger', '2147483648', /Not a valid integer/],
    ['valueInteger', '-2147483649', /Not a valid integer/],
    ['valueInteger', '12345678901234567890', /Not a valid integer/],
  ])('%s %s outside FHIR\'s 32-bit range → 400', async (el, n, diagnostics) => {
    await refused(post('/fhir/Observation', `{"resourceType":"Observation","status":"final","code":{"text":"x"},"${el}":${n}}`), 400, `Observation.${el}`, diagnostics);
  });

  it('positiveInt/unsignedInt outside their ranges → 400', async () => {
    await refused(post('/fhir/Patient', '{"resourceType":"Patient","multipleBirthInteger":2147483648}'), 400, 'Patient.multipleBirthInteger', /Not a valid integer/);
  });

  it('a number beyond a double (1e400) → 400 at the element, at every level', async () => {
    for (const level of ['strict', 'minimal']) {
      await refused(
        post('/fhir/Observation', '{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1e400}}', { ...FHIR, 'X-Validation-Level': level }),
        400,
        'Observation.valueQuantity.value',
        /beyond the range/,
      );
    }
  });
});
