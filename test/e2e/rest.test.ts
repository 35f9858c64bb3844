/**
 * End to end over the running local stack with a real FHIR client (fhir-kit-client): create, update,
 * If-Match, batch, transaction with urn:uuid references, Prefer, CapabilityStatement, and every error case,
 * each checked against what actually landed in the lake (nothing for a refused request).
 */
import type { Bundle, Observation, Patient } from 'fhir/r4';
import { authHeaders, fhirClient, fhirClientChecks, lakeSnapshot, send, stack, bucket } from './helpers';

/** fhir-kit-client, with every response checked against openapi.yaml (see fhirClient in ./helpers). */
let client: any;
beforeAll(async () => {
  client = fhirClient({ baseUrl: stack().baseUrl, bearerToken: (await authHeaders()).Authorization.slice(7) });
});

/**
 * fhir-kit-client rejects on non-2xx; this returns the status and OperationOutcome instead. Any other
 * rejection (a response off the openapi.yaml contract, a network error) fails the test.
 */
async function failure(p: Promise<unknown>): Promise<{ status: number; body: any }> {
  try {
    await p;
  } catch (err: any) {
    if (!err?.response) throw err;
    return { status: err.response.status, body: err.response.data };
  }
  throw new Error('expected the request to fail');
}

/** Runs `fn` and asserts the lake gained nothing. */
async function writesNothing(fn: () => Promise<void>): Promise<void> {
  const before = await lakeSnapshot();
  await fn();
  const after = await lakeSnapshot();
  expect(after.keys).toEqual(before.keys);
  expect(after.lines).toBe(before.lines);
  expect(await bucket().list('staging/')).toEqual([]);
}

describe('FHIR REST over the local stack', () => {
  test('metadata: a CapabilityStatement that lists create/update only, batch/transaction and the size limit', async () => {
    const cs = await client.capabilityStatement();
    expect(cs.resourceType).toBe('CapabilityStatement');
    expect(cs.fhirVersion).toBe('4.0.1');
    const patient = cs.rest[0].resource.find((r: any) => r.type === 'Patient');
    expect(patient.interaction.map((i: any) => i.code).sort()).toEqual(['create', 'update']);
    expect(cs.rest[0].interaction.map((i: any) => i.code).sort()).toEqual(['batch', 'transaction']);
    const limit = cs.extension.find((e: any) => e.url.endsWith('max-request-bytes')).valueInteger;
    expect(limit).toBe(5 * 1024 * 1024);
    expect(cs.rest[0].resource.length).toBe(146);
  });

  test('create: 201, server id, Location with _history, ETag W/"1", Last-Modified; stored once in the lake', async () => {
    const before = await lakeSnapshot();
    const res = await send('POST', '/Observation', {
      resourceType: 'Observation',
      id: 'client-chosen-id-is-ignored',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
      valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    });
    expect(res.status).toBe(201);
    const id = res.json.id as string;
    expect(id).not.toBe('client-chosen-id-is-ignored');
    expect(res.headers.get('location')).toBe(`${stack().baseUrl}/Observation/${id}/_history/1`);
    expect(res.headers.get('etag')).toBe('W/"1"');
    expect(new Date(res.headers.get('last-modified')!).getTime()).toBeGreaterThan(Date.now() - 120_000);
    expect(res.json.meta.versionId).toBe('1');
    const after = await lakeSnapshot();
    expect(after.lines).toBe(before.lines + 1);
    const newKey = after.keys.find((k) => !before.keys.includes(k))!;
    expect(newKey).toMatch(/^raw\/Observation\/source=e2e-source\/date=\d{4}-\d{2}-\d{2}\/[0-9a-f-]+\.ndjson$/);
    const head = await bucket().head(newKey);
    expect(head?.metadata.source).toBe('e2e-source');
    expect(head?.metadata.requestid).toMatch(/^[0-9a-f-]{36}$/);
    expect(head?.metadata.requestid).toBe(res.headers.get('x-request-id'));
    expect(head?.checksumSha256).toMatch(/^[A-Za-z0-9+/]{43}=$/);
  });

  test('fhir-kit-client create and update: 201 new, then 200 with version 2; If-Match mismatch is 412', async () => {
    const id = `e2e-${Date.now()}`;
    const p: Patient = { resourceType: 'Patient', id, gender: 'female' };
    const first = await client.update({ resourceType: 'Patient', id, body: p });
    expect(first.meta.versionId).toBe('1');
    const second = await client.update({ resourceType: 'Patient', id, body: { ...p, gender: 'other' } });
    expect(second.meta.versionId).toBe('2');
    const raw = await send('PUT', `/Patient/${id}`, { ...p, gender: 'male' }, { 'If-Match': 'W/"2"' });
    expect(raw.status).toBe(200);
    expect(raw.headers.get('etag')).toBe('W/"3"');
    await writesNothing(async () => {
      const stale = await failure(
        client.update({ resourceType: 'Patient', id, body: p, options: { headers: { 'If-Match': 'W/"1"' } } }),
      );
      expect(stale.status).toBe(412);
      expect(stale.body.resourceType).toBe('OperationOutcome');
    });
    const created = await send('PUT', `/Patient/${id}-new`, { ...p, id: `${id}-new` });
    expect(created.status).toBe(201);
  });

  test('update with a body id different from the URL id, or no id: 400, nothing written', async () => {
    await writesNothing(async () => {
      const r = await send('PUT', '/Patient/abc', { resourceType: 'Patient', id: 'xyz' });
      expect(r.status).toBe(400);
      expect(r.json.issue[0].expression).toEqual(['Patient.id']);
      const r2 = await send('PUT', '/Patient/abc', { resourceType: 'Patient' });
      expect(r2.status).toBe(400);
    });
  });

  test('Prefer: return=minimal gives no body, return=OperationOutcome an outcome, representation the resource', async () => {
    const body = { resourceType: 'Patient', gender: 'male' };
    const minimal = await send('POST', '/Patient', body, { Prefer: 'return=minimal' });
    expect(minimal.status).toBe(201);
    expect(minimal.text).toBe('');
    expect(minimal.headers.get('location')).toContain('/Patient/');
    const oo = await send('POST', '/Patient', body, { Prefer: 'return=OperationOutcome' });
    expect(oo.status).toBe(201);
    expect(oo.json.resourceType).toBe('OperationOutcome');
    const rep = await send('POST', '/Patient', body, { Prefer: 'return=representation' });
    expect(rep.json.resourceType).toBe('Patient');
    expect(rep.json.id).toBeTruthy();
  });

  test('batch: per-entry status in a batch-response; the bad entry is refused, the good ones stored', async () => {
    const before = await lakeSnapshot();
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'nonsense', code: { text: 'x' } } as any, request: { method: 'POST', url: 'Observation' } },
        { resource: { resourceType: 'Patient', id: 'batch-put-1' }, request: { method: 'PUT', url: 'Patient/batch-put-1' } },
        { request: { method: 'DELETE', url: 'Patient/batch-put-1' } },
      ],
    };
    const res = (await client.batch({ body: bundle })) as Bundle;
    expect(res.type).toBe('batch-response');
    const statuses = res.entry!.map((e) => e.response!.status.split(' ')[0]);
    expect(statuses).toEqual(['201', '400', '201', '405']);
    expect((res.entry![1].response!.outcome as any).issue[0].expression[0]).toBe('Bundle.entry[1].resource.status');
    const after = await lakeSnapshot();
    expect(after.lines).toBe(before.lines + 2);
  });

  test('transaction: urn:uuid references rewritten to assigned ids, response in entry order', async () => {
    const pUrn = 'urn:uuid:6f1c7a5e-1b1a-4f7e-9d7a-0c1d2e3f4a5b';
    const eUrn = 'urn:uuid:7a2d8b6f-2c2b-4a8f-8e8b-1d2e3f4a5b6c';
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: pUrn, resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        {
          fullUrl: eUrn,
          resource: { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: pUrn } },
          request: { method: 'POST', url: 'Encounter' },
        },
        {
          resource: {
            resourceType: 'Observation',
            status: 'final',
            code: { text: 'heart rate' },
            subject: { reference: pUrn },
            encounter: { reference: eUrn },
          } as Observation,
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const before = await lakeSnapshot();
    const res = (await client.transaction({ body: bundle })) as Bundle;
    expect(res.type).toBe('transaction-response');
    expect(res.entry!.map((e) => e.response!.location!.split('/')[0])).toEqual(['Patient', 'Encounter', 'Observation']);
    const patientId = res.entry![0].response!.location!.split('/')[1];
    const encounterId = res.entry![1].response!.location!.split('/')[1];
    const obs = res.entry![2].resource as Observation;
    expect(obs.subject!.reference).toBe(`Patient/${patientId}`);
    expect(obs.encounter!.reference).toBe(`Encounter/${encounterId}`);
    const after = await lakeSnapshot();
    expect(after.lines).toBe(before.lines + 3);
    const newKeys = after.keys.filter((k) => !before.keys.includes(k));
    expect(newKeys.map((k) => k.split('/')[1]).sort()).toEqual(['Encounter', 'Observation', 'Patient']);
    // the lake copy carries no urn:uuid reference
    for (const k of newKeys) {
      const text = Buffer.from((await bucket().get(k))!).toString();
      expect(text).not.toContain('urn:uuid:');
    }
    // and a commit manifest lists the three objects
    const manifest = JSON.parse(
      Buffer.from((await bucket().get(`commits/date=${newKeys[0].split('date=')[1].slice(0, 10)}/${res.id}.json`))!).toString(),
    );
    expect(manifest.objects.map((o: any) => o.key).sort()).toEqual(newKeys.sort());
  });

  test('transaction with one bad entry: nothing stored, one OperationOutcome naming the entry', async () => {
    await writesNothing(async () => {
      const r = await send('POST', '', {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Observation', status: 'done', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
        ],
      });
      expect(r.status).toBe(400);
      expect(r.json.resourceType).toBe('OperationOutcome');
      expect(r.json.issue[0].expression).toEqual(['Bundle.entry[3].resource.status']);
    });
  });

  test.each([
    ['malformed JSON', () => send('POST', '/Patient', '{"resourceType": "Patient",'), 400],
    ['no content type', () => send('POST', '/Patient', '{"resourceType":"Patient"}', { 'Content-Type': '' }), 415],
    ['wrong content type', () => send('POST', '/Patient', '<Patient/>', { 'Content-Type': 'application/fhir+xml' }), 415],
    ['body over the limit', () => send('POST', '/Patient', JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: 'x'.repeat(5 * 1024 * 1024 + 10) } })), 413],
    ['resourceType not matching the URL', () => send('POST', '/Patient', { resourceType: 'Observation' }), 400],
    ['unknown resource type in the URL', () => send('POST', '/Patientt', { resourceType: 'Patientt' }), 404],
    ['unknown resourceType in the body', () => send('POST', '', { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { resourceType: 'Nope' }, request: { method: 'POST', url: 'Nope' } }] }), 200],
    ['schema-invalid resource', () => send('POST', '/Patient', { resourceType: 'Patient', gender: 'yes' }), 400],
    ['unknown element', () => send('POST', '/Patient', { resourceType: 'Patient', colour: 'blue' }), 400],
    ['a Bundle of type collection on the base', () => send('POST', '', { resourceType: 'Bundle', type: 'collection' }), 400],
    ['a non-Bundle on the base', () => send('POST', '', { resourceType: 'Patient' }), 400],
    ['conditional create on an unsupported parameter', () => send('POST', '/Patient', { resourceType: 'Patient' }, { 'If-None-Exist': 'name=x' }), 400],
    ['an array body', () => send('POST', '/Patient', '[]'), 400],
  ])('%s → %s with an OperationOutcome, nothing written', async (_name, call, status) => {
    await writesNothing(async () => {
      const r = await call();
      expect(r.status).toBe(status);
      if (status === 200) {
        // batch: the entry fails, the request does not
        expect(r.json.entry[0].response.status).toMatch(/^400/);
        expect(r.json.entry[0].response.outcome.issue[0].expression[0]).toBe('Bundle.entry[0].resource.resourceType');
      } else {
        expect(r.json.resourceType).toBe('OperationOutcome');
        expect(r.json.issue[0].severity).toBe('error');
      }
    });
  });

  test('the schema error says where: expression in FHIRPath', async () => {
    const r = await send('POST', '/Patient', { resourceType: 'Patient', name: [{ given: ['A', 3] }] });
    expect(r.status).toBe(400);
    expect(r.json.issue[0].expression[0]).toBe('Patient.name[0].given[1]');
  });

  test.each([
    ['GET', '/Patient/123', 405],
    ['GET', '/Patient?name=x', 405],
    ['GET', '/Patient/123/_history', 405],
    ['GET', '/Patient/123/_history/1', 405],
    ['DELETE', '/Patient/123', 405],
    ['PATCH', '/Patient/123', 405],
    ['POST', '/Patient/123', 405],
    ['PUT', '/Patient', 405],
    ['GET', '/NotAType/1', 404],
    ['GET', '/../nothing-here', 404],
  ])('%s %s → %i OperationOutcome', async (method, p, status) => {
    await writesNothing(async () => {
      const r = await send(method, p, method === 'GET' || method === 'DELETE' ? undefined : { resourceType: 'Patient' });
      expect(r.status).toBe(status);
      expect(r.json.resourceType).toBe('OperationOutcome');
    });
  });

  test('read through fhir-kit-client is refused with 405', async () => {
    const r = await failure(client.read({ resourceType: 'Patient', id: '1' }));
    expect(r.status).toBe(405);
    expect(r.body.resourceType).toBe('OperationOutcome');
  });

  test('every fhir-kit-client response of this file was checked against openapi.yaml', () => {
    // metadata, three updates, batch, transaction, read (the If-Match 412 and the 405 read included)
    expect(fhirClientChecks.count).toBeGreaterThanOrEqual(7);
  });
});
