/**
 * The audit record of a committed request across a crash between its append and the outbox's `done.audited`
 * (docs/commit-protocol.md): recovery appends it again, keyed by the request id, and the request still has exactly
 * one audit record. Through the real write path, the real local audit trail on disk and recovery (the rig of the
 * fault-injection suite, test/unit/commit-faults.ts). A control without the key shows the window is real.
 */
import type { Patient } from 'fhir/r4';
import { recoverCommits } from '../../src/core/use-cases';
import { readOutbox } from '../../src/core/ingest';
import type { AuditLog } from '../../src/core/ports';
import { verifyAuditTrail } from '../../src/core/audit';
import { FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';
import { faultRig, type FaultRig } from './commit-faults';

const principal = { source: 'gp-a', clientId: 'client-a' };
const patient: Patient = { resourceType: 'Patient', name: [{ family: 'Featherstonehaugh' }], identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }] };
const create = (requestId: string) => ({ requestId, principal, method: 'POST' as const, type: 'Patient', body: patient });
const recordsOf = (rig: FaultRig, requestId: string) => rig.auditTexts().filter((t) => t.includes(`"${requestId}"`)).length;
const outbox = (rig: FaultRig, requestId: string) => rig.lake.objects.get(`outbox/${requestId}.json`);

/** Makes the lake refuse every rewrite of an outbox (the lake is down once the request has committed). */
function outboxRewritesFail(rig: FaultRig): () => void {
  const put = rig.lake.put.bind(rig.lake);
  rig.lake.put = async (key, body, opts) => {
    if (key.startsWith('outbox/') && rig.lake.objects.has(key)) throw new Error('lake down');
    return put(key, body, opts);
  };
  return () => {
    rig.lake.put = put;
  };
}

/** The audit log without its idempotency key (what recovery did before: a plain append). */
const withoutKey = (audit: AuditLog): AuditLog => ({ append: (entry) => audit.append(entry) });

async function committedWithOutboxNotUpdated(recoveryAudit?: (a: AuditLog) => AuditLog): Promise<FaultRig> {
  const rig = await faultRig();
  const restore = outboxRewritesFail(rig);
  rig.plan.reset({ port: 'EventBus', n: 1, when: 'before' }); // a step fails, so the outbox must be rewritten: it cannot be
  const r = await rig.send(create('a1'));
  restore();
  rig.plan.reset();
  expect(r.status).toBe(201); // committed: success
  const rec = readOutbox(outbox(rig, 'a1')!.body);
  expect(rec.done?.audited).toBeUndefined(); // the outbox does not know the record was appended
  expect(recordsOf(rig, 'a1')).toBe(1);
  const report = await recoverCommits({ ...rig.clean, audit: recoveryAudit ? recoveryAudit(rig.clean.audit) : rig.clean.audit }, { leaseMs: 0 });
  expect(report.rolledForward).toBe(1);
  expect(outbox(rig, 'a1')).toBeUndefined();
  expect(rig.events.events.length).toBeGreaterThan(0);
  return rig;
}

test('the lake fails between the audit append and the outbox update: after recovery, exactly one audit record', async () => {
  const rig = await committedWithOutboxNotUpdated();
  expect(recordsOf(rig, 'a1')).toBe(1);
  expect((await verifyAuditTrail(new FileAuditStore(localAuditDir(rig.dir)))).ok).toBe(true);
});

test('control: the same crash with a recovery that appends without the key gives the duplicate this closes', async () => {
  const rig = await committedWithOutboxNotUpdated(withoutKey);
  expect(recordsOf(rig, 'a1')).toBe(2);
});

test('the process dies right after the audit append (the outbox as first written): recovery, then again: one record', async () => {
  const rig = await faultRig();
  let first: Parameters<FaultRig['lake']['put']> | undefined;
  const put = rig.lake.put.bind(rig.lake);
  rig.lake.put = async (...args) => {
    if (args[0] === 'outbox/a1.json' && !first) first = args;
    return put(...args);
  };
  const r = await rig.send(create('a1'));
  expect(r.status).toBe(201);
  expect(outbox(rig, 'a1')).toBeUndefined(); // done and cleaned up
  expect(recordsOf(rig, 'a1')).toBe(1);
  // the state a kill right after the append leaves: the outbox as written before the commit, nothing marked done
  await put(...first!);
  expect((await recoverCommits(rig.clean, { leaseMs: 0 })).rolledForward).toBe(1);
  await put(...first!); // and once more (a second crash during recovery)
  expect((await recoverCommits(rig.clean, { leaseMs: 0 })).rolledForward).toBe(1);
  expect(outbox(rig, 'a1')).toBeUndefined();
  expect(recordsOf(rig, 'a1')).toBe(1);
  expect((await verifyAuditTrail(new FileAuditStore(localAuditDir(rig.dir)))).ok).toBe(true);
});
