/**
 * Idempotency-Key (issue 13 item 4), one mechanism with the commit record (docs/commit-protocol.md): a retry with
 * the same key and the same request answers the first response and writes nothing; the same key with another
 * request is 422; the key is scoped per source and stored keyed-hashed; concurrent duplicates commit once.
 */
import type { Bundle, Observation, Patient } from 'fhir/r4';
import { getStatus } from '../../src/fhir/outcomes';
import { normalizeError } from '../../src/fhir/errors';
import { recoverCommits } from '../../src/core/use-cases';
import { ingestRig, rejection, type IngestRig } from './ingest-doubles';

const patient = (family = 'Featherstonehaugh'): Patient => ({
  resourceType: 'Patient',
  name: [{ family }],
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9000000009' }],
});
const rawKeys = (rig: IngestRig): string[] => rig.lake.keys().filter((k) => k.startsWith('raw/'));

describe('Idempotency-Key', () => {
  test('same key, same request: the first response again, nothing written (no object, version, event, identity record)', async () => {
    const rig = ingestRig();
    const first = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-1' }));
    const before = { keys: rig.lake.keys(), events: rig.events.events.length, ids: rig.identity.records.size, index: rig.versions.records.size };
    const again = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-1' }));
    expect(again.replayed).toBe(true);
    expect(again.response).toEqual(first.response);
    expect(getStatus(again.response[0])).toBe(201);
    expect(again.objectKeys).toEqual([]);
    expect({ keys: rig.lake.keys(), events: rig.events.events.length, ids: rig.identity.records.size, index: rig.versions.records.size }).toEqual(before);
  });

  test('same key, another body: 422 naming Idempotency-Key; nothing written', async () => {
    const rig = ingestRig();
    await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-1' }));
    const before = rig.lake.keys();
    const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient('Other'), idempotencyKey: 'k-1' })));
    const outcome = normalizeError(err);
    expect(getStatus(outcome)).toBe(422);
    expect(outcome.issue[0]).toMatchObject({ code: 'business-rule', expression: ['Idempotency-Key'] });
    expect(rig.lake.keys()).toEqual(before);
  });

  test("a caller's text hash (bodyDigest, the bulk import's lines) stands for the body; a request committed before, with the body's own digest, still replays", async () => {
    const rig = ingestRig();
    await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-lines', bodyDigest: 'a'.repeat(64) }));
    expect((await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-lines', bodyDigest: 'a'.repeat(64) }))).replayed).toBe(true);
    // other lines under the same key: another request
    const other = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-lines', bodyDigest: 'b'.repeat(64) })));
    expect(getStatus(normalizeError(other))).toBe(422);
    // committed without a text hash (an import chunk of the previous version), re-run with one: the same request
    const first = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-old' }));
    const again = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-old', bodyDigest: 'c'.repeat(64) }));
    expect(again.replayed).toBe(true);
    expect(again.response).toEqual(first.response);
    const changed = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient('Other'), idempotencyKey: 'k-old', bodyDigest: 'c'.repeat(64) })));
    expect(getStatus(normalizeError(changed))).toBe(422);
  });

  test('a transaction retried: the same ids in the response, urn:uuid references resolved the same way, one lake object per type', async () => {
    const rig = ingestRig();
    const tx: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0c3f', resource: patient(), request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', status: 'final', code: { text: 'HR' }, subject: { reference: 'urn:uuid:0c3f' } } as Observation, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const first = await rig.ingestor.write(rig.request({ method: 'POST', body: structuredClone(tx), idempotencyKey: 'tx-1' }));
    const again = await rig.ingestor.write(rig.request({ method: 'POST', body: structuredClone(tx), idempotencyKey: 'tx-1' }));
    expect(again.response).toEqual(first.response);
    expect(((again.response[1] as Bundle).entry![1]!.resource as Observation).subject).toEqual({ reference: 'Patient/id-1' });
    expect(rawKeys(rig)).toHaveLength(2);
  });

  test('scoped per source: the same key from another source is another request', async () => {
    const rig = ingestRig();
    await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-1' }));
    const other = { source: 'gp-b', clientId: 'client-b' };
    const r = await rig.ingestor.write({ ...rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'k-1' }), principal: other });
    expect(r.replayed).toBeUndefined();
    expect(rawKeys(rig)).toHaveLength(2);
  });

  test('the key is stored keyed-hashed: neither it nor a client id appears in the version index', async () => {
    const rig = ingestRig();
    const obs = { resourceType: 'Observation', id: 'MRN-ZX99812', status: 'final', code: { text: 'HR' } } as Observation;
    await rig.ingestor.write(rig.request({ method: 'PUT', type: 'Observation', id: 'MRN-ZX99812', body: obs, idempotencyKey: 'visit-4711' }));
    const text = JSON.stringify([...rig.versions.records]);
    expect(text).not.toContain('visit-4711');
    expect(text).not.toContain('MRN-ZX99812');
    expect(text).toMatch(/"Request\/[a-z2-7]{32}"/);
    expect(text).toMatch(/"Observation\/[a-z2-7]{32}"/);
  });

  test('10 concurrent sends with one key: one commit, every answer the same response', async () => {
    const rig = ingestRig();
    const results = await Promise.all(Array.from({ length: 10 }, () => rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: 'burst' }))));
    expect(rawKeys(rig)).toHaveLength(1);
    for (const r of results) expect(r.response).toEqual(results.find((x) => !x.replayed)!.response);
    await recoverCommits(rig, { leaseMs: 0 });
    expect(rig.lake.keys().filter((k) => k.startsWith('staging/') || k.startsWith('outbox/'))).toEqual([]);
    expect(rig.identity.pending.size).toBe(0);
  });

  test('a key that is empty, too long or not printable ASCII: 400', async () => {
    const rig = ingestRig();
    for (const key of ['', 'x'.repeat(256), 'naïve', 'with space']) {
      const err = await rejection(rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient(), idempotencyKey: key })));
      expect(getStatus(normalizeError(err))).toBe(400);
    }
    expect(rig.lake.keys()).toEqual([]);
  });
});
