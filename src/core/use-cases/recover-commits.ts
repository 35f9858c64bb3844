/**
 * Recovery of the commit protocol (docs/commit-protocol.md): every request still in the outbox (`outbox/`) is either
 * rolled forward (it committed: raw copies, identity records made current, audit record, events, manifest, then its
 * outbox and staged copies removed), or rolled back (it did not commit and its
 * writer is gone: aborted for good in the version index, then every object and pending identity record of it
 * removed). Run at `npm start`, on a timer locally, and by a scheduled function in AWS. Idempotent; safe to run
 * concurrently with writers and with itself (a write in progress younger than the lease is left alone; an abort is a
 * conditional write that loses to the writer's commit).
 */
import { OUTBOX_PREFIX, parseOutboxKey, parseStagingKey, STAGING_PREFIX } from '../lake-layout';
import { completeCommit, decideCommit, isCommitOf, readOutbox, rollBack, type CommitRecord, type OutboxDeps } from '../ingest';
import { mapLimit } from '../../lib/concurrency';

/** How long a writer may take from its outbox to its commit before recovery may abort it (default 2 min: the API Lambda's timeout is 30 s). */
export const DEFAULT_LEASE_MS = 120_000;

/** What one recovery pass did. */
export interface RecoveryReport {
  /** Outbox records seen. */
  seen: number;
  /** Committed requests completed (some step was missing). */
  rolledForward: number;
  /** Staged objects removed whose request has no outbox any more (a partial clean-up). */
  swept: number;
  /** Uncommitted requests rolled back. */
  rolledBack: number;
  /** Requests still within their lease (left for a later pass). */
  inFlight: number;
  /** Requests that could not be handled this pass (a store failed): retried next pass. */
  failed: number;
}

/** Outbox records handled at once. */
const CONCURRENCY = 8;

/** One outbox record: what to do with it. */
async function recoverOne(deps: OutboxDeps, rec: CommitRecord, leaseMs: number, report: RecoveryReport): Promise<void> {
  const now = deps.clock.now();
  const cur = (await deps.versions.get([rec.requestKey])).get(rec.requestKey);
  let committed = isCommitOf(cur, rec);
  // decided against this request: aborted under its id, or the key is held by another request (a duplicate won)
  const lost = !committed && cur !== undefined && (cur.requestId === rec.requestId || !cur.aborted);
  if (!committed && !lost) {
    // undecided: a writer within its lease may still commit; after it, the request is decided for good
    if (now.getTime() - Date.parse(rec.startedAt) < leaseMs) {
      report.inFlight++;
      return;
    }
    committed = (await decideCommit(deps.versions, rec, now)) === 'committed';
  }
  if (!committed) {
    await rollBack(deps, rec);
    report.rolledBack++;
  } else if (await completeCommit(deps, rec)) {
    report.rolledForward++;
  } else report.failed++;
}

/**
 * One recovery pass over the outbox.
 * @param opts.leaseMs how old an undecided request must be before it is aborted (default {@link DEFAULT_LEASE_MS}).
 */
export async function recoverCommits(deps: OutboxDeps, opts: { leaseMs?: number } = {}): Promise<RecoveryReport> {
  const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
  const report: RecoveryReport = { seen: 0, rolledForward: 0, swept: 0, rolledBack: 0, inFlight: 0, failed: 0 };
  // staged objects first, then the outbox: a staged object is written after its request's outbox, so one without
  // an outbox in the later listing belongs to a request that is done or rolled back
  const staged = await deps.lake.list(STAGING_PREFIX);
  const keys = await deps.lake.list(OUTBOX_PREFIX);
  const live = new Set(keys.map(parseOutboxKey).filter((id) => id !== undefined));
  const orphans = staged.filter((k) => {
    const id = parseStagingKey(k);
    return id !== undefined && !live.has(id);
  });
  if (orphans.length > 0) {
    await deps.lake.delete(orphans).then(
      () => (report.swept += orphans.length),
      () => report.failed++,
    );
  }
  await mapLimit(
    keys.filter((k) => parseOutboxKey(k) !== undefined),
    CONCURRENCY,
    async (key) => {
      try {
        const body = await deps.lake.get(key);
        if (!body) return;
        report.seen++;
        await recoverOne(deps, readOutbox(body), leaseMs, report);
      } catch {
        report.failed++;
      }
    },
  );
  return report;
}
