/**
 * The commit record of a request (a transactional outbox, docs/commit-protocol.md): written to `outbox/{requestId}.json`
 * before anything else of the request, it holds the request's lake objects (pseudonymised NDJSON) and lists
 * everything that must follow once the request commits (the lake objects written under `raw/`, identity records to
 * make current, events, the audit record, the commit manifest) and everything to remove if it does not (identity
 * records not yet current). Whether a request
 * committed is decided once, atomically with its resource versions, by its `Request/{keyed hash}` entry in the
 * version index: present with its request id = committed; absent (or marked aborted by recovery) = not.
 * {@link finishCommit} rolls a committed request forward; {@link rollBack} removes an uncommitted one; both are
 * idempotent and shared by the write path and recovery (src/core/use-cases/recover-commits.ts).
 * No PHI: keys, counts, lake ids (pseudonymous/hashed), versions, statuses.
 */
import type { OperationOutcome } from 'fhir/r4';
import { mapLimit } from '../../lib/concurrency';
import { ServerFault } from '../../fhir/errors';
import { commitManifestKey, outboxKey, type CommitManifest } from '../lake-layout';
import { recordRequest } from '../use-cases/record-request';
import {
  VersionConflictError,
  type AuditLog,
  type Clock,
  type EventBus,
  type IdentityRef,
  type IdentityVault,
  type IngestEvent,
  type ObjectStore,
  type VersionIndex,
  type VersionRecord,
} from '../ports';

/** Lake object writes of one request in flight at once (a Synthea Bundle has up to ~16 resource types). */
export const IO_CONCURRENCY = 16;

/** The audit interactions of a write. */
export type WriteInteraction = 'create' | 'update' | 'batch' | 'transaction';

/** One entry of the response as first given, to answer a retry with the same Idempotency-Key identically. */
export interface ReplayEntry {
  status: number;
  /** Server-assigned id of a create (a client's own id is never stored: it is read again from the retried body). */
  id?: string;
  versionId?: string;
  /** The refusal of a batch entry. */
  outcome?: OperationOutcome;
}

/** Steps of {@link finishCommit} already done (kept in the outbox when a step failed). */
export interface FinishProgress {
  /** The lake objects are written under `raw/`. */
  written?: boolean;
  promoted?: boolean;
  audited?: boolean;
  events?: boolean;
  manifest?: boolean;
}

/** The commit record of one request (also its commit manifest once done: a superset of {@link CommitManifest}). */
export interface CommitRecord extends CommitManifest {
  /** Partition day of the request's lake objects and manifest. */
  date: string;
  /** When the writer started the commit (recovery leaves younger uncommitted requests alone). */
  startedAt: string;
  /** The request's commit entry in the version index, and the version it writes there. */
  requestKey: string;
  requestVersion: string;
  /** Keyed digest of the request (Idempotency-Key: same key and different body = 422). */
  digest: string;
  interaction: WriteInteraction;
  policyVersion?: string;
  objects: (CommitManifest['objects'][number] & { ids: { id: string; versionId: string }[]; metadata: Record<string, string> })[];
  /**
   * The lake objects' NDJSON (pseudonymised: what `raw/` will hold), by key: in the outbox only (the manifest leaves
   * it out). The outbox is the request's one staged object: after the commit point they are written from here.
   */
  bodies?: Record<string, string>;
  identities: IdentityRef[];
  /** The audit record's fields (the request id, source, interaction, counts and object keys are above). */
  audit: { clientId?: string; status: number; sourceIp?: string };
  /** The response as given (for a retry with the same Idempotency-Key). */
  replay: { lastUpdated: string; entries: ReplayEntry[] };
  done?: FinishProgress;
}

/** What rolling a request forward or back touches. */
export interface OutboxDeps {
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  clock: Clock;
  identity?: IdentityVault;
  audit?: AuditLog;
}

/** Counts of a request's resources by type. */
export function countsOf(rec: CommitRecord): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const o of rec.objects) counts[o.resourceType] = o.count;
  return counts;
}

/** The events of a committed request: one per lake object, no PHI (keys, counts, lake ids). */
export function eventsOf(rec: CommitRecord, bucket: string): IngestEvent[] {
  return rec.objects.map((o) => ({
    type: 'tributary.ingest.committed',
    requestId: rec.requestId,
    source: rec.source,
    resourceType: o.resourceType,
    bucket,
    objectKey: o.key,
    count: o.count,
    checksumSha256: o.checksumSha256,
    ingestedAt: rec.committedAt,
    resources: o.ids,
    ...(rec.policyVersion ? { policyVersion: rec.policyVersion } : {}),
  }));
}

/** The manifest of a done request (what `etl-replay` reads): the record without its progress. */
function manifestOf(rec: CommitRecord): string {
  const { done: _done, bodies: _bodies, ...manifest } = rec;
  return JSON.stringify(manifest);
}

/**
 * The lake objects' bodies already encoded as UTF-8 by the writer that built the record, by key (the same bytes as
 * `bodies`, so they are not encoded a second time); recovery, reading the outbox, has none.
 */
export type EncodedBodies = ReadonlyMap<string, Uint8Array>;

/**
 * The outbox object of a commit record (format 2): the record as JSON without `bodies`, with `bodyBytes` (each lake
 * object's length in bytes, in `objects` order), on the first line; then the lake objects' NDJSON as it is, one after
 * the other. The bodies are not escaped into a JSON string: for a 1,000-resource import chunk that was a second
 * serialisation and a second UTF-8 encoding of about 1.3 MB. JSON text holds no raw newline, so a reader tells
 * format 2 from format 1 (one JSON document with `bodies`, written before; still read by {@link readOutbox}).
 * @throws ServerFault when a lake object's body is in neither `encoded` nor `rec.bodies`
 */
export function outboxBytes(rec: CommitRecord, encoded?: EncodedBodies): Buffer {
  const { bodies, ...head } = rec;
  const parts = rec.objects.map((o) => {
    const b = encoded?.get(o.key) ?? (bodies?.[o.key] !== undefined ? Buffer.from(bodies[o.key]!, 'utf8') : undefined);
    if (b === undefined) throw new ServerFault('commit record without the body of a lake object');
    return b;
  });
  const header = Buffer.from(`${JSON.stringify({ ...head, bodyBytes: parts.map((p) => p.byteLength) })}\n`, 'utf8');
  return Buffer.concat([header, ...parts]);
}

/**
 * A commit record as read from its outbox object (format 2 of {@link outboxBytes}, or format 1: one JSON document)
 * or its manifest (JSON, without bodies): `bodies` filled from the object's bytes.
 * @throws SyntaxError for a first line that is not JSON; ServerFault when the bodies' lengths do not add up
 */
export function readOutbox(bytes: Uint8Array): CommitRecord {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return JSON.parse(buf.toString('utf8')) as CommitRecord;
  const { bodyBytes, ...rec } = JSON.parse(buf.toString('utf8', 0, nl)) as CommitRecord & { bodyBytes?: number[] };
  const bodies: Record<string, string> = {};
  let at = nl + 1;
  rec.objects.forEach((o, i) => {
    const n = bodyBytes?.[i] ?? -1;
    if (n < 0 || at + n > buf.length) throw new ServerFault(`outbox of ${rec.requestId} is cut short`);
    bodies[o.key] = buf.toString('utf8', at, at + n);
    at += n;
  });
  if (at !== buf.length) throw new ServerFault(`outbox of ${rec.requestId} has ${buf.length - at} bytes more than its lake objects`);
  return { ...rec, bodies };
}

/** Content type of an outbox object: a JSON line, then NDJSON. */
export const OUTBOX_CONTENT_TYPE = 'application/x-ndjson';

/** Writes a lake object under `raw/` from the commit record (the same bytes, checksum-verified). */
async function writeRaw(lake: ObjectStore, rec: CommitRecord, o: CommitRecord['objects'][number], encoded?: EncodedBodies): Promise<void> {
  const body = encoded?.get(o.key) ?? rec.bodies?.[o.key];
  if (body === undefined) throw new ServerFault('commit record without the body of a lake object');
  await lake.put(o.key, body, { contentType: 'application/fhir+ndjson', checksumSha256: o.checksumSha256, metadata: o.metadata });
}

/**
 * Rolls a committed request forward: (1) the lake objects written under `raw/` (from the outbox), the identity records made current
 * and the audit record appended, in parallel; (2) one event per lake object (at-least-once: the ETL is idempotent)
 * and the commit manifest (what `etl-replay` lists), once the copies exist. Never throws: a failed step leaves the
 * outbox, with the steps done so far, for recovery. The audit record is appended keyed by the request id, so a
 * crash between the append and the outbox's `done.audited` makes recovery find it rather than add a second.
 * @returns true when every step is done (then {@link cleanUp} removes the outbox).
 */
export async function finishCommit(deps: OutboxDeps, rec: CommitRecord, encoded?: EncodedBodies): Promise<boolean> {
  const done: FinishProgress = { ...rec.done };
  const step = async (name: keyof FinishProgress, run: () => Promise<unknown>): Promise<void> => {
    if (done[name]) return;
    try {
      await run();
      done[name] = true;
    } catch {
      /* left to recovery */
    }
  };
  const { lake, identity, audit } = deps;
  await Promise.all([
    step('written', () => mapLimit(rec.objects, IO_CONCURRENCY, (o) => writeRaw(lake, rec, o, encoded))),
    step('promoted', async () => identity && rec.identities.length > 0 && identity.promote(rec.requestId, rec.identities)),
    step('audited', async () =>
      audit &&
      recordRequest(audit, deps.clock, {
        requestId: rec.requestId,
        principal: { source: rec.source, clientId: rec.audit.clientId },
        interaction: rec.interaction,
        counts: countsOf(rec),
        objectKeys: rec.objects.map((o) => o.key),
        status: rec.audit.status,
        sourceIp: rec.audit.sourceIp,
        once: true, // recovery may append it again (a crash before `done.audited` is kept): one record all the same
      }),
    ),
  ]);
  if (done.written) {
    await Promise.all([
      step('events', () => deps.events.publish(eventsOf(rec, lake.name))),
      step('manifest', () => lake.put(commitManifestKey(rec.date, rec.requestId), manifestOf(rec), { contentType: 'application/json' })),
    ]);
  }
  if (done.written && done.promoted && done.audited && done.events && done.manifest) return true;
  // keep what is done, so recovery repeats only what is missing (the audit append is idempotent by request id anyway)
  await Promise.resolve()
    .then(() => lake.put(outboxKey(rec.requestId), outboxBytes({ ...rec, done }, encoded), { contentType: OUTBOX_CONTENT_TYPE }))
    .catch(() => undefined);
  return false;
}

/**
 * Removes a done request's outbox (its identity records stay: they are current).
 */
export async function cleanUp(deps: OutboxDeps, rec: CommitRecord): Promise<void> {
  await deps.lake.delete([outboxKey(rec.requestId)]);
}

/**
 * Rolls a committed request forward ({@link finishCommit}) and, when every step is done, cleans up; if the clean-up
 * fails, the outbox is rewritten as done so recovery only cleans up (no second audit record).
 * @returns true when the request is done (clean-up included, or left to recovery as done).
 */
export async function completeCommit(deps: OutboxDeps, rec: CommitRecord, encoded?: EncodedBodies): Promise<boolean> {
  if (!(await finishCommit(deps, rec, encoded))) return false;
  try {
    await cleanUp(deps, rec);
  } catch {
    const done: FinishProgress = { written: true, promoted: true, audited: true, events: true, manifest: true };
    await Promise.resolve()
      .then(() => deps.lake.put(outboxKey(rec.requestId), outboxBytes({ ...rec, done }, encoded), { contentType: OUTBOX_CONTENT_TYPE }))
      .catch(() => undefined);
  }
  return true;
}

/**
 * Rolls back a request that did not commit: nothing of it stays: raw objects (none are written before a commit;
 * deleted all the same), its identity records (never current), then its outbox.
 */
export async function rollBack(deps: OutboxDeps, rec: CommitRecord): Promise<void> {
  await Promise.all([
    rec.objects.length > 0 ? deps.lake.delete(rec.objects.map((o) => o.key)) : undefined,
    deps.identity && rec.identities.length > 0 ? deps.identity.discard(rec.requestId, rec.identities) : undefined,
  ]);
  await deps.lake.delete([outboxKey(rec.requestId)]);
}

/** Raised when the outcome of a commit cannot be decided now (the version index is unreachable): 503, retry later. */
export class CommitUndecidedError extends ServerFault {
  override readonly name = 'CommitUndecidedError';
}

/** Is this index record the commit of `rec`? */
export const isCommitOf = (r: VersionRecord | undefined, rec: Pick<CommitRecord, 'requestId'>): boolean =>
  r !== undefined && r.requestId === rec.requestId && !r.aborted;

/**
 * Decides a request whose commit call failed without a clear answer (or whose writer is gone): committed if its
 * `Request/` entry names it; otherwise it is aborted for good by a conditional write of an aborted entry in its
 * place, so a late commit of it can never land (it expects the entry it saw before).
 * @returns 'committed' or 'aborted'; throws when the index cannot be read or written.
 */
export async function decideCommit(versions: VersionIndex, rec: CommitRecord, now: Date): Promise<'committed' | 'aborted'> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const cur = (await versions.get([rec.requestKey])).get(rec.requestKey);
    if (isCommitOf(cur, rec)) return 'committed';
    if (cur && cur.requestId === rec.requestId) return 'aborted';
    if (cur && !cur.aborted) return 'aborted'; // another request holds the key (a duplicate won): this one never commits
    try {
      await versions.commit([
        {
          key: rec.requestKey,
          expected: cur?.versionId,
          record: { versionId: String(Number(cur?.versionId ?? 0) + 1), source: rec.source, lastUpdated: now.toISOString(), requestId: rec.requestId, aborted: true },
        },
      ]);
      return 'aborted';
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
    }
  }
  throw new CommitUndecidedError('commit outcome still undecided after 3 attempts');
}
