/**
 * The ETL Lambda handler (issue 4). Thin: unwrap the event, hand the IngestEvents to the core ETL, answer.
 *
 * Accepts:
 * - an SQS event (AWS: SNS → SQS with raw message delivery, so each body IS an IngestEvent; an SNS envelope in
 *   the body is unwrapped too) → `{ batchItemFailures }` naming the messages that failed (ReportBatchItemFailures),
 *   so only those are retried and, after maxReceiveCount, land in the DLQ;
 * - an SNS event (local stack: serverless-offline-sns invokes the function on each Publish) → a summary; throws
 *   when an event failed (async invocations are then retried);
 * - a bare IngestEvent (or an array of them: replays, tests) → a summary; throws when one failed.
 * Events of other types on the topic (e.g. triage notices) are ignored. Idempotent: the ETL writes files named
 * from the lake key. Logs counts and keys only.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { getEtlApp } from '../bootstrap';
import { loadConfig } from '../config';
import { createLogger } from '../core/log';
import type { IngestEvent } from '../core/ports';
import type { EtlResult } from '../core/etl';

const logger = createLogger('tributary-etl');

/** What a non-SQS invocation returns. */
export interface EtlSummary {
  events: number;
  ignored: number;
  files: number;
  rows: number;
  results: { objectKey: string; rows: Record<string, number>; skipped: string[] }[];
}

/** An invocation's input that is not a valid message. */
export class EtlInputError extends Error {
  override readonly name = 'EtlInputError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Several events of a non-SQS invocation failed. */
export class EtlBatchError extends Error {
  override readonly name = 'EtlBatchError';
  constructor(
    readonly failures: { objectKey?: string; error: Error }[],
  ) {
    super(`${failures.length} event(s) failed: ${failures.map((f) => `${f.objectKey ?? '?'} (${f.error.name})`).join(', ')}`, {
      cause: failures[0]?.error,
    });
  }
}

type Msg = { id?: string; event?: IngestEvent; ignored?: boolean; error?: Error; receiveCount?: number };

/** Parses a message body: an IngestEvent, or an SNS envelope (`{ Type: 'Notification', Message }`) around one. */
export function parseMessage(body: unknown): { event?: IngestEvent; ignored?: boolean } {
  let v: unknown = body;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (err) {
      throw new EtlInputError('message body is not JSON', { cause: err });
    }
  }
  const o = v as Record<string, unknown> | null;
  if (o && typeof o === 'object' && o.Type === 'Notification' && typeof o.Message === 'string') return parseMessage(o.Message);
  if (!o || typeof o !== 'object' || typeof o.type !== 'string') throw new EtlInputError('message is not a Tributary event');
  if (o.type !== 'tributary.ingest.committed') return { ignored: true };
  return { event: o as unknown as IngestEvent };
}

function isRecords(e: unknown, source: string): e is { Records: Record<string, any>[] } {
  const r = (e as { Records?: unknown })?.Records;
  return Array.isArray(r) && r.length > 0 && (r[0]?.eventSource === source || r[0]?.EventSource === source);
}

/**
 * Gathers the events of invocations that arrive together in one process (the local SNS endpoint invokes the
 * function once per Publish, concurrently, in-process) into one ETL batch: DuckDB's cost is mostly per statement,
 * so a transaction's dozen events cost about one event's. Waits at most `windowMillis` for company.
 */
export class Coalescer {
  private pending: { event: IngestEvent; done: (r: EtlResult | Error) => void }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly flushFn: (events: IngestEvent[]) => Promise<(EtlResult | Error)[]>,
    private readonly windowMillis = 10,
    private readonly maxBatch = 100,
  ) {}

  /** Queues events; resolves with each one's result (never rejects: failures come back as Errors). */
  submit(events: IngestEvent[]): Promise<(EtlResult | Error)[]> {
    const ps = events.map((event) => new Promise<EtlResult | Error>((done) => this.pending.push({ event, done })));
    if (this.pending.length >= this.maxBatch) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.windowMillis);
    return Promise.all(ps);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.flushFn(batch.map((b) => b.event)).then(
      (rs) => batch.forEach((b, i) => b.done(rs[i] ?? new Error('no result'))),
      (err: unknown) => batch.forEach((b) => b.done(err instanceof Error ? err : new Error(String(err)))),
    );
  }
}

let coalescer: Coalescer | undefined;
/** The ETL queue's maxReceiveCount (ETL_MAX_RECEIVE_COUNT), read once. */
let maxReceiveCount: number | undefined;

async function run(msgs: Msg[], trigger: 'sqs' | 'sns' | 'direct', coalesce = false): Promise<Msg[]> {
  const todo = msgs.filter((m) => m.event && !m.error);
  if (todo.length === 0) return msgs;
  const { etl } = getEtlApp();
  const events = todo.map((m) => m.event!);
  let results: (EtlResult | Error)[];
  if (coalesce) {
    coalescer ??= new Coalescer((es) => getEtlApp().etl.processBatch(es, { trigger }));
    results = await coalescer.submit(events);
  } else {
    results = await etl.processBatch(events, {
      trigger,
      receiveCounts: todo.map((m) => m.receiveCount),
      maxReceiveCount: trigger === 'sqs' ? (maxReceiveCount ??= loadConfig().etlMaxReceiveCount) : undefined,
    });
  }
  todo.forEach((m, i) => {
    const r = results[i];
    if (r instanceof Error) m.error = r;
    else (m as Msg & { result?: EtlResult }).result = r;
  });
  return msgs;
}

function summarise(msgs: Msg[]): EtlSummary {
  const results = msgs.map((m) => (m as Msg & { result?: EtlResult }).result).filter((r): r is EtlResult => r !== undefined);
  return {
    events: results.length,
    ignored: msgs.filter((m) => m.ignored).length,
    files: results.reduce((s, r) => s + r.written.length, 0),
    rows: results.reduce((s, r) => s + Object.values(r.rows).reduce((a, b) => a + b, 0), 0),
    results: results.map((r) => ({ objectKey: r.objectKey, rows: r.rows, skipped: r.skipped })),
  };
}

function logOutcome(kind: string, msgs: Msg[]): void {
  const s = summarise(msgs);
  const failed = msgs.filter((m) => m.error);
  logger.info('etl done', { trigger: kind, events: s.events, ignored: s.ignored, failed: failed.length, files: s.files, rows: s.rows });
  for (const f of failed) {
    logger.error('etl event failed', { messageId: f.id, objectKey: f.event?.objectKey, error: f.error });
  }
}

/** Lambda entry point (see the module notes for the accepted events). */
export async function handler(event: unknown): Promise<SQSBatchResponse | EtlSummary> {
  if (isRecords(event, 'aws:sqs')) {
    const msgs: Msg[] = event.Records.map((r) => {
      try {
        const receiveCount = Number(r.attributes?.ApproximateReceiveCount) || undefined;
        return { id: String(r.messageId), receiveCount, ...parseMessage(r.body) };
      } catch (err) {
        return { id: String(r.messageId), error: err as Error };
      }
    });
    await run(msgs, 'sqs');
    logOutcome('sqs', msgs);
    // a message that is not an event at all will never succeed: report it too, so it reaches the DLQ
    return { batchItemFailures: msgs.filter((m) => m.error).map((m) => ({ itemIdentifier: m.id! })) };
  }
  let msgs: Msg[];
  let kind: string;
  if (isRecords(event, 'aws:sns')) {
    kind = 'sns';
    msgs = event.Records.map((r) => {
      try {
        return { id: String(r.Sns?.MessageId ?? ''), ...parseMessage(r.Sns?.Message) };
      } catch (err) {
        return { id: String(r.Sns?.MessageId ?? ''), error: err as Error };
      }
    });
  } else {
    kind = 'direct';
    const list = Array.isArray(event) ? event : [event];
    msgs = list.map((e) => {
      try {
        return parseMessage(e);
      } catch (err) {
        return { error: err as Error };
      }
    });
  }
  if (kind === 'sns' && loadConfig().localEtl === 'deferred') {
    // LOCAL_ETL=deferred: the local SNS path acknowledges without work; `npm run etl-replay` builds the marts later
    logger.info('etl deferred', { trigger: kind, events: msgs.length });
    return { events: 0, ignored: msgs.length, files: 0, rows: 0, results: [] };
  }
  await run(msgs, kind === 'sns' ? 'sns' : 'direct', true);
  logOutcome(kind, msgs);
  const failed = msgs.filter((m) => m.error);
  if (failed.length > 0) throw new EtlBatchError(failed.map((f) => ({ objectKey: f.event?.objectKey, error: f.error! })));
  return summarise(msgs);
}
