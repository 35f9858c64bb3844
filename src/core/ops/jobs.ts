/**
 * ETL job records (issue 16): one record per lake object the ETL was asked to apply, updated on every attempt.
 * What a record holds is PHI-free by construction: keys, ids, table names, counts, timings, the error's class and
 * a bounded message (Tributary's error messages carry no values: src/fhir/errors.ts), never resource content.
 *
 * The {@link JobLog} port is implemented by a file store under DATA_DIR (local) and a DynamoDB table (AWS).
 * {@link recordEtlRun} is what the ETL calls after each event (and replays, retries and compactions too).
 */
import type { IngestEvent } from '../ports';

/** What started a run. */
export type JobTrigger = 'sns' | 'sqs' | 'direct' | 'replay' | 'retry' | 'compaction';

/** Outcome of the last attempt. */
export type JobStatus = 'succeeded' | 'failed';

/** One job: an ETL run of one committed lake object (or a compaction of one partition). */
export interface JobRecord {
  /** `{requestId}-{Type}` for ETL jobs (the mart files' base name), `compaction-{source}-{date}` otherwise. */
  id: string;
  kind: 'etl' | 'compaction';
  /** The triggering lake object (ETL) or the partition (compaction). */
  objectKey: string;
  requestId: string;
  source: string;
  resourceType: string;
  /** Partition day (`yyyy-mm-dd`). */
  date: string;
  /** When the object was committed (the event's `ingestedAt`). */
  committedAt: string;
  trigger: JobTrigger;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Commit → mart: `finishedAt - committedAt`, ms (succeeded runs). */
  lagMs?: number;
  status: JobStatus;
  /** Views (mart tables) the object's type feeds. */
  views: string[];
  /** Rows written per table by the last successful attempt. */
  rows: Record<string, number>;
  resources: number;
  /** Tables skipped because compaction already merged the object. */
  skipped: string[];
  /** Class and bounded message of the last failure (no values). */
  error?: { name: string; message: string };
  /** Attempts so far (1 = first run). Retries = attempts - 1. */
  attempts: number;
  /** The last failed attempt went to the dead-letter queue (SQS maxReceiveCount reached). */
  deadLettered: boolean;
  /** The event to re-deliver on retry (keys, checksums, pseudonymous ids: no PHI). */
  event?: IngestEvent;
}

/** Filters of {@link JobLog.list}. */
export interface JobFilter {
  status?: JobStatus | 'dead-lettered';
  source?: string;
  /** A table name the job wrote or feeds. */
  view?: string;
  requestId?: string;
  /** ISO instants on `finishedAt`. */
  since?: string;
  until?: string;
}

/** The job record store. */
export interface JobLog {
  /** Writes (replaces) a record. */
  put(record: JobRecord): Promise<void>;
  /** One record, or `undefined`. */
  get(id: string): Promise<JobRecord | undefined>;
  /** Every record (adapters may pre-filter; {@link filterJobs} is applied by the use cases anyway). */
  list(): Promise<JobRecord[]>;
}

/** Longest error message kept. */
const MAX_MESSAGE = 300;

/** The job id of an ETL event: the mart files' base name `{requestId}-{Type}`. */
export function etlJobId(event: Pick<IngestEvent, 'requestId' | 'resourceType'>): string {
  return `${event.requestId}-${event.resourceType}`;
}

/** An error as a record keeps it: class and a bounded single-line message. */
export function errorSummary(err: unknown): { name: string; message: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name || 'Error', message: (e.message ?? '').replace(/\s+/g, ' ').slice(0, MAX_MESSAGE) };
}

/** What the ETL reports for one event (a subset of `EtlResult`, to keep this module free of the ETL). */
export interface EtlRunOutcome {
  rows: Record<string, number>;
  resources: number;
  skipped: string[];
}

/** Input of {@link recordEtlRun}. */
export interface EtlRunInput {
  event: IngestEvent;
  outcome: EtlRunOutcome | Error;
  views: string[];
  trigger: JobTrigger;
  startedAt: Date;
  finishedAt: Date;
  /** SQS `ApproximateReceiveCount` of the message, when known. */
  receiveCount?: number;
  /** SQS `maxReceiveCount` of the queue (a failure at this count is dead-lettered). */
  maxReceiveCount?: number;
}

/** The entries of `o` whose keys are in `keys`. */
const pick = (o: Record<string, number>, keys: readonly string[]): Record<string, number> => Object.fromEntries(Object.entries(o).filter(([k]) => keys.includes(k)));

/** Day of a lake key (`…/date=yyyy-mm-dd/…`), else of the instant. */
function dayOf(objectKey: string, at: string): string {
  return /\/date=(\d{4}-\d{2}-\d{2})\//.exec(objectKey)?.[1] ?? at.slice(0, 10);
}

/**
 * Records one ETL attempt: reads the previous record (attempt count, last good rows) and writes the new one.
 * Never throws: a job log that cannot be written must not fail the ETL (returns the error instead).
 */
export async function recordEtlRun(log: JobLog, input: EtlRunInput): Promise<Error | undefined> {
  try {
    const { event, outcome } = input;
    const id = etlJobId(event);
    const prev = await log.get(id);
    const attempts = Math.max((prev?.attempts ?? 0) + 1, input.receiveCount ?? 0);
    const failed = outcome instanceof Error;
    const finishedAt = input.finishedAt.toISOString();
    const record: JobRecord = {
      id,
      kind: 'etl',
      objectKey: event.objectKey,
      requestId: event.requestId,
      source: event.source,
      resourceType: event.resourceType,
      date: dayOf(event.objectKey, event.ingestedAt),
      committedAt: event.ingestedAt,
      // a re-delivery of an event already recorded (ops retry, SQS redelivery) is a retry
      trigger: prev && (input.trigger === 'sns' || input.trigger === 'sqs') ? 'retry' : input.trigger,
      startedAt: input.startedAt.toISOString(),
      finishedAt,
      durationMs: input.finishedAt.getTime() - input.startedAt.getTime(),
      status: failed ? 'failed' : 'succeeded',
      views: input.views,
      // tables skipped because compaction already merged the object keep the rows counted before
      rows: failed ? (prev?.rows ?? {}) : { ...pick(prev?.rows ?? {}, outcome.skipped), ...outcome.rows },
      resources: failed ? (prev?.resources ?? event.count) : outcome.resources,
      skipped: failed ? (prev?.skipped ?? []) : outcome.skipped,
      attempts,
      deadLettered: failed && input.maxReceiveCount !== undefined && (input.receiveCount ?? 0) >= input.maxReceiveCount,
      event: { ...event, resources: [] },
    };
    if (failed) record.error = errorSummary(outcome);
    else record.lagMs = Math.max(0, input.finishedAt.getTime() - Date.parse(event.ingestedAt));
    await log.put(record);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** Records a compaction of one partition (`npm run compact`). Never throws (see {@link recordEtlRun}). */
export async function recordCompaction(
  log: JobLog,
  input: { source: string; date: string; tables: Record<string, number>; startedAt: Date; finishedAt: Date; error?: unknown },
): Promise<Error | undefined> {
  try {
    const id = `compaction-${input.source}-${input.date}`;
    const prev = await log.get(id);
    const finishedAt = input.finishedAt.toISOString();
    const record: JobRecord = {
      id,
      kind: 'compaction',
      objectKey: `source=${input.source}/date=${input.date}/`,
      requestId: id,
      source: input.source,
      resourceType: '-',
      date: input.date,
      committedAt: finishedAt,
      trigger: 'compaction',
      startedAt: input.startedAt.toISOString(),
      finishedAt,
      durationMs: input.finishedAt.getTime() - input.startedAt.getTime(),
      status: input.error ? 'failed' : 'succeeded',
      views: Object.keys(input.tables),
      rows: input.tables,
      resources: 0,
      skipped: [],
      attempts: (prev?.attempts ?? 0) + 1,
      deadLettered: false,
    };
    if (input.error) record.error = errorSummary(input.error);
    await log.put(record);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** The records matching a filter, newest first. */
export function filterJobs(jobs: readonly JobRecord[], f: JobFilter = {}): JobRecord[] {
  return jobs
    .filter((j) => {
      if (f.status === 'dead-lettered' ? !j.deadLettered : f.status && j.status !== f.status) return false;
      if (f.source && j.source !== f.source) return false;
      if (f.view && !j.views.includes(f.view) && !(f.view in j.rows)) return false;
      if (f.requestId && j.requestId !== f.requestId) return false;
      if (f.since && j.finishedAt < f.since) return false;
      if (f.until && j.finishedAt > f.until) return false;
      return true;
    })
    .sort((a, b) => (a.finishedAt < b.finishedAt ? 1 : a.finishedAt > b.finishedAt ? -1 : a.id.localeCompare(b.id)));
}

/** A record as the ops API shows it: without the stored event (kept for retries only). */
export function publicJob(j: JobRecord): Omit<JobRecord, 'event'> {
  const { event: _event, ...rest } = j;
  return rest;
}
