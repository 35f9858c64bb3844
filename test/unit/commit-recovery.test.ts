/**
 * Recovery of the commit protocol (src/core/use-cases/recover-commits.ts): a writer within its lease is left alone;
 * after it, an undecided request is aborted for good, so a late commit of it loses (the writer answers 5xx and
 * nothing of the request is visible); a committed request whose writer died is rolled forward; staged objects
 * without an outbox are swept.
 */
import type { Patient } from 'fhir/r4';
import { recoverCommits } from '../../src/core/use-cases';
import type { VersionIndex } from '../../src/core/ports';
import { getStatus } from '../../src/fhir/outcomes';
import { normalizeError } from '../../src/fhir/errors';
import { ingestRig, rejection } from './ingest-doubles';

const patient: Patient = { resourceType: 'Patient', name: [{ family: 'Featherstonehaugh' }] };

/** Holds the version index's commit until released (a writer paused at its commit point). */
function pauseCommit(versions: VersionIndex): { reached: Promise<void>; release: () => void } {
  const original = versions.commit.bind(versions);
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const at = new Promise<void>((r) => (reached = r));
  let first = true;
  versions.commit = async (entries) => {
    if (first) {
      first = false;
      reached();
      await gate;
    }
    return original(entries);
  };
  return { reached: at, release };
}

test('a writer within its lease is left alone; after it, recovery aborts the request and the late commit loses: 5xx, nothing visible', async () => {
  const rig = ingestRig();
  const pause = pauseCommit(rig.versions);
  const write = rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient }));
  await pause.reached;
  expect(await recoverCommits(rig, { leaseMs: 60_000 })).toMatchObject({ seen: 1, inFlight: 1, rolledBack: 0 });
  expect(rig.lake.keys().some((k) => k.startsWith('outbox/'))).toBe(true);
  expect(await recoverCommits(rig, { leaseMs: 0 })).toMatchObject({ seen: 1, rolledBack: 1 });
  pause.release();
  const err = await rejection(write);
  expect(getStatus(normalizeError(err))).toBe(500);
  expect(rig.lake.keys()).toEqual([]);
  expect(rig.identity.records.size + rig.identity.pending.size).toBe(0);
  expect(rig.resourceKeys()).toEqual([]);
  expect(rig.events.events).toEqual([]);
});

test('a committed request whose roll-forward failed is completed by recovery: raw object, event, identity record, manifest; outbox gone', async () => {
  const rig = ingestRig();
  rig.lake.failPut = (k) => k.startsWith('raw/');
  rig.events.fail = new Error('bus down');
  const r = await rig.ingestor.write(rig.request({ method: 'POST', type: 'Patient', body: patient }));
  expect(getStatus(r.response[0])).toBe(201); // committed: success, whatever fails after
  expect(rig.lake.keys().filter((k) => k.startsWith('raw/'))).toEqual([]);
  rig.lake.failPut = undefined;
  rig.events.fail = undefined;
  expect(await recoverCommits(rig, { leaseMs: 0 })).toMatchObject({ seen: 1, rolledForward: 1 });
  expect(rig.lake.keys().filter((k) => !k.startsWith('raw/') && !k.startsWith('commits/'))).toEqual([]);
  expect(rig.lake.keys().filter((k) => k.startsWith('raw/'))).toHaveLength(1);
  expect(rig.events.events).toHaveLength(1);
  expect(rig.identity.records.size).toBe(1);
});

test('staged objects with no outbox (a partial clean-up) are swept; a live request keeps its own', async () => {
  const rig = ingestRig();
  await rig.lake.put('staging/gone-1/Patient.ndjson', '{}\n');
  await rig.lake.put('outbox/live-1.json', JSON.stringify({ requestId: 'live-1', requestKey: 'Request/x', startedAt: new Date().toISOString(), objects: [], identities: [] }));
  await rig.lake.put('staging/live-1/Patient.ndjson', '{}\n');
  const report = await recoverCommits(rig, { leaseMs: 60_000 });
  expect(report).toMatchObject({ swept: 1, inFlight: 1 });
  expect(rig.lake.keys()).toEqual(['outbox/live-1.json', 'staging/live-1/Patient.ndjson']);
});
