/**
 * The ETL use case (issue 4): one committed lake object in, Parquet mart files out.
 *
 * For each {@link IngestEvent} (one per committed lake object `raw/{Type}/source={s}/date={d}/{requestId}.ndjson`):
 * 1. read the NDJSON object through the lake {@link ObjectStore} and check its SHA-256 against the event
 *    (`./lake-object`);
 * 2. evaluate every mart ViewDefinition of that resource type (compiled once per cold start) and add the lineage
 *    columns (`LINEAGE_COLUMNS`) to every row; list every resource version for `resource_versions` (`./rows`);
 * 3. encode each table's rows as ONE Parquet file through the {@link ParquetCodec} port and put it in the marts
 *    bucket at `marts/{table}/source={s}/date={d}/{requestId}-{Type}.parquet` (`martKey`). The name derives from
 *    the lake key only, so a re-delivered event overwrites the same file with the same rows: no duplicates
 *    (idempotent). `resource_versions` is written last: once it is there, the event is applied whole;
 * 4. register the tables, the current-version views and the new partitions in the {@link Catalog} (once per
 *    table and partition per cold start).
 *
 * {@link Etl.processBatch} applies several events (an SQS batch, or the events the local SNS endpoint delivers
 * together) with the same per-event outcome, but encodes each table's files of the batch in one codec call:
 * DuckDB's cost is mostly per statement and per file, not per row (see bench/etl.ts for figures).
 *
 * Compaction (`./compaction`) merges a partition's small files into one and records the lake keys it merged in a
 * manifest; the ETL skips a table for a lake key already merged, so a re-delivery after compaction adds nothing.
 *
 * Pure orchestration over ports: no AWS SDK, no environment, no file system.
 */
import { mapLimit } from '../../lib/concurrency';
import type { Row } from '../../fhir/views';
import {
  VERSIONS_COLUMNS,
  VERSIONS_TABLE,
  PATIENT_LINK_VIEW,
  currentViewDefinition,
  hasPatientLink,
  historyTableDefinition,
  rawTableDefinition,
  versionsTableDefinition,
  type Catalog,
  type ColumnDef,
  type PartitionValues,
  type TableDefinition,
} from '../catalog';
import { martKey, type LakeKeyParts } from '../lake-layout';
import type { Clock, IngestEvent, ObjectStore } from '../ports';
import { readCompactionManifest, type CompactionManifest } from './compaction';
import { readLakeObject } from './lake-object';
import type { ParquetCodec } from './parquet-codec';
import { recordEtlRun, type JobLog, type JobTrigger } from '../ops/jobs';
import { martViewInfo, objectRows, prepareView, type MartView, type PreparedView } from './rows';

/** Counts-only logging (no PHI: ids, keys, counts). */
export interface EtlLog {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
}

/** Collaborators of {@link Etl}. */
export interface EtlDeps {
  /** The lake bucket (events naming another bucket are refused). */
  lake: ObjectStore;
  /** The marts bucket. */
  marts: ObjectStore;
  codec: ParquetCodec;
  views: readonly MartView[];
  /** Where tables are registered; none = files only (benchmarks). */
  catalog?: Catalog;
  log?: EtlLog;
  /**
   * What to do when a view cannot be evaluated over a resource (a FHIRPath error, several values in a
   * non-collection column): `skip` that resource's rows of that view, log it and go on (default), or `fail`
   * the event (it is retried, then lands in the DLQ).
   */
  onViewError?: 'skip' | 'fail';
  /** Time source for the `writtenat` object metadata (default: system clock). */
  clock?: Clock;
  /** Where every run is recorded (ops console); none = not recorded. */
  jobs?: JobLog;
}

/** How a batch was triggered (for the job records). */
export interface RunOptions {
  trigger?: JobTrigger;
  /** SQS `ApproximateReceiveCount` per event (same order), when known. */
  receiveCounts?: (number | undefined)[];
  /** The queue's `maxReceiveCount` (a failure at that count is dead-lettered). */
  maxReceiveCount?: number;
}

/** What one event produced. */
export interface EtlResult {
  objectKey: string;
  resourceType: string;
  resources: number;
  /** Rows written per table (`{view}_history` tables and `resource_versions`). */
  rows: Record<string, number>;
  /** Mart keys written. */
  written: string[];
  /** Tables not written because compaction already merged this lake object into them. */
  skipped: string[];
  /** Resources whose rows of some view were skipped because the view failed on them. */
  viewErrors: number;
}

interface Write {
  table: TableDefinition;
  columns: readonly ColumnDef[];
  rows: Row[];
}

interface Prepared {
  event: IngestEvent;
  parts: LakeKeyParts;
  views: PreparedView[];
  writes: Write[];
  result: EtlResult;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

/** The ETL. One instance per cold start (views compiled, catalogue state cached); `process` per event. */
export class Etl {
  private readonly byType = new Map<string, PreparedView[]>();
  private readonly versionsTable: TableDefinition;
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly partitions = new Map<string, Promise<void>>();
  private readonly onViewError: 'skip' | 'fail';
  /** The `patient_link` mart, when the views have it: views with patient reference columns resolve through it. */
  private readonly link: PreparedView | undefined;

  constructor(private readonly deps: EtlDeps) {
    this.onViewError = deps.onViewError ?? 'skip';
    this.versionsTable = versionsTableDefinition(deps.marts.name);
    for (const view of deps.views) {
      const prepared = prepareView(view, deps.marts.name);
      const list = this.byType.get(prepared.info.resourceType) ?? [];
      list.push(prepared);
      this.byType.set(prepared.info.resourceType, list);
    }
    const all = [...this.byType.values()].flat();
    this.link = hasPatientLink(all.map((v) => v.info)) ? all.find((v) => v.info.name === PATIENT_LINK_VIEW) : undefined;
  }

  private now(): Date {
    return this.deps.clock?.now() ?? new Date();
  }

  /** Resource types that have at least one mart view. */
  get resourceTypes(): string[] {
    return [...this.byType.keys()].sort();
  }

  /**
   * Applies one ingest event: writes one Parquet file per table (each mart view of the type that produced rows,
   * and `resource_versions`), then registers tables and partitions. Safe to repeat.
   * @throws EtlError when the event does not describe a lake object of this lake, the object is missing, or its
   *   checksum or content does not match the event; any adapter error as is.
   */
  async process(event: IngestEvent): Promise<EtlResult> {
    const [r] = await this.processBatch([event]);
    if (r instanceof Error) throw r;
    return r!;
  }

  /**
   * Applies several events (an SQS batch) with the same outcome as {@link process} for each, but encodes each
   * table's files of the whole batch with one codec call (DuckDB's cost is mostly per statement). Never throws
   * for one event's failure: the result at index i is event i's {@link EtlResult} or its Error (for an SQS
   * `batchItemFailures` answer).
   */
  async processBatch(events: readonly IngestEvent[], opts: RunOptions = {}): Promise<(EtlResult | Error)[]> {
    const startedAt = this.now();
    const out = await this.applyBatch(events);
    if (this.deps.jobs) await this.record(events, out, startedAt, opts);
    return out;
  }

  /** Writes one job record per event (failures to record are logged, never thrown: the marts are what counts). */
  private async record(events: readonly IngestEvent[], out: (EtlResult | Error)[], startedAt: Date, opts: RunOptions): Promise<void> {
    const finishedAt = this.now();
    await mapLimit(events, 8, async (event, i) => {
      const views = [...(this.byType.get(event.resourceType) ?? []).map((pv) => pv.table.name), VERSIONS_TABLE];
      const err = await recordEtlRun(this.deps.jobs!, {
        event,
        outcome: out[i] ?? new Error('no result'),
        views,
        trigger: opts.trigger ?? 'direct',
        startedAt,
        finishedAt,
        receiveCount: opts.receiveCounts?.[i],
        maxReceiveCount: opts.maxReceiveCount,
      });
      if (err) this.deps.log?.warn('job record not written', { objectKey: event.objectKey, error: err.name });
    });
  }

  private async applyBatch(events: readonly IngestEvent[]): Promise<(EtlResult | Error)[]> {
    const out: (EtlResult | Error)[] = new Array(events.length);
    // 1. read, check and evaluate each event's object
    const prepared: (Prepared | undefined)[] = await mapLimit(events, 8, async (e, i) => {
      try {
        return await this.prepare(e);
      } catch (err) {
        out[i] = asError(err);
        return undefined;
      }
    });
    // 2. compaction manifests, once per partition
    const manifests = new Map<string, Promise<CompactionManifest | undefined>>();
    for (let i = 0; i < prepared.length; i++) {
      const p = prepared[i];
      if (!p) continue;
      const k = `${p.parts.source}|${p.parts.date}`;
      if (!manifests.has(k)) manifests.set(k, readCompactionManifest(this.deps.marts, p.parts));
      try {
        const m = await manifests.get(k)!;
        for (const w of p.writes) {
          if (w.rows.length > 0 && m?.tables[w.table.name]?.lakeKeys.includes(p.event.objectKey)) {
            p.result.skipped.push(w.table.name);
            w.rows = [];
          }
        }
      } catch (err) {
        out[i] = asError(err);
        prepared[i] = undefined;
      }
    }
    // 3. encode per table across the batch, then put (views first, resource_versions last)
    const tables = [...this.tableOrder(prepared)];
    for (const table of tables) {
      const jobs: { i: number; p: Prepared; w: Write }[] = [];
      prepared.forEach((p, i) => {
        const w = p?.writes.find((x) => x.table.name === table);
        if (p && w && w.rows.length > 0 && !out[i]) jobs.push({ i, p, w });
      });
      if (jobs.length === 0) continue;
      const bodies = await this.encodeAll(jobs[0]!.w.columns, jobs.map((j) => j.w.rows)).catch(() => undefined);
      await mapLimit(jobs, 8, async (j, n) => {
        if (out[j.i]) return;
        try {
          const body = bodies?.[n] ?? (await this.deps.codec.encode(j.w.columns, j.w.rows));
          const key = martKey(j.w.table.location.prefix, j.p.parts);
          await this.deps.marts.put(key, body, {
            contentType: 'application/vnd.apache.parquet',
            metadata: {
              rows: String(j.w.rows.length),
              lakekey: j.p.event.objectKey,
              requestid: j.p.parts.base,
              writtenat: this.now().toISOString(),
            },
          });
          j.p.result.rows[table] = j.w.rows.length;
          j.p.result.written.push(key);
        } catch (err) {
          out[j.i] = asError(err);
        }
      });
    }
    // 4. catalogue: what the successful events touched, each table/view/partition once per cold start
    const done = prepared.map((p, i) => (p && !out[i] ? p : undefined)).filter((p): p is Prepared => p !== undefined);
    try {
      if (this.deps.catalog && done.length > 0) await this.register(done);
      for (let i = 0; i < prepared.length; i++) if (prepared[i] && !out[i]) out[i] = prepared[i]!.result;
    } catch (err) {
      for (let i = 0; i < prepared.length; i++) if (prepared[i] && !out[i]) out[i] = asError(err);
    }
    return out;
  }

  /** Table names of a batch in write order: view tables (sorted), then `resource_versions`. */
  private tableOrder(prepared: (Prepared | undefined)[]): Set<string> {
    const names = new Set<string>();
    for (const p of prepared) for (const w of p?.writes ?? []) if (w.table.name !== VERSIONS_TABLE) names.add(w.table.name);
    return new Set([...[...names].sort(), VERSIONS_TABLE]);
  }

  private async encodeAll(columns: readonly ColumnDef[], groups: Row[][]): Promise<Uint8Array[]> {
    const codec = this.deps.codec;
    if (groups.length > 1 && codec.encodeMany) return codec.encodeMany(columns, groups);
    const out: Uint8Array[] = [];
    for (const g of groups) out.push(await codec.encode(columns, g));
    return out;
  }

  /** Reads, checks and evaluates one event's lake object. */
  private async prepare(event: IngestEvent): Promise<Prepared> {
    const { parts, resources } = await readLakeObject(this.deps.lake, event);
    const views = this.byType.get(parts.resourceType) ?? [];
    const { versions, viewRows, viewErrors } = objectRows(resources, {
      event,
      resourceType: parts.resourceType,
      views,
      onViewError: this.onViewError,
      log: this.deps.log,
    });
    const writes: Write[] = views.map((pv, i) => ({ table: pv.table, columns: pv.columns, rows: viewRows[i]! }));
    writes.push({ table: this.versionsTable, columns: VERSIONS_COLUMNS, rows: versions });
    return {
      event,
      parts,
      views,
      writes,
      result: { objectKey: event.objectKey, resourceType: parts.resourceType, resources: resources.length, rows: {}, written: [], skipped: [], viewErrors },
    };
  }

  /**
   * Registers the tables, current-version views, raw tables and partitions the given events touched: tables
   * first, then the views reading them, then partitions; each once per cold start (calls run concurrently, so a
   * catalogue can group them).
   */
  private async register(events: Prepared[]): Promise<void> {
    const catalog = this.deps.catalog!;
    const tables = new Map<string, TableDefinition>();
    const views = new Map<string, PreparedView>();
    const partitions = new Map<string, [string, PartitionValues]>();
    for (const p of events) {
      tables.set(this.versionsTable.name, this.versionsTable);
      for (const pv of p.views) {
        tables.set(pv.table.name, pv.table);
        views.set(pv.info.name, pv);
      }
      // a view resolving patient references reads patient_link: it must exist even before any Patient arrives
      if (this.link && p.views.some((pv) => pv.info.columns.some((c) => c.patientReference))) tables.set(this.link.table.name, this.link.table);
      const raw = rawTableDefinition(p.parts.resourceType, this.deps.lake.name);
      tables.set(raw.name, raw);
      const part: PartitionValues = { source: p.parts.source, date: p.parts.date };
      for (const t of [raw.name, ...Object.keys(p.result.rows), ...p.result.skipped]) partitions.set(`${t}|${part.source}|${part.date}`, [t, part]);
    }
    await this.once(this.ensured, '#database', () => catalog.ensureDatabase());
    await Promise.all([...tables.values()].map((t) => this.once(this.ensured, t.name, () => catalog.ensureTable(t).then(() => undefined))));
    const patientLink = this.link !== undefined;
    const ensureView = (pv: PreparedView): Promise<void> =>
      this.once(this.ensured, `view:${pv.info.name}`, () => catalog.ensureView(currentViewDefinition(pv.info, { patientLink })).then(() => undefined));
    if (this.link && tables.has(this.link.table.name)) await ensureView(this.link);
    await Promise.all([...views.values()].map(ensureView));
    await Promise.all([...partitions].map(([k, [t, part]]) => this.once(this.partitions, k, () => catalog.addPartitions(t, [part]).then(() => undefined))));
  }

  /** Runs `fn` once per key (concurrent callers share it); a failure is forgotten so the next event retries. */
  private once(cache: Map<string, Promise<void>>, key: string, fn: () => Promise<void>): Promise<void> {
    let p = cache.get(key);
    if (!p) {
      p = fn().catch((err: unknown) => {
        cache.delete(key);
        throw err;
      });
      cache.set(key, p);
    }
    return p;
  }
}

/** The history table definitions of views (for compaction and replays), plus `resource_versions`. */
export function etlTables(views: readonly MartView[], martsBucket: string): TableDefinition[] {
  return [versionsTableDefinition(martsBucket), ...views.map((v) => historyTableDefinition(martViewInfo(v), martsBucket))];
}
