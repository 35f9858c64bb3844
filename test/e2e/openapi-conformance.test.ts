/**
 * The running local stack against its contract: every documented route and every error status that can be
 * provoked locally (200, 201, 400, 401, 403, 404, 405, 412, 413, 415, 422) is called for real, and each response
 * is checked against openapi.yaml (documented status, required headers, body schema) by ./openapi-validator.
 * At the end, every operation of openapi.yaml must have been exercised.
 * (429 comes from API Gateway throttling, 500/503 from faults: not provoked here.)
 */
import { send, stack } from './helpers';
import * as helpers from './helpers';
import { authHeaders, exercised, expectResponseMatchesOpenApi, openApi, operations } from './openapi-validator';

type Json = Record<string, any>;
const doc = openApi().doc;
const example = (name: string): Json => structuredClone(doc.components.examples[name].value);
const unique = (p: string): string => `${p}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
const NO_TOKEN = { Authorization: '' };

/** Sends with the test token (unless headers say otherwise), asserts the status, validates against openapi.yaml. */
async function call(method: string, p: string, status: number, body?: unknown, headers: Record<string, string> = {}) {
  const r = await send(method, p, body, { ...(await authHeaders()), ...headers });
  expect({ call: `${method} ${p}`, status: r.status, body: r.status === status ? undefined : r.text.slice(0, 400) }).toEqual({
    call: `${method} ${p}`,
    status,
    body: undefined,
  });
  expectResponseMatchesOpenApi(method, p, r);
  return r;
}

describe('the live API conforms to openapi.yaml', () => {
  let patientId = '';

  test('GET /metadata → 200 CapabilityStatement, no token', async () => {
    const r = await call('GET', '/metadata', 200, undefined, NO_TOKEN);
    expect(r.json.resourceType).toBe('CapabilityStatement');
  });

  test('POST /{type} → 201 with Location, ETag, Last-Modified; Prefer minimal and OperationOutcome', async () => {
    const r = await call('POST', '/Patient', 201, example('Patient'));
    patientId = r.json.id;
    expect(r.headers.get('location')).toBe(`${stack().baseUrl}/Patient/${patientId}/_history/1`);
    await call('POST', '/Observation', 201, { ...example('Observation'), subject: { reference: `Patient/${patientId}` } });
    const minimal = await call('POST', '/Patient', 201, example('Patient'), { Prefer: 'return=minimal' });
    expect(minimal.text).toBe('');
    const oo = await call('POST', '/Patient', 201, example('Patient'), { Prefer: 'return=OperationOutcome' });
    expect(oo.json.resourceType).toBe('OperationOutcome');
  });

  test('PUT /{type}/{id} → 201 new, 200 existing, 200 with the current If-Match, 412 stale, 400 id mismatch', async () => {
    const id = unique('oa');
    const body = { ...example('PatientWithId'), id };
    expect((await call('PUT', `/Patient/${id}`, 201, body)).headers.get('etag')).toBe('W/"1"');
    expect((await call('PUT', `/Patient/${id}`, 200, body)).headers.get('etag')).toBe('W/"2"');
    expect((await call('PUT', `/Patient/${id}`, 200, body, { 'If-Match': 'W/"2"' })).headers.get('etag')).toBe('W/"3"');
    const stale = await call('PUT', `/Patient/${id}`, 412, body, { 'If-Match': 'W/"1"' });
    expect(stale.json.issue[0].code).toBe('conflict');
    const mismatch = await call('PUT', `/Patient/${id}`, 400, { ...body, id: 'other' });
    expect(mismatch.json.issue[0].expression).toEqual(['Patient.id']);
  });

  test('concurrent PUTs of one id: each answer is a documented one (200, 201 or 409)', async () => {
    const id = unique('oa-race');
    const body = { ...example('PatientWithId'), id };
    const results = await Promise.all(Array.from({ length: 6 }, () => send('PUT', `/Patient/${id}`, body)));
    for (const r of results) {
      expect([200, 201, 409]).toContain(r.status);
      expectResponseMatchesOpenApi('PUT', '/{type}/{id}', r);
    }
    expect(results.some((r) => r.status === 201)).toBe(true);
  });

  test('POST / → 200 transaction-response and batch-response; 400 for a failed transaction or a wrong Bundle', async () => {
    const tx = await call('POST', '', 200, example('TransactionBundle'));
    expect(tx.json.type).toBe('transaction-response');
    expect(tx.text).not.toContain('urn:uuid:');
    const batchId = unique('oa-batch');
    const batch = example('BatchBundle');
    batch.entry[1].resource.id = batchId;
    batch.entry[1].request.url = `Patient/${batchId}`;
    const b = await call('POST', '', 200, batch);
    expect(b.json.type).toBe('batch-response');
    const mixed = await call('POST', '', 200, {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'yes' }, request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'DELETE', url: 'Patient/1' } },
      ],
    });
    expect(mixed.json.entry.map((e: Json) => e.response.status.slice(0, 3))).toEqual(['400', '405']);
    const failed = await call('POST', '', 400, {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'done', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(failed.json.issue[0].expression).toEqual(['Bundle.entry[1].resource.status']);
    await call('POST', '', 400, { resourceType: 'Bundle', type: 'collection' });
    await call('POST', '', 400, example('Patient'));
  });

  test.each([
    ['malformed JSON', 400, '/Patient', '{"resourceType": "Patient",', {}],
    ['schema-invalid', 400, '/Patient', { resourceType: 'Patient', gender: 'yes' }, {}],
    ['unknown element', 400, '/Patient', { resourceType: 'Patient', colour: 'blue' }, {}],
    ['resourceType not matching the URL', 400, '/Patient', { resourceType: 'Observation' }, {}],
    ['conditional create on an unsupported parameter', 400, '/Patient', { resourceType: 'Patient' }, { 'If-None-Exist': 'name=x' }],
    ['If-Match on a create', 412, '/Patient', { resourceType: 'Patient' }, { 'If-Match': 'W/"1"' }],
    ['unknown type', 404, '/Patientt', { resourceType: 'Patientt' }, {}],
    ['XML', 415, '/Patient', '<Patient xmlns="http://hl7.org/fhir"/>', { 'Content-Type': 'application/fhir+xml' }],
    ['no content type', 415, '/Patient', '{"resourceType":"Patient"}', { 'Content-Type': '' }],
    ['no token', 401, '/Patient', { resourceType: 'Patient' }, NO_TOKEN],
    ['a malformed token', 401, '/Patient', { resourceType: 'Patient' }, { Authorization: 'Bearer not-a-jwt' }],
    ['a non-Bearer scheme', 401, '/Patient', { resourceType: 'Patient' }, { Authorization: 'Basic dXNlcjpwYXNz' }],
  ] as [string, number, string, unknown, Record<string, string>][])('POST /{type}, %s → %i', async (_name, status, p, body, headers) => {
    await call('POST', p, status, body, headers);
  });

  test('bulk import without the system/$import scope: POST /$import and GET of a job status are 403', async () => {
    const params = { resourceType: 'Parameters', parameter: [{ name: 'inputFormat', valueString: 'application/fhir+ndjson' }] };
    await call('POST', '/$import', 403, params);
    await call('GET', '/$import-jobs/no-such-job/$status', 403);
  });

  test('POST /{type}: body over 5 MiB → 413', async () => {
    const div = `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(5 * 1024 * 1024)}</div>`;
    await call('POST', '/Patient', 413, JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div } }));
  });

  test('a valid token without the scope for the type → 403', async () => {
    const mint = (helpers as { token?: (source?: string, scope?: string) => Promise<string> }).token;
    if (!mint) throw new Error('test/e2e/helpers.ts exports no token(): cannot mint a narrow-scope token');
    const narrow = await mint('e2e-source', 'system/Observation.write');
    const r = await call('POST', '/Patient', 403, example('Patient'), { Authorization: `Bearer ${narrow}` });
    expect(r.json.issue[0].code).toBe('forbidden');
    await call('PUT', '/Patient/oa-forbidden', 403, { resourceType: 'Patient', id: 'oa-forbidden' }, { Authorization: `Bearer ${narrow}` });
    await call('POST', '', 200, example('BatchBundle'), { Authorization: `Bearer ${narrow}` }); // refused per entry
  });

  test('$validate → 200 valid, 422 invalid, 400 type mismatch, 404 unknown type, 401 without a token', async () => {
    await call('POST', '/$validate', 200, example('Patient'));
    await call('POST', '/$validate', 200, { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: example('Patient') }] });
    const bad = await call('POST', '/$validate', 422, { ...example('Patient'), gender: 'yes' });
    expect(bad.json.issue.some((i: Json) => i.expression?.includes('Patient.gender'))).toBe(true);
    await call('POST', '/Observation/$validate', 200, example('Observation'));
    await call('POST', '/Observation/$validate', 422, { ...example('Observation'), status: 'done' });
    await call('POST', '/Observation/$validate', 400, example('Patient'));
    await call('POST', '/NotAType/$validate', 404, { resourceType: 'NotAType' });
    await call('POST', '/$validate', 401, example('Patient'), NO_TOKEN);
    await call('POST', '/$validate', 415, '<Patient/>', { 'Content-Type': 'application/xml' });
  });

  test('every request example of openapi.yaml is accepted with a documented 2xx', async () => {
    let n = 0;
    for (const o of operations()) {
      const examples = o.operation.requestBody?.content?.['application/fhir+json']?.examples ?? {};
      for (const ref of Object.values<Json>(examples)) {
        const value = structuredClone(doc.components.examples[(ref.$ref as string).split('/').pop()!].value) as Json;
        const p = o.path.replace('{type}', value.resourceType).replace('{id}', value.id ?? '');
        const r = await send(o.method, p, value, await authHeaders());
        expect({ example: ref.$ref, ok: r.status >= 200 && r.status < 300, body: r.status < 300 ? '' : r.text.slice(0, 300) }).toEqual({
          example: ref.$ref,
          ok: true,
          body: '',
        });
        expectResponseMatchesOpenApi(o.method, o.path, r);
        if (value.resourceType === 'Bundle') expect(r.json.entry.every((e: Json) => /^20[01]/.test(e.response.status))).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThanOrEqual(7);
  });

  test.each([
    ['GET', '/', 405],
    ['GET', '/Patient?family=Smith', 405],
    ['PUT', '/Patient', 405],
    ['DELETE', '/Patient?family=Smith', 405],
    ['GET', '/Patient/{id}', 405],
    ['POST', '/Patient/{id}', 405],
    ['DELETE', '/Patient/{id}', 405],
    ['PATCH', '/Patient/{id}', 405],
    ['GET', '/Patient/{id}/_history', 405],
    ['GET', '/Patient/{id}/_history/1', 405],
    ['GET', '/NotAType/1', 404],
    ['DELETE', '/NotAType/1', 404],
  ])('%s %s → %i (no token needed)', async (method, p, status) => {
    const r = await call(method, p.replace('{id}', patientId || 'x'), status, method === 'POST' || method === 'PUT' || method === 'PATCH' ? { resourceType: 'Patient' } : undefined, NO_TOKEN);
    expect(r.json.resourceType).toBe('OperationOutcome');
  });

  test('POST /ops/analyses/{id}/run (beside the FHIR base) → 401 without a token, 403 without the analyst scope', async () => {
    const url = `${stack().baseUrl.replace(/\/fhir\/?$/, '')}/ops/analyses/covid19/run`;
    const none = await send('POST', url, undefined, NO_TOKEN);
    expect(none.status).toBe(401);
    expectResponseMatchesOpenApi('POST', '/ops/analyses/covid19/run', none);
    const writer = await send('POST', url); // the suite's token has SMART write scopes, not tributary/analysis.run
    expect(writer.status).toBe(403);
    expectResponseMatchesOpenApi('POST', '/ops/analyses/covid19/run', writer);
  });

  test('the ops API (/ops, the console\'s): 401 without a token, 403 with a write token, answers for an operator', async () => {
    const root = stack().baseUrl.replace(/\/fhir\/?$/, '');
    const operator = { Authorization: `Bearer ${await helpers.token('ops-e2e', 'tributary/operator')}` };
    const routes: [string, string, string, number][] = [
      ['GET', '/ops/overview', '/ops/overview', 200],
      ['GET', '/ops/etl/jobs?status=failed', '/ops/etl/jobs', 200],
      ['GET', '/ops/etl/jobs/unknown-Patient', '/ops/etl/jobs/{id}', 404],
      ['POST', '/ops/etl/jobs/unknown-Patient/retry', '/ops/etl/jobs/{id}/retry', 404],
      ['GET', '/ops/triage', '/ops/triage', 200],
      ['POST', '/ops/triage/unknown/recheck', '/ops/triage/{id}/recheck', 404],
      ['GET', '/ops/quality', '/ops/quality', 200],
      ['GET', '/ops/catalogue?q=postcode', '/ops/catalogue', 200],
      ['GET', '/ops/audit', '/ops/audit', 200],
      ['POST', '/ops/audit/verify', '/ops/audit/verify', 200],
    ];
    for (const [method, p, template, status] of routes) {
      const none = await send(method, `${root}${p}`, undefined, NO_TOKEN);
      expect({ p, status: none.status }).toEqual({ p, status: 401 });
      expectResponseMatchesOpenApi(method, template, none);
      const writer = await send(method, `${root}${p}`); // the suite's token: SMART write scopes only
      expect({ p, status: writer.status }).toEqual({ p, status: 403 });
      expectResponseMatchesOpenApi(method, template, writer);
      const ok = await send(method, `${root}${p}`, undefined, operator);
      expect({ p, status: ok.status }).toEqual({ p, status });
      expectResponseMatchesOpenApi(method, template, ok);
    }
  });

  // tests in a file run in order: this one comes last and checks what the tests above covered
  test('every operation of openapi.yaml was exercised, with every status that can be provoked locally', () => {
    const missing = operations()
      .map((o) => `${o.method} ${o.path}`)
      .filter((k) => !exercised.has(k));
    const statuses = new Set([...exercised.values()].flatMap((s) => [...s]));
    expect(missing).toEqual([]);
    expect([...statuses].sort()).toEqual(expect.arrayContaining([200, 201, 400, 401, 403, 404, 405, 412, 413, 415, 422]));
  });
});
