/**
 * The Ingestor over in-memory ports (test/unit/ingest-doubles.ts): create, update, If-Match, batch, transaction,
 * and a failure injected in each store step. These tests document today's behaviour: what the client gets (the
 * result, or the error and the outcome `normalizeError` turns it into) and what is left in each store.
 */
import type { Bundle, BundleEntry, Observation, OperationOutcome, Patient } from 'fhir/r4';
import { ClientError, OperationOutcomeError, ServerFault, ValidationError, normalizeError } from '../../src/fhir/errors';
import { getStatus, serverError } from '../../src/fhir/outcomes';
import { VersionConflictError } from '../../src/core/ports';
import { readOutbox } from '../../src/core/ingest';
import { InjectedFault, NOW, ingestRig, rejection, testValidator, type IngestRig } from './ingest-doubles';

const DAY = '2024-05-01';
const rawKey = (type: string, requestId: string, source = 'gp-a'): string => `raw/${type}/source=${source}/date=${DAY}/${requestId}.ndjson`;
const manifestKey = (requestId: string): string => `commits/date=${DAY}/${requestId}.json`;

const observation = (extra: Partial<Observation> = {}): Observation => ({
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'Heart rate' },
  valueQuantity: { value: 72, unit: '/min' },
  ...extra,
});

const patient = (extra: Partial<Patient> = {}): Patient => ({
  resourceType: 'Patient',
  name: [{ family: 'Featherstonehaugh', given: ['Oluwaseun'] }],
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9000000009' }],
  ...extra,
});

const diagnostics = (o: OperationOutcome): string => o.issue.map((i) => i.diagnostics ?? '').join(' | ');
const outcomeOf = (err: Error): OperationOutcome => (err as OperationOutcomeError).outcome;
const entryStatuses = (b: Bundle): string[] => (b.entry ?? []).map((e) => e.response!.status);

/** Creates `Patient/{id}` version 1 from `gp-a` (a PUT on a new id). */
async function seedPatient(rig: IngestRig, id: string): Promise<void> {
  await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Patient', id, body: patient({ id }) }));
}

/** Nothing of a request stays in the lake (no staged, raw or manifest object of it). */
function expectNoTraceOf(rig: IngestRig, requestId: string): void {
  expect(rig.lake.keys().filter((k) => k.includes(requestId))).toEqual([]);
}

beforeEach(() => {
  testValidator.calls = 0;
});

describe('create (POST /{type})', () => {
  test('stores the resource with the server id, version 1 and time; commits lake object, index, manifest and event', async () => {
    const rig = ingestRig();
    const r = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Observation', body: observation({ id: 'client-id', meta: { versionId: '9' } }) }));

    const [outcome, resource] = r.response;
    expect(getStatus(outcome)).toBe(201);
    expect(resource).toMatchObject({ resourceType: 'Observation', id: 'id-1', meta: { versionId: '1', lastUpdated: NOW.toISOString() } });
    expect(r.interaction).toBe('create');
    expect(r.objectKeys).toEqual([rawKey('Observation', 'req-1')]);
    expect(r.counts).toEqual({ Observation: 1 });

    // lake: the raw object and the manifest only (staging is cleaned up)
    expect(rig.lake.keys()).toEqual([manifestKey('req-1'), rawKey('Observation', 'req-1')]);
    const [stored] = rig.lake.ndjson(rawKey('Observation', 'req-1'));
    expect(stored).toMatchObject({ id: 'id-1', meta: { versionId: '1', lastUpdated: NOW.toISOString(), source: 'urn:tributary:source:gp-a#req-1' } });
    const head = await rig.lake.head(rawKey('Observation', 'req-1'));
    expect(head!.metadata).toEqual({ source: 'gp-a', requestid: 'req-1', resourcetype: 'Observation', count: '1', policyversion: 'test-policy-1' });
    expect(head!.checksumSha256).toMatch(/^[A-Za-z0-9+/]{43}=$/);

    expect(rig.versions.records.get(rig.indexKey('Observation', 'id-1'))).toEqual({ versionId: '1', source: 'gp-a', lastUpdated: NOW.toISOString() });
    expect(JSON.parse(rig.lake.text(manifestKey('req-1'))!)).toMatchObject({
      requestId: 'req-1',
      source: 'gp-a',
      committedAt: NOW.toISOString(),
      objects: [{ key: rawKey('Observation', 'req-1'), resourceType: 'Observation', count: 1, checksumSha256: head!.checksumSha256 }],
    });
    // the commit entry of the request sits beside the version, under a keyed hash
    expect([...rig.versions.records.keys()].filter((k) => k.startsWith('Request/'))).toHaveLength(1);
    expect(rig.events.events).toEqual([
      {
        type: 'tributary.ingest.committed',
        requestId: 'req-1',
        source: 'gp-a',
        resourceType: 'Observation',
        bucket: 'test-lake',
        objectKey: rawKey('Observation', 'req-1'),
        count: 1,
        checksumSha256: head!.checksumSha256,
        ingestedAt: NOW.toISOString(),
        resources: [{ id: 'id-1', versionId: '1' }],
        policyVersion: 'test-policy-1',
      },
    ]);
  });

  test('the client gets its resource; the lake gets the pseudonymised copy, the identity store the identifiers', async () => {
    const rig = ingestRig();
    const r = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient() }));
    expect(r.response[1]).toMatchObject({ id: 'id-1', name: [{ family: 'Featherstonehaugh' }] });
    const lakeText = rig.lake.text(rawKey('Patient', 'req-1'))!;
    expect(lakeText).not.toContain('Featherstonehaugh');
    expect(lakeText).not.toContain('9000000009');
    expect(JSON.parse(lakeText)).toMatchObject({ id: 'pseudo-id-1' });
    expect(rig.identity.of('pseudo-id-1', 'gp-a')[0]).toEqual({ name: patient().name, identifier: patient().identifier });
    expect(rig.versions.records.get(rig.indexKey('Patient', 'id-1'))).toEqual({ versionId: '1', source: 'gp-a', lastUpdated: NOW.toISOString(), lakeId: 'pseudo-id-1' });
    expect(rig.events.events[0]).toMatchObject({ resources: [{ id: 'pseudo-id-1', versionId: '1' }] });
  });

  test.each([
    ['a resourceType other than the URL type', { type: 'Patient', body: observation() }, /does not match the URL type/],
    ['If-None-Exist where the deployment has no identifier index', { type: 'Observation', body: observation(), ifNoneExist: 'identifier=x' }, /Conditional create is not available/],
    ['a body that is not a resource', { type: 'Observation', body: [observation()] }, /Body must be a FHIR resource/],
  ])('400 for %s; nothing stored', async (_name, req, message) => {
    const rig = ingestRig();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', ...req })));
    expect(err).toBeInstanceOf(ClientError);
    expect(err).not.toBeInstanceOf(ValidationError);
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(diagnostics(outcomeOf(err))).toMatch(message);
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.versions.commits).toBe(0);
  });

  test('403 for a source name that cannot be a lake partition', async () => {
    const rig = ingestRig({ principal: { source: '../gp-a' } });
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Observation', body: observation() })));
    expect(err).toBeInstanceOf(ClientError);
    expect(getStatus(outcomeOf(err))).toBe(403);
    expect(rig.lake.keys()).toEqual([]);
  });

  test('403 when the token scopes do not permit the create, before validation', async () => {
    const rig = ingestRig({ principal: { canWrite: (type) => type !== 'Observation' } });
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Observation', body: observation() })));
    expect(getStatus(outcomeOf(err))).toBe(403);
    expect(diagnostics(outcomeOf(err))).toBe('Token scopes do not permit create of Observation');
    expect(testValidator.calls).toBe(0);
    expect(rig.lake.keys()).toEqual([]);
  });

  test.each([
    ['a missing required element', 400, observation({ status: undefined })],
    ['a broken business rule', 422, observation({ status: 'entered-in-error' })],
  ])('ValidationError for %s (%i) with the issues at their FHIRPath; nothing stored', async (_name, status, body) => {
    const rig = ingestRig();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Observation', body })));
    expect(err).toBeInstanceOf(ValidationError);
    expect(getStatus(outcomeOf(err))).toBe(status);
    expect(outcomeOf(err).issue[0]!.expression).toEqual(['Observation.status']);
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.transform.calls).toBe(0);
  });
});

describe('update (PUT /{type}/{id})', () => {
  test('on a new id: created with version 1 (201), interaction update', async () => {
    const rig = ingestRig();
    const r = await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Observation', id: 'obs-1', body: observation({ id: 'obs-1' }) }));
    expect(getStatus(r.response[0])).toBe(201);
    expect(r.response[1]).toMatchObject({ id: 'obs-1', meta: { versionId: '1' } });
    expect(r.interaction).toBe('update');
    expect(rig.versions.records.get(rig.indexKey('Observation', 'obs-1'))!.versionId).toBe('1');
  });

  test('on an existing resource: version 2 (200), a new lake object beside the first', async () => {
    const rig = ingestRig();
    await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Observation', id: 'obs-1', body: observation({ id: 'obs-1' }) }));
    const r = await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Observation', id: 'obs-1', body: observation({ id: 'obs-1', status: 'amended' }) }));
    expect(getStatus(r.response[0])).toBe(200);
    expect(r.response[1]).toMatchObject({ id: 'obs-1', status: 'amended', meta: { versionId: '2' } });
    expect(rig.versions.records.get(rig.indexKey('Observation', 'obs-1'))!.versionId).toBe('2');
    expect(rig.lake.keys().filter((k) => k.startsWith('raw/'))).toEqual([rawKey('Observation', 'req-1'), rawKey('Observation', 'req-2')]);
    expect(rig.lake.ndjson(rawKey('Observation', 'req-2'))[0]).toMatchObject({ status: 'amended', meta: { versionId: '2' } });
  });

  test.each([
    ['no id in the body', observation(), /needs the resource id in the body/],
    ['a body id other than the URL id', observation({ id: 'other' }), /does not match the URL id/],
  ])('400 for %s', async (_name, body, message) => {
    const rig = ingestRig();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'PUT', type: 'Observation', id: 'obs-1', body })));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(diagnostics(outcomeOf(err))).toMatch(message);
    expect(rig.lake.keys()).toEqual([]);
  });

  test('403 for a resource another source created; the resource is unchanged', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const other = { ...rig.request({ method: 'PUT', type: 'Patient', id: 'p1', body: patient({ id: 'p1' }) }), principal: { source: 'gp-b', clientId: 'b' } };
    const err = await rejection(rig.ingestor.write(other));
    expect(getStatus(outcomeOf(err))).toBe(403);
    expect(diagnostics(outcomeOf(err))).toMatch(/belongs to another source system/);
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))).toMatchObject({ versionId: '1', source: 'gp-a' });
    expectNoTraceOf(rig, other.requestId);
  });
});

describe('If-Match (https://hl7.org/fhir/R4/http.html#concurrency)', () => {
  test('matching the current version: updated to the next one', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const r = await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Patient', id: 'p1', ifMatch: 'W/"1"', body: patient({ id: 'p1' }) }));
    expect(getStatus(r.response[0])).toBe(200);
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))!.versionId).toBe('2');
  });

  test('412 when it does not match; nothing stored', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const req = rig.request({ method: 'PUT', type: 'Patient', id: 'p1', ifMatch: 'W/"3"', body: patient({ id: 'p1' }) });
    const err = await rejection(rig.ingestor.write(req));
    expect(err).toBeInstanceOf(ClientError);
    expect(getStatus(outcomeOf(err))).toBe(412);
    expect(diagnostics(outcomeOf(err))).toBe('If-Match W/"3" does not match the current version W/"1"');
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))!.versionId).toBe('1');
    expectNoTraceOf(rig, req.requestId);
    expect(rig.events.events).toHaveLength(1);
  });

  test('412 on a resource that does not exist', async () => {
    const rig = ingestRig();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'PUT', type: 'Patient', id: 'p9', ifMatch: 'W/"1"', body: patient({ id: 'p9' }) })));
    expect(getStatus(outcomeOf(err))).toBe(412);
    expect(diagnostics(outcomeOf(err))).toBe('If-Match W/"1" does not match the current version (none: resource does not exist)');
    expect(rig.resourceKeys().length).toBe(0);
    expect(rig.lake.keys()).toEqual([]);
  });

  test('400 when it is not an ETag', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'PUT', type: 'Patient', id: 'p1', ifMatch: 'version one', body: patient({ id: 'p1' }) })));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(diagnostics(outcomeOf(err))).toMatch(/If-Match must be an ETag/);
  });

  test('412 on a create', async () => {
    const rig = ingestRig();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', ifMatch: 'W/"1"', body: patient() })));
    expect(getStatus(outcomeOf(err))).toBe(412);
    expect(diagnostics(outcomeOf(err))).toBe('If-Match on a create');
    expect(rig.lake.keys()).toEqual([]);
  });
});

const entry = (method: 'POST' | 'PUT' | 'DELETE', url: string, resource?: object, extra: Partial<BundleEntry> = {}): BundleEntry =>
  ({ ...extra, request: { method, url, ...(extra.request ?? {}) }, ...(resource ? { resource } : {}) }) as BundleEntry;
const bundle = (type: 'batch' | 'transaction', entries: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type, entry: entries });

describe('batch', () => {
  test('mixed entries: the good ones are stored together, the others answered with their own status', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    await seedPatient(rig, 'p2');
    const req = rig.request({
      method: 'POST',
      body: bundle('batch', [
        entry('POST', 'Observation', observation()),
        entry('POST', 'Observation', observation({ status: undefined })),
        entry('DELETE', 'Observation/x'),
        entry('PUT', 'Patient/p1', patient({ id: 'p1' }), { request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"5"' } }),
        entry('PUT', 'Patient/p2', patient({ id: 'p2', gender: 'female' })),
      ]),
    });
    const r = await rig.ingestor.write(req);
    const [summary, response] = r.response as [OperationOutcome, Bundle];
    expect(getStatus(summary)).toBe(200);
    expect(diagnostics(summary)).toBe('2 of 5 entries stored');
    expect(response).toMatchObject({ resourceType: 'Bundle', id: req.requestId, type: 'batch-response' });
    expect(entryStatuses(response)).toEqual(['201 Created', '400 Bad Request', '405 Method Not Allowed', '412 Precondition Failed', '200 OK']);
    expect(response.entry![0]).toMatchObject({
      fullUrl: 'Observation/id-1',
      response: { location: 'Observation/id-1/_history/1', etag: 'W/"1"', lastModified: NOW.toISOString() },
    });
    expect(response.entry![4]!.response).toMatchObject({ location: 'Patient/p2/_history/2', etag: 'W/"2"' });
    expect(r.interaction).toBe('batch');
    expect(r.counts).toEqual({ Observation: 1, Patient: 1 });
    expect(r.objectKeys.sort()).toEqual([rawKey('Observation', req.requestId), rawKey('Patient', req.requestId)]);
    // only the validation failure goes to the triage area
    expect(r.validationFailures).toHaveLength(1);
    expect(r.validationFailures![0]).toMatchObject({ index: 1, method: 'POST', type: 'Observation' });
    expect(r.validationFailures![0]!.outcome.issue[0]!.expression).toEqual(['Bundle.entry[1].resource.status']);
    expect(rig.lake.ndjson(rawKey('Observation', req.requestId))).toHaveLength(1);
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))!.versionId).toBe('1');
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p2'))!.versionId).toBe('2');
    expect(rig.events.events.filter((e) => e.requestId === req.requestId)).toHaveLength(2);
  });

  test('every entry failing: a 200 response, nothing written, no manifest, no event', async () => {
    const rig = ingestRig();
    const req = rig.request({ method: 'POST', body: bundle('batch', [entry('POST', 'Observation', observation({ status: undefined })), entry('POST', 'Patient/x', patient())]) });
    const r = await rig.ingestor.write(req);
    expect(diagnostics(r.response[0])).toBe('0 of 2 entries stored');
    expect(entryStatuses(r.response[1] as Bundle)).toEqual(['400 Bad Request', '400 Bad Request']);
    expect(r.objectKeys).toEqual([]);
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.versions.commits).toBe(0);
    expect(rig.events.events).toEqual([]);
  });

  test('a second entry targeting the same resource is refused (https://hl7.org/fhir/R4/bundle.html#bundle-unique)', async () => {
    const rig = ingestRig();
    const r = await rig.ingestor.write(
      rig.request({ method: 'POST', body: bundle('batch', [entry('PUT', 'Patient/p1', patient({ id: 'p1' })), entry('PUT', 'Patient/p1', patient({ id: 'p1' }))]) }),
    );
    const response = r.response[1] as Bundle;
    expect(entryStatuses(response)).toEqual(['201 Created', '400 Bad Request']);
    expect(diagnostics(response.entry![1]!.response!.outcome as OperationOutcome)).toBe('Entry updates Patient/p1, already updated by entry 0');
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))!.versionId).toBe('1');
  });

  test('POST on the base URL needs a batch or transaction Bundle', async () => {
    const rig = ingestRig();
    const notBundle = await rejection(rig.ingestor.write(rig.request({ method: 'POST', body: observation() })));
    expect(getStatus(outcomeOf(notBundle))).toBe(400);
    const collection = await rejection(rig.ingestor.write(rig.request({ method: 'POST', body: { resourceType: 'Bundle', type: 'collection' } })));
    expect(diagnostics(outcomeOf(collection))).toBe('Bundle.type must be batch or transaction, got collection');
    const put = await rejection(rig.ingestor.write(rig.request({ method: 'PUT', body: bundle('batch', []) })));
    expect(getStatus(outcomeOf(put))).toBe(405);
  });
});

describe('transaction (https://hl7.org/fhir/R4/http.html#transaction)', () => {
  test('all stored at once; urn:uuid references point at the assigned ids in the response and in the lake', async () => {
    const rig = ingestRig();
    const req = rig.request({
      method: 'POST',
      body: bundle('transaction', [
        entry('POST', 'Patient', patient(), { fullUrl: 'urn:uuid:7f2d1c3a-0000-4000-8000-000000000001' }),
        entry('POST', 'Observation', observation({ subject: { reference: 'urn:uuid:7f2d1c3a-0000-4000-8000-000000000001' } })),
      ]),
    });
    const r = await rig.ingestor.write(req);
    const response = r.response[1] as Bundle;
    expect(response.type).toBe('transaction-response');
    expect(entryStatuses(response)).toEqual(['201 Created', '201 Created']);
    expect((response.entry![1]!.resource as Observation).subject).toEqual({ reference: 'Patient/id-1' });
    expect(r.interaction).toBe('transaction');
    expect(rig.lake.ndjson(rawKey('Observation', req.requestId))[0].subject).toEqual({ reference: 'Patient/id-1' });
    const manifest = JSON.parse(rig.lake.text(manifestKey(req.requestId))!);
    expect(manifest.objects.map((o: { key: string }) => o.key).sort()).toEqual([rawKey('Observation', req.requestId), rawKey('Patient', req.requestId)]);
    expect(rig.events.events.map((e) => e.resourceType).sort()).toEqual(['Observation', 'Patient']);
    expect(rig.resourceKeys()).toEqual([rig.indexKey('Observation', 'id-2'), rig.indexKey('Patient', 'id-1')].sort());
  });

  test('one invalid entry fails the whole transaction with a ValidationError; nothing stored', async () => {
    const rig = ingestRig();
    const err = await rejection(
      rig.ingestor.write(
        rig.request({ method: 'POST', body: bundle('transaction', [entry('POST', 'Patient', patient()), entry('POST', 'Observation', observation({ status: undefined }))]) }),
      ),
    );
    expect(err).toBeInstanceOf(ValidationError);
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(outcomeOf(err).issue).toHaveLength(1);
    expect(outcomeOf(err).issue[0]).toMatchObject({ expression: ['Bundle.entry[1].resource.status'], diagnostics: 'Bundle.entry[1]: Observation.status: minimum required = 1' });
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.versions.commits).toBe(0);
    expect(rig.transform.calls).toBe(0);
  });

  test('failures of several kinds: a ClientError with the first failure status and every entry issue', async () => {
    const rig = ingestRig();
    const err = await rejection(
      rig.ingestor.write(
        rig.request({
          method: 'POST',
          body: bundle('transaction', [entry('POST', 'Observation', observation()), entry('DELETE', 'Patient/p1'), entry('POST', 'Observation', observation({ status: 'entered-in-error' }))]),
        }),
      ),
    );
    expect(err).toBeInstanceOf(ClientError);
    expect(err).not.toBeInstanceOf(ValidationError);
    expect(getStatus(outcomeOf(err))).toBe(405);
    expect(outcomeOf(err).issue.map((i) => i.diagnostics!.split(':')[0])).toEqual(['Bundle.entry[1]', 'Bundle.entry[2]']);
    expect(rig.lake.keys()).toEqual([]);
  });

  test('a version failure (If-Match) fails the whole transaction; the good entry is not stored', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const req = rig.request({
      method: 'POST',
      body: bundle('transaction', [
        entry('POST', 'Observation', observation()),
        entry('PUT', 'Patient/p1', patient({ id: 'p1' }), { request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"2"' } }),
      ]),
    });
    const err = await rejection(rig.ingestor.write(req));
    expect(getStatus(outcomeOf(err))).toBe(412);
    expectNoTraceOf(rig, req.requestId);
    expect(rig.resourceKeys()).toEqual([rig.indexKey('Patient', 'p1')]);
  });
});

describe('a failure in each store step', () => {
  /** What the client gets for an adapter's error: the generic 500 (the handler maps errors with normalizeError). */
  const expectServerError = (err: Error): void => {
    expect(err).toBeInstanceOf(InjectedFault);
    expect(normalizeError(err)).toEqual(serverError());
  };
  const createPatient = (rig: IngestRig) => rig.request({ method: 'POST', type: 'Patient', body: patient() });

  test('the lake transform fails: 500; nothing written anywhere', async () => {
    const rig = ingestRig();
    rig.transform.fail = new InjectedFault('policy');
    expectServerError(await rejection(rig.ingestor.write(createPatient(rig))));
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.identity.records.size).toBe(0);
    expect(rig.versions.commits).toBe(0);
  });

  test('the outbox put fails: 500; nothing written anywhere', async () => {
    const rig = ingestRig();
    rig.lake.failPut = (k) => k.startsWith('outbox/');
    const req = rig.request({ method: 'POST', body: bundle('batch', [entry('POST', 'Patient', patient()), entry('POST', 'Observation', observation())]) });
    expectServerError(await rejection(rig.ingestor.write(req)));
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.identity.records.size + rig.identity.pending.size).toBe(0);
    expect(rig.versions.commits).toBe(0);
    expect(rig.events.events).toEqual([]);
  });

  test('identity store put fails: 500; staged objects deleted, no version, no event', async () => {
    const rig = ingestRig();
    rig.identity.fail = new InjectedFault('vault down');
    expectServerError(await rejection(rig.ingestor.write(createPatient(rig))));
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.versions.commits).toBe(0);
    expect(rig.events.events).toEqual([]);
  });

  test('version index commit fails: 500; nothing of the request stays, its identity records included; no event', async () => {
    const rig = ingestRig();
    rig.versions.failNextCommit = new InjectedFault('index down');
    expectServerError(await rejection(rig.ingestor.write(createPatient(rig))));
    expect(rig.lake.keys()).toEqual([]);
    expect(rig.resourceKeys().length).toBe(0);
    expect(rig.identity.records.size + rig.identity.pending.size).toBe(0);
    expect(rig.events.events).toEqual([]);
  });

  test('version conflict at the commit point: 409 Conflict with no id in it; nothing of the request stays in the lake', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'pas-4711');
    rig.versions.failNextCommit = new VersionConflictError('Patient/pas-4711');
    const req = rig.request({ method: 'PUT', type: 'Patient', id: 'pas-4711', body: patient({ id: 'pas-4711' }) });
    const err = await rejection(rig.ingestor.write(req));
    expect(err).toBeInstanceOf(ClientError);
    expect(err.cause).toBeInstanceOf(VersionConflictError);
    expect(err.cause).toBeInstanceOf(ServerFault);
    const outcome = normalizeError(err);
    expect(getStatus(outcome)).toBe(409);
    expect(outcome.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'conflict', diagnostics: 'A concurrent request changed this resource; retry with the new version' })]);
    expect(JSON.stringify(outcome)).not.toContain('pas-4711');
    expectNoTraceOf(rig, req.requestId);
    expect(rig.versions.records.get(rig.indexKey('Patient', 'pas-4711'))!.versionId).toBe('1');
  });

  test('two concurrent updates of one version: one wins (200), the other gets 409; one new version', async () => {
    const rig = ingestRig();
    await seedPatient(rig, 'p1');
    const a = rig.request({ method: 'PUT', type: 'Patient', id: 'p1', body: patient({ id: 'p1', gender: 'female' }) });
    const b = rig.request({ method: 'PUT', type: 'Patient', id: 'p1', body: patient({ id: 'p1', gender: 'male' }) });
    const results = await Promise.allSettled([rig.ingestor.write(a), rig.ingestor.write(b)]);
    const statuses = results.map((r) => (r.status === 'fulfilled' ? getStatus(r.value.response[0]) : getStatus(normalizeError(r.reason))));
    expect(statuses.sort()).toEqual([200, 409]);
    expect(rig.versions.records.get(rig.indexKey('Patient', 'p1'))!.versionId).toBe('2');
    expect(rig.lake.keys().filter((k) => k.startsWith('raw/'))).toHaveLength(2);
  });

  test('after the commit point nothing fails the request: raw, manifest or event failures answer success and stay in the outbox', async () => {
    for (const fault of ['raw', 'manifest', 'events'] as const) {
      const rig = ingestRig();
      if (fault === 'raw') rig.lake.failPut = (k) => k.startsWith('raw/');
      if (fault === 'manifest') rig.lake.failPut = (k) => k.startsWith('commits/');
      if (fault === 'events') rig.events.fail = new InjectedFault('bus down');
      const req = createPatient(rig);
      const r = await rig.ingestor.write(req);
      expect(getStatus(r.response[0])).toBe(201);
      expect(rig.versions.records.get(rig.indexKey('Patient', 'id-1'))).toMatchObject({ versionId: '1' });
      // the outbox stays, with the steps done so far, for recovery
      const outbox = readOutbox(Buffer.from(rig.lake.text(`outbox/${req.requestId}.json`)!, 'utf8')) as unknown as { done: Record<string, boolean | undefined> };
      expect(outbox.done).toMatchObject({ promoted: true, audited: true, ...(fault === 'raw' ? {} : { written: true }) });
      expect(outbox.done[fault === 'raw' ? 'written' : fault]).toBeUndefined();
      expect(rig.identity.of('pseudo-id-1', 'gp-a')).toHaveLength(1);
    }
  });
});
