/**
 * Fault-injection suite of the commit protocol (docs/commit-protocol.md, issue 14): for create, update, batch,
 * transaction and a refused request, a fault at every call of every port (ObjectStore, VersionIndex, EventBus,
 * IdentityVault, AuditLog), before the call and after it, then recovery, then a retry with the same Idempotency-Key,
 * then recovery again; then the invariants:
 * - a request answered 4xx, or 5xx, did not commit and left nothing visible and nothing identifying;
 * - every committed request is fully visible: the lake objects its manifest names (checksums match), an event per
 *   object, its identity records current, exactly one audit record;
 * - no orphan: no outbox, no staged object, no raw object no manifest names, no identity record of an uncommitted
 *   request;
 * - retries never duplicate: exactly one committed request per Idempotency-Key, and a retry of a committed request
 *   answers its first response.
 * Prints the number of (request kind × fault point) cases tried and of invariant violations, and fails unless 0.
 * Audit faults are injected after the append too (the record is written, the writer is told it failed, so the
 * outbox never records `done.audited`): recovery appends again, keyed by the request id, and finds the record
 * (exactly one; docs/commit-protocol.md).
 */
import type { Bundle, Patient } from 'fhir/r4';
import type { CommitRecord, WriteRequest } from '../../src/core/ingest';
import { recoverCommits } from '../../src/core/use-cases';
import { faultRig, type Fault, type FaultRig, type PortName } from './commit-faults';

const principal = { source: 'gp-a', clientId: 'client-a' };
const patient = (id?: string, family = 'Featherstonehaugh'): Patient => ({
  resourceType: 'Patient',
  ...(id ? { id } : {}),
  name: [{ family, given: ['Oluwaseun'] }],
  identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }],
  birthDate: '1970-01-01',
});
const observation = (subject: string) => ({ resourceType: 'Observation', status: 'final', code: { text: 'HR' }, subject: { reference: subject }, valueQuantity: { value: 72 } });

type Kind = 'create' | 'update' | 'batch' | 'transaction' | 'refused';
const KINDS: Kind[] = ['create', 'update', 'batch', 'transaction', 'refused'];
const PORTS: PortName[] = ['ObjectStore', 'VersionIndex', 'EventBus', 'IdentityVault', 'AuditLog'];

/** The request of a kind, under a request id and an Idempotency-Key. */
function request(kind: Kind, requestId: string, idempotencyKey: string): WriteRequest {
  const base = { requestId, principal, idempotencyKey };
  switch (kind) {
    case 'create':
      return { ...base, method: 'POST', type: 'Patient', body: patient() };
    case 'update':
      return { ...base, method: 'PUT', type: 'Patient', id: 'p1', body: patient('p1', 'Smythe') };
    case 'refused':
      return { ...base, method: 'PUT', type: 'Patient', id: 'p1', ifMatch: 'W/"7"', body: patient('p1') };
    case 'batch':
    case 'transaction': {
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: kind,
        entry: [
          { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patient(), request: { method: 'POST', url: 'Patient' } },
          { resource: observation(kind === 'transaction' ? 'urn:uuid:11111111-1111-4111-8111-111111111111' : 'Patient/p1') as never, request: { method: 'POST', url: 'Observation' } },
          kind === 'batch'
            ? { resource: patient('p1'), request: { method: 'PUT', url: 'Patient/p1', ifMatch: 'W/"9"' } } // refused entry (412)
            : { resource: patient('p2'), request: { method: 'PUT', url: 'Patient/p2' } },
        ],
      };
      return { ...base, method: 'POST', body: bundle };
    }
  }
}

/** A rig with `Patient/p1` version 1 stored (not part of the case). */
async function seeded(): Promise<FaultRig> {
  const rig = await faultRig();
  const r = await rig.send({ requestId: 'seed', principal, method: 'PUT', type: 'Patient', id: 'p1', body: patient('p1') });
  if (r.status !== 201) throw new Error(`seed failed: ${r.status}`);
  return rig;
}

/** Is the request committed (its `Request/` entry names it)? */
async function committed(rig: FaultRig, requestId: string, key: string): Promise<boolean> {
  const k = rig.indexKeys.request(principal.source, requestId, key);
  const r = (await rig.versions.get([k])).get(k);
  return r !== undefined && r.requestId === requestId && !r.aborted;
}

const manifests = (rig: FaultRig): CommitRecord[] =>
  [...rig.lake.objects.keys()].filter((k) => k.startsWith('commits/')).map((k) => JSON.parse(Buffer.from(rig.lake.objects.get(k)!.body).toString('utf8')) as CommitRecord);

/** Runs one case; returns the invariant violations found. */
async function runCase(kind: Kind, fault: Fault | undefined): Promise<{ fired: boolean; violations: string[] }> {
  const rig = await seeded();
  const v: string[] = [];
  const key = `key-${kind}`;
  rig.plan.reset(fault);
  const first = await rig.send(request(kind, 'a1', key));
  const fired = rig.plan.fired;
  rig.plan.reset();
  await recoverCommits(rig.clean, { leaseMs: 0 });
  const second = await rig.send(request(kind, 'a2', key));
  await recoverCommits(rig.clean, { leaseMs: 0 });

  const c1 = await committed(rig, 'a1', key);
  const c2 = await committed(rig, 'a2', key);
  // refusals and 5xx: not committed, nothing left
  for (const [id, r, c] of [['a1', first, c1], ['a2', second, c2]] as const) {
    if (r.status >= 400 && c) v.push(`${id} answered ${r.status} but committed`);
    if (!c) {
      const lakeLeft = [...rig.lake.objects.keys()].filter((k) => k.includes(id));
      if (lakeLeft.length > 0) v.push(`${id} (not committed) left lake objects ${lakeLeft.join(',')}`);
      const idLeft = [...rig.identityStore.objects.keys()].filter((k) => k.includes(`/${id}-`));
      if (idLeft.length > 0) v.push(`${id} (not committed) left identity records`);
    }
  }
  // the expected outcome of the retry, and exactly one committed request per key
  const ours = manifests(rig).filter((m) => m.requestId !== 'seed');
  if (kind === 'refused') {
    if (second.status !== 412) v.push(`refused retry answered ${second.status}`);
    if (ours.length !== 0) v.push(`refused request committed ${ours.length} times`);
  } else {
    if (second.status >= 300) v.push(`retry answered ${second.status}`);
    if (ours.length !== 1) v.push(`${ours.length} committed requests for one Idempotency-Key`);
    if (c1 && c2) v.push('both attempts committed');
    if (first.status < 300 && !second.result?.replayed) v.push('the retry of an answered request was not a replay');
    if (first.status < 300 && second.result && JSON.stringify(second.result.response) !== JSON.stringify(first.result!.response)) v.push('the replay differs from the first response');
  }
  // every committed request fully visible
  const audits = rig.auditTexts();
  for (const m of manifests(rig)) {
    for (const o of m.objects) {
      const head = await rig.lake.head(o.key);
      if (!head || head.checksumSha256 !== o.checksumSha256) v.push(`${m.requestId}: lake object ${o.key} missing or different`);
      if (!rig.events.events.some((e) => (e as { objectKey?: string }).objectKey === o.key)) v.push(`${m.requestId}: no event for ${o.key}`);
    }
    for (const i of m.identities) {
      const got = await rig.vault.get(i.pseudonym);
      if (!got.some((g) => g.requestId === m.requestId && g.source === i.source)) v.push(`${m.requestId}: identity record not current`);
    }
    const n = audits.filter((t) => t.includes(`"${m.requestId}"`)).length;
    if (n !== 1) v.push(`${m.requestId}: ${n} audit records`);
  }
  for (const id of ['a1', 'a2']) {
    if (audits.filter((t) => t.includes(`"${id}"`)).length > 1) v.push(`${id}: more than one audit record`);
  }
  // no orphans
  const named = new Set(manifests(rig).flatMap((m) => m.objects.map((o) => o.key)));
  for (const k of rig.lake.objects.keys()) {
    if (k.startsWith('outbox/') || k.startsWith('staging/')) v.push(`orphan ${k}`);
    if (k.startsWith('raw/') && !named.has(k)) v.push(`raw object no manifest names: ${k}`);
  }
  const idKeys = [...rig.identityStore.objects.keys()];
  for (const k of idKeys.filter((x) => x.endsWith('.enc'))) {
    if (!idKeys.includes(k.replace(/\.enc$/, '.committed'))) v.push(`identity record never made current: ${k}`);
  }
  // versions: an update makes version 2 exactly once
  if (kind === 'update') {
    const p1 = (await rig.versions.get([rig.indexKeys.resource('Patient', 'p1')])).get(rig.indexKeys.resource('Patient', 'p1'));
    if (p1?.versionId !== '2') v.push(`Patient/p1 at version ${p1?.versionId}`);
  }
  return { fired, violations: v.map((x) => `${kind} ${fault ? `${fault.port}#${fault.n} ${fault.when}` : 'no fault'}: ${x}`) };
}

jest.setTimeout(300_000);

test('fault at every step of create, update, batch, transaction and a refusal, then recovery: 0 invariant violations', async () => {
  let cases = 0;
  const violations: string[] = [];
  const byKind: Record<string, number> = {};
  for (const kind of KINDS) {
    // a dry run counts each port's calls for this kind (the fault points)
    const dry = await seeded();
    dry.plan.reset();
    await dry.send(request(kind, 'a1', `key-${kind}`));
    const counts = { ...dry.plan.calls };
    const base = await runCase(kind, undefined);
    violations.push(...base.violations);
    cases++;
    for (const port of PORTS) {
      for (let n = 1; n <= counts[port]; n++) {
        for (const when of ['before', 'after'] as const) {
          const r = await runCase(kind, { port, n, when });
          if (!r.fired) continue;
          cases++;
          byKind[kind] = (byKind[kind] ?? 0) + 1;
          violations.push(...r.violations);
        }
      }
    }
  }
  console.log(`commit fault injection: ${cases} (request kind × fault point) cases, ${violations.length} invariant violations; by kind ${JSON.stringify(byKind)}`);
  if (violations.length > 0) console.log(violations.slice(0, 40).join('\n'));
  expect(cases).toBeGreaterThanOrEqual(90);
  expect(violations).toEqual([]);
});
