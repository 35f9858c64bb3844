/**
 * One correlation id per request (issue 5: "a correlation id shared by the response header, the audit record
 * and the event"): for an accepted transaction, the `X-Request-Id` response header is the request id of its one
 * audit record, of its lake objects (key, object metadata, each resource's meta.source) and commit manifest, of
 * each event published for it, and the `correlationId` of its API log line. A refused request shares its id
 * between header, audit record and log line too.
 */
import type { Bundle } from 'fhir/r4';
import { apiLogLines, auditRecords, auditRequestId, bucket, E2E_SOURCE, send, subscribeEvents, type EventSubscription } from './helpers';

let sub: EventSubscription;
beforeAll(async () => {
  sub = await subscribeEvents();
});
afterAll(() => sub?.close());

/** The API log lines of one request (the log reaches the file asynchronously: waits for the `request` line). */
async function logLinesOf(requestId: string): Promise<Record<string, any>[]> {
  for (let i = 0; i < 100; i++) {
    const lines = apiLogLines().filter((l) => l.correlationId === requestId);
    if (lines.some((l) => l.message === 'request')) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
  return apiLogLines().filter((l) => l.correlationId === requestId);
}

const LAKE_KEY_SYSTEM = 'https://tributary.nhs.example/fhir/NamingSystem/lake-object-key';

describe('correlation id', () => {
  test('an accepted transaction: header = audit record = lake objects, metadata and manifest = events = log line', async () => {
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: 'urn:uuid:0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6' } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    const r = await send('POST', '', bundle);
    expect(r.status).toBe(200);
    const id = r.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);

    // the audit trail: exactly one record carries the id, and it is this request's (its lake keys, its source)
    const audit = auditRecords().filter((a) => auditRequestId(a) === id);
    expect(audit).toHaveLength(1);
    expect(audit[0].subtype[0].code).toBe('transaction');
    expect(audit[0].outcomeDesc).toBe('200');
    expect(audit[0].agent.some((a: any) => a.who?.identifier?.value === E2E_SOURCE)).toBe(true);
    const auditedKeys = audit[0].entity.filter((e: any) => e.what?.identifier?.system === LAKE_KEY_SYSTEM).map((e: any) => e.what.identifier.value).sort();

    // the lake: one object per type, named by the id, with the id in its metadata and in each resource's meta.source
    const lake = bucket();
    const keys = (await lake.list('raw/')).filter((k) => k.includes(id)).sort();
    expect(keys).toEqual([
      expect.stringMatching(new RegExp(`^raw/Observation/source=${E2E_SOURCE}/date=[0-9-]+/${id}\\.ndjson$`)),
      expect.stringMatching(new RegExp(`^raw/Patient/source=${E2E_SOURCE}/date=[0-9-]+/${id}\\.ndjson$`)),
    ]);
    expect(auditedKeys).toEqual(keys);
    for (const k of keys) {
      expect((await lake.head(k))?.metadata.requestid).toBe(id);
      const lines = Buffer.from((await lake.get(k))!).toString('utf8').split('\n').filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]).meta.source).toBe(`urn:tributary:source:${E2E_SOURCE}#${id}`);
    }
    // the commit manifest of the request
    const manifests = (await lake.list('commits/')).filter((k) => k.includes(id));
    expect(manifests).toEqual([expect.stringMatching(new RegExp(`^commits/date=[0-9-]+/${id}\\.json$`))]);
    const manifest = JSON.parse(Buffer.from((await lake.get(manifests[0]))!).toString('utf8'));
    expect(manifest.requestId).toBe(id);
    expect(manifest.objects.map((o: any) => o.key).sort()).toEqual(keys);

    // the event path: one event per lake object, each carrying the id
    const events = await sub.waitFor((e) => keys.includes(e.objectKey as string), keys.length);
    expect(events).toHaveLength(keys.length);
    for (const e of events) {
      expect(e.type).toBe('tributary.ingest.committed');
      expect(e.requestId).toBe(id);
    }

    // the API log: the request's line carries the id as its correlationId
    const log = await logLinesOf(id);
    const requestLines = log.filter((l) => l.message === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ correlationId: id, interaction: 'transaction', status: 200, source: E2E_SOURCE, objects: 2 });
  });

  test('a refused request: header = audit record = log line, and no lake object or event carries the id', async () => {
    const r = await send('POST', '/Patient', { resourceType: 'Patient' }, { Authorization: 'Bearer not-a-jwt' });
    expect(r.status).toBe(401);
    const id = r.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const audit = auditRecords().filter((a) => auditRequestId(a) === id);
    expect(audit).toHaveLength(1);
    expect(audit[0].outcomeDesc).toBe('401 login');
    const log = (await logLinesOf(id)).filter((l) => l.message === 'request');
    expect(log).toHaveLength(1);
    expect(log[0]).toMatchObject({ correlationId: id, status: 401 });
    expect((await bucket().list('raw/')).filter((k) => k.includes(id))).toEqual([]);
    expect(sub.events.filter((e) => e.requestId === id)).toEqual([]);
  });
});
