/**
 * Re-sent creates (docs/api.md, "Re-sent creates"): a POST entry with a `urn:uuid:` fullUrl and no ifNoneExist is
 * matched by its fullUrl AND the keyed digest of its content; the same fullUrl with other content is a new resource
 * (never merged). On the Ingestor over in-memory doubles.
 */
import type { Bundle, BundleEntry, Resource } from 'fhir/r4';
import { getStatus } from '../../src/fhir/outcomes';
import { ingestRig, testIdentifierHasher, type IngestRig } from './ingest-doubles';

const rig = (): IngestRig => ingestRig({ identifiers: testIdentifierHasher });
const patient = (family = 'Smith'): Resource => ({ resourceType: 'Patient', name: [{ family }], birthDate: '1970-01-01' }) as Resource;
const encounter = (subject: string, code = 'AMB'): Resource =>
  ({ resourceType: 'Encounter', status: 'finished', class: { code }, subject: { reference: subject } }) as Resource;
const observation = (subject: string, value = 1.5): Resource =>
  ({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: subject }, valueQuantity: { value } }) as Resource;
const post = (resource: Resource, fullUrl: string): BundleEntry => ({
  fullUrl,
  resource: resource as BundleEntry['resource'],
  request: { method: 'POST', url: resource.resourceType },
});
const bundle = (type: 'batch' | 'transaction', entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type, entry });
const P = 'urn:uuid:11111111-1111-4111-8111-111111111111';
const E = 'urn:uuid:22222222-2222-4222-8222-222222222222';
const O = 'urn:uuid:33333333-3333-4333-8333-333333333333';
const synthea = (p = patient(), e = encounter(P), o = observation(P)): Bundle => bundle('transaction', [post(p, P), post(e, E), post(o, O)]);

/** Everything stored anywhere, to compare before/after a re-send. */
function snapshot(r: IngestRig): string {
  return JSON.stringify({ lake: r.lake.keys(), versions: [...r.versions.records], identity: [...r.identity.records.keys()], events: r.events.events.length });
}
const send = (r: IngestRig, body: unknown, extra: Record<string, unknown> = {}): Promise<any> => r.ingestor.write(r.request({ method: 'POST', body, ...extra }));
const rows = (out: any): BundleEntry[] => out.response[1].entry as BundleEntry[];
const raw = (r: IngestRig, type: string): string[] => r.lake.keys().filter((k) => k.startsWith(`raw/${type}/`));

describe('a re-sent transaction', () => {
  test('writes nothing and answers 200 per entry naming the same ids and versions', async () => {
    const r = rig();
    const first = rows(await send(r, synthea()));
    expect(first.map((e) => e.response!.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const before = snapshot(r);
    const commits = r.versions.commits;
    const again = await send(r, synthea());
    expect(again.objectKeys).toEqual([]);
    expect(rows(again).map((e) => e.response!.status.slice(0, 3))).toEqual(['200', '200', '200']);
    expect(rows(again).map((e) => e.response!.location)).toEqual(first.map((e) => e.response!.location));
    expect(snapshot(r)).toBe(before);
    expect(r.versions.commits).toBe(commits);
  });

  test('a client-set id or meta does not change the match (they are not content)', async () => {
    const r = rig();
    await send(r, synthea());
    const before = snapshot(r);
    const p = { ...patient(), id: 'x', meta: { lastUpdated: '2020-01-01T00:00:00Z' } } as Resource;
    await send(r, synthea(p));
    expect(snapshot(r)).toBe(before);
  });

  test('same fullUrl, other content: a new resource, the first untouched and still the one a re-send matches', async () => {
    const r = rig();
    const first = rows(await send(r, synthea()));
    const firstObs = raw(r, 'Observation').map((k) => r.lake.ndjson(k));
    const changed = rows(await send(r, synthea(undefined, undefined, observation(P, 2.5))));
    expect(changed[2].response!.status).toBe('201 Created');
    expect(changed[2].response!.location).not.toBe(first[2].response!.location);
    // the Patient and Encounter are the same content and refer to matched entries: matched
    expect(changed.slice(0, 2).map((e) => e.response!.location)).toEqual(first.slice(0, 2).map((e) => e.response!.location));
    expect(raw(r, 'Observation')).toHaveLength(2);
    // the first Observation's object is unchanged
    for (const [i, k] of raw(r, 'Observation').slice(0, 1).entries()) expect(r.lake.ndjson(k)).toEqual(firstObs[i]);
    // the token stays with the first content: sending the first content again matches the first resource
    const third = rows(await send(r, synthea()));
    expect(third.map((e) => e.response!.location)).toEqual(first.map((e) => e.response!.location));
    // sending the changed content again is not merged either: it creates again (a duplicate, never a wrong merge)
    const fourth = rows(await send(r, synthea(undefined, undefined, observation(P, 2.5))));
    expect(fourth[2].response!.status).toBe('201 Created');
    expect(raw(r, 'Observation')).toHaveLength(3);
  });

  test('an entry that refers to a changed entry is created again (never pointed at the old target)', async () => {
    const r = rig();
    const first = rows(await send(r, synthea()));
    const again = rows(await send(r, synthea(patient('Jones'))));
    expect(again.map((e) => e.response!.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const newPatient = again[0].response!.location!.split('/_history')[0];
    expect(newPatient).not.toBe(first[0].response!.location!.split('/_history')[0]);
    const enc = raw(r, 'Encounter').map((k) => r.lake.ndjson(k)[0]);
    expect(enc).toHaveLength(2);
  });

  test('references of new entries to a matched entry point at the existing id', async () => {
    const r = rig();
    const first = rows(await send(r, synthea()));
    const N = 'urn:uuid:44444444-4444-4444-8444-444444444444';
    const obsY = { resourceType: 'Observation', status: 'final', code: { text: 'y' }, encounter: { reference: E } } as Resource;
    const tx = bundle('transaction', [post(patient(), P), post(encounter(P), E), post(obsY, N)]);
    const out = rows(await send(r, tx));
    expect(out.map((e) => e.response!.status.slice(0, 3))).toEqual(['200', '200', '201']);
    expect(out[1].response!.location).toBe(first[1].response!.location);
    const obs = raw(r, 'Observation').map((k) => r.lake.ndjson(k)[0]).find((o: any) => o.code.text === 'y');
    expect(obs.encounter.reference).toBe(first[1].response!.location!.split('/_history')[0]);
  });

  test('a re-sent batch: nothing written, 200 per entry', async () => {
    const r = rig();
    const b = (): Bundle => ({ ...synthea(), type: 'batch' });
    const first = rows(await send(r, b()));
    const before = snapshot(r);
    const again = await send(r, b());
    expect(again.objectKeys).toEqual([]);
    expect(rows(again).map((e) => e.response!.location)).toEqual(first.map((e) => e.response!.location));
    expect(rows(again).every((e) => e.response!.status.startsWith('200'))).toBe(true);
    expect(snapshot(r)).toBe(before);
  });

  test('matches are per source: another source sending the same Bundle creates its own', async () => {
    const r = rig();
    await send(r, synthea());
    const out = await r.ingestor.write({ ...r.request({ method: 'POST', body: synthea() }), principal: { source: 'gp-b', clientId: 'b' } });
    expect(getStatus(out.response[0])).toBe(200);
    expect(rows(out).map((e) => e.response!.status)).toEqual(['201 Created', '201 Created', '201 Created']);
  });

  test('10 concurrent sends of the same transaction create each resource once', async () => {
    const r = rig();
    const outs = await Promise.all(Array.from({ length: 10 }, () => send(r, synthea())));
    expect(raw(r, 'Encounter')).toHaveLength(1);
    expect(raw(r, 'Observation')).toHaveLength(1);
    const locations = outs.map((o) => rows(o).map((e) => e.response!.location!.split('/_history')[0]).join());
    expect(new Set(locations).size).toBe(1);
    expect(outs.filter((o) => rows(o)[1].response!.status === '201 Created')).toHaveLength(1);
  });

  test('the index records hold no fullUrl and no content in clear', async () => {
    const r = rig();
    await send(r, synthea());
    const idx = [...r.versions.records].filter(([k]) => k.startsWith('ident/'));
    expect(idx.filter(([, v]) => v.digest)).toHaveLength(3);
    const dump = JSON.stringify(idx);
    expect(dump).not.toMatch(/11111111|Smith|finished/);
  });
});
