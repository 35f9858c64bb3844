/**
 * The outbox object (src/core/ingest/commit-record.ts, docs/commit-protocol.md): format 2 (the record as a JSON
 * line, then the lake objects' NDJSON as it is) is written; format 1 (one JSON document with `bodies`, written by
 * earlier versions) is still read, and recovery rolls such a request forward with the same bytes.
 */
import type { Patient } from 'fhir/r4';
import { outboxBytes, readOutbox, type CommitRecord } from '../../src/core/ingest';
import { recoverCommits } from '../../src/core/use-cases';
import { ServerFault } from '../../src/fhir/errors';
import { getStatus } from '../../src/fhir/outcomes';
import { ingestRig } from './ingest-doubles';

const bodyA = '{"resourceType":"Patient","id":"a","name":[{"family":"Brontë 🙂"}]}\n';
const bodyB = '{"resourceType":"Observation","id":"b","note":[{"text":"line\\nbreak \\"quoted\\""}]}\n{"resourceType":"Observation","id":"c"}\n';

const record = (): CommitRecord =>
  ({
    requestId: 'req-1',
    source: 'gp-a',
    committedAt: '2026-12-04T10:00:00.000Z',
    date: '2026-12-04',
    startedAt: '2026-12-04T10:00:00.000Z',
    requestKey: 'Request/x',
    requestVersion: '1',
    digest: 'd',
    interaction: 'batch',
    objects: [
      { key: 'raw/Patient/a.ndjson', resourceType: 'Patient', count: 1, checksumSha256: 'x', ids: [{ id: 'a', versionId: '1' }], metadata: {} },
      { key: 'raw/Observation/b.ndjson', resourceType: 'Observation', count: 2, checksumSha256: 'y', ids: [], metadata: {} },
    ],
    identities: [],
    audit: { status: 200 },
    replay: { lastUpdated: '2026-12-04T10:00:00.000Z', entries: [] },
  }) as unknown as CommitRecord;

describe('outbox object format', () => {
  const encoded = new Map([
    ['raw/Patient/a.ndjson', Buffer.from(bodyA, 'utf8')],
    ['raw/Observation/b.ndjson', Buffer.from(bodyB, 'utf8')],
  ]);

  test('format 2: the record (no bodies, their byte lengths) on the first line, then the bodies byte for byte', () => {
    const bytes = outboxBytes(record(), encoded);
    const nl = bytes.indexOf(0x0a);
    const head = JSON.parse(bytes.toString('utf8', 0, nl)) as Record<string, unknown>;
    expect(head.bodies).toBeUndefined();
    expect(head.bodyBytes).toEqual([Buffer.byteLength(bodyA), Buffer.byteLength(bodyB)]);
    expect(bytes.subarray(nl + 1).equals(Buffer.from(bodyA + bodyB, 'utf8'))).toBe(true);
    expect(readOutbox(bytes)).toEqual({ ...record(), bodies: { 'raw/Patient/a.ndjson': bodyA, 'raw/Observation/b.ndjson': bodyB } });
  });

  test('bodies given as text (a record read back) are written the same', () => {
    const again = outboxBytes({ ...record(), bodies: { 'raw/Patient/a.ndjson': bodyA, 'raw/Observation/b.ndjson': bodyB } });
    expect(again.equals(outboxBytes(record(), encoded))).toBe(true);
    expect(() => outboxBytes(record())).toThrow(ServerFault);
  });

  test('format 1 (one JSON document with bodies) and a manifest (JSON, no bodies) are read', () => {
    const v1 = { ...record(), bodies: { 'raw/Patient/a.ndjson': bodyA, 'raw/Observation/b.ndjson': bodyB } };
    expect(readOutbox(Buffer.from(JSON.stringify(v1), 'utf8'))).toEqual(v1);
    const { bodies: _b, ...manifest } = v1;
    expect(readOutbox(Buffer.from(JSON.stringify(manifest), 'utf8'))).toEqual(manifest);
  });

  test('an object cut short or with bytes to spare is refused, not read as a shorter body', () => {
    const bytes = outboxBytes(record(), encoded);
    expect(() => readOutbox(bytes.subarray(0, bytes.length - 1))).toThrow(/cut short/);
    expect(() => readOutbox(Buffer.concat([bytes, Buffer.from('{}\n')]))).toThrow(/bytes more/);
  });

  test('recovery rolls a format-1 outbox (left by an earlier version) forward with the same raw bytes', async () => {
    const rig = ingestRig();
    rig.lake.failPut = (k) => k.startsWith('raw/');
    const patient: Patient = { resourceType: 'Patient', name: [{ family: 'Ó Súilleabháin' }] };
    const r = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient }));
    expect(getStatus(r.response[0])).toBe(201);
    rig.lake.failPut = undefined;
    const key = rig.lake.keys().find((k) => k.startsWith('outbox/'))!;
    const rec = readOutbox(Buffer.from(rig.lake.text(key)!, 'utf8'));
    // what an earlier version wrote: the record with its bodies inside, as one JSON document
    await rig.lake.put(key, JSON.stringify(rec));
    expect(await recoverCommits(rig, { leaseMs: 0 })).toMatchObject({ seen: 1, rolledForward: 1, failed: 0 });
    const raw = rig.lake.keys().filter((k) => k.startsWith('raw/'));
    expect(raw).toEqual([rec.objects[0]!.key]);
    expect(rig.lake.text(raw[0]!)).toBe(rec.bodies![raw[0]!]);
    expect(rig.lake.text(raw[0]!)).toContain('"resourceType":"Patient"');
  });
});
