/**
 * The ETL use case (issue 4): one committed lake object in, Parquet mart files out.
 *
 * For each {@link IngestEvent} (one per committed lake object `raw/{Type}/source={s}/date={d}/{requestId}.ndjson`):
 * 1. read the NDJSON object through the lake {@link ObjectStore} and check its SHA-256 against the event;
 * 2. evaluate every mart ViewDefinition of that resource type (compiled once per cold start) and add the lineage
 *    columns ({@link LINEAGE_COLUMNS}) to every row; list every resource version for `resource_versions`;
 * 3. encode each table's rows as ONE Parquet file through the {@link ParquetCodec} port and put it in the marts
 *    bucket at `marts/{table}/source={s}/date={d}/{requestId}-{Type}.parquet`. The name derives from the lake key
 *    only, so a re-delivered event overwrites the same file with the same rows: no duplicates (idempotent).
 *    `resource_versions` is written last: once it is there, the event is applied whole;
 * 4. register the tables, the current-version views and the new partitions in the {@link Catalog} (once per
 *    table and partition per cold start).
 *
 * {@link Etl.processBatch} applies several events (an SQS batch, or the events the local SNS endpoint delivers
 * together) with the same per-event outcome, but encodes each table's files of the batch in one codec call:
 * DuckDB's cost is mostly per statement and per file, not per row (see bench/etl.ts for figures).
 *
 * Compaction ({@link compactPartition}) merges a partition's small files into one and records the lake keys it
 * merged in a manifest (`compaction/source={s}/date={d}.json`); the ETL skips a table for a lake key already
 * merged, so a re-delivery after compaction adds nothing either.
 *
 * Pure orchestration over ports: no AWS SDK, no environment, no file system.
 */
import { createHash } from 'node:crypto';
import { mapLimit } from '../lib/concurrency';
import type { Clock, IngestEvent, ObjectStore } from './ports';
import {
  COMPACTION_PREFIX,
  LINEAGE_COLUMNS,
  VERSIONS_COLUMNS,
  VERSIONS_TABLE,
  currentViewDefinition,
  historyTableDefinition,
  historyTableName,
  rawTableDefinition,
  versionsTableDefinition,
  type Catalog,
  type ColumnDef,
  type MartViewInfo,
  type PartitionValues,
  type TableDefinition,
} from './catalog';
import type { Row, ViewColumnInfo } from '../fhir/views';

/**
 * Turns rows into Parquet and merges Parquet files, locally and in Lambda (`src/adapters/local/js-parquet-codec.ts`:
 * an in-process encoder for the ETL's files, DuckDB for merges and reads).
 */
export interface ParquetCodec {
  /**
   * One Parquet file holding `rows` with exactly `columns` (names, order, types). Row values are JSON-like:
   * strings, numbers, booleans, `null`, arrays for list columns.
   */
  encode(columns: readonly ColumnDef[], rows: readonly Row[]): Promise<Uint8Array>;
  /** One Parquet file per group of rows, as {@link encode} would write each (implementations batch the work). */
  encodeMany?(columns: readonly ColumnDef[], groups: readonly (readonly Row[])[]): Promise<Uint8Array[]>;
  /**
   * Merges Parquet files of one table into one with exactly `columns` (columns missing from a file are null).
   * Rows of a `_lake_key` found in several inputs are taken from the first of them only, so merging a
   * compacted file with a re-delivered small file of the same lake object does not duplicate rows.
   */
  merge(columns: readonly ColumnDef[], files: readonly Uint8Array[]): Promise<{ body: Uint8Array; rows: number; lakeKeys: string[] }>;
}

/** A compiled mart view (what `loadViews` returns: `{ name, compiled }`). */
export interface MartView {
  name: string;
  compiled: {
    readonly resource: string;
    readonly columns: readonly ViewColumnInfo[];
    readonly definition: { description?: string };
    rows(resource: unknown): Row[];
  };
}

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

/** The event or the lake object cannot be processed (retrying will not help). */
export class EtlError extends Error {
  override readonly name = 'EtlError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Partition, base name and type of a lake key. */
export interface LakeKeyParts extends PartitionValues {
  resourceType: string;
  /** File name without `.ndjson` (the request id). */
  base: string;
}

const LAKE_KEY = /^raw\/([A-Z][A-Za-z]{0,63})\/source=([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/date=(\d{4}-\d{2}-\d{2})\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.ndjson$/;

/** Parses `raw/{Type}/source={s}/date={d}/{base}.ndjson`; `undefined` for anything else. */
export function parseLakeKey(key: string): LakeKeyParts | undefined {
  const m = LAKE_KEY.exec(key);
  return m ? { resourceType: m[1]!, source: m[2]!, date: m[3]!, base: m[4]! } : undefined;
}

/** Key of a table's file for one lake object: `marts/{table}/source={s}/date={d}/{base}-{Type}.parquet`. */
export function martKey(prefix: string, lake: LakeKeyParts): string {
  return `${prefix}source=${lake.source}/date=${lake.date}/${lake.base}-${lake.resourceType}.parquet`;
}

/** Key of the compaction manifest of a partition. */
export function compactionManifestKey(p: PartitionValues): string {
  return `${COMPACTION_PREFIX}source=${p.source}/date=${p.date}.json`;
}

/** Per partition: the lake keys merged into each table by compaction. */
export interface CompactionManifest {
  source: string;
  date: string;
  tables: Record<string, { lakeKeys: string[]; files: string[]; compactedAt: string }>;
}

async function readManifest(store: ObjectStore, p: PartitionValues): Promise<CompactionManifest | undefined> {
  const body = await store.get(compactionManifestKey(p));
  if (!body) return undefined;
  return JSON.parse(Buffer.from(body).toString('utf8')) as CompactionManifest;
}

type Coerce = (v: unknown) => unknown;

const asText = (v: unknown): unknown =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
const asNumber = (integer: boolean) => (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) return null;
  return integer ? (Number.isInteger(n) ? n : null) : n;
};
const asBoolean = (v: unknown): unknown => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null);

/** A function that makes a value fit a column's SQL type (text for complex values, numbers from numeric text). */
function coercer(duckdbType: string): Coerce | undefined {
  const list = duckdbType.endsWith('[]');
  const scalar = list ? duckdbType.slice(0, -2) : duckdbType;
  const one: Coerce = scalar === 'VARCHAR' ? asText : scalar === 'BIGINT' ? asNumber(true) : scalar === 'DOUBLE' ? asNumber(false) : asBoolean;
  if (!list) return one;
  return (v) => (v === null || v === undefined ? null : (Array.isArray(v) ? v : [v]).map(one).filter((x) => x !== null));
}

/** Checks a value already fits (the common case) before coercing. */
function fits(duckdbType: string, v: unknown): boolean {
  if (v === null) return true;
  switch (duckdbType) {
    case 'VARCHAR':
      return typeof v === 'string';
    case 'DOUBLE':
      return typeof v === 'number';
    case 'BIGINT':
      return typeof v === 'number' && Number.isInteger(v);
    case 'BOOLEAN':
      return typeof v === 'boolean';
    default:
      return Array.isArray(v) && v.every((x) => fits(duckdbType.slice(0, -2), x));
  }
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


interface PreparedView {
  view: MartView;
  info: MartViewInfo;
  table: TableDefinition;
  columns: ColumnDef[];
  fix: { name: string; type: string; coerce: Coerce }[];
}

/** The ETL. One instance per cold start (views compiled, catalogue state cached); `process` per event. */
export class Etl {
  private readonly byType = new Map<string, PreparedView[]>();
  private readonly versionsTable: TableDefinition;
  private readonly ensured = new Map<string, Promise<void>>();
  private readonly partitions = new Map<string, Promise<void>>();
  private readonly onViewError: 'skip' | 'fail';

  constructor(private readonly deps: EtlDeps) {
    this.onViewError = deps.onViewError ?? 'skip';
    this.versionsTable = versionsTableDefinition(deps.marts.name);
    for (const view of deps.views) {
      const info: MartViewInfo = {
        name: view.name,
        resourceType: view.compiled.resource,
        columns: view.compiled.columns,
        description: view.compiled.definition.description,
      };
      const table = historyTableDefinition(info, deps.marts.name);
      const prepared: PreparedView = {
        view,
        info,
        table,
        columns: table.columns,
        fix: view.compiled.columns.map((c) => ({ name: c.name, type: c.duckdbType, coerce: coercer(c.duckdbType)! })),
      };
      const list = this.byType.get(info.resourceType) ?? [];
      list.push(prepared);
      this.byType.set(info.resourceType, list);
    }
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
  async processBatch(events: readonly IngestEvent[]): Promise<(EtlResult | Error)[]> {
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
      if (!manifests.has(k)) manifests.set(k, readManifest(this.deps.marts, p.parts));
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
    const { lake } = this.deps;
    if (event?.type !== 'tributary.ingest.committed') throw new EtlError(`not an ingest event: ${String(event?.type)}`);
    if (event.bucket !== lake.name) throw new EtlError(`event names bucket ${event.bucket}, this ETL reads ${lake.name}`);
    const parts = parseLakeKey(event.objectKey);
    if (!parts) throw new EtlError(`not a lake object key: ${event.objectKey}`);
    if (parts.resourceType !== event.resourceType || parts.source !== event.source) {
      throw new EtlError(`event type/source (${event.resourceType}, ${event.source}) do not match the key ${event.objectKey}`);
    }
    const body = await lake.get(event.objectKey);
    if (!body) throw new EtlError(`lake object ${event.objectKey} does not exist`);
    const checksum = createHash('sha256').update(body).digest('base64');
    if (event.checksumSha256 && checksum !== event.checksumSha256) {
      throw new EtlError(`checksum of ${event.objectKey} does not match the event`);
    }
    const resources = parseNdjson(Buffer.from(body).toString('utf8'), event.objectKey);
    const base = {
      _source: event.source,
      _ingested_at: event.ingestedAt ?? null,
      _lake_key: event.objectKey,
      _policy_version: event.policyVersion ?? null,
    };
    const versions: Row[] = [];
    const views = this.byType.get(parts.resourceType) ?? [];
    const viewRows: Row[][] = views.map(() => []);
    let viewErrors = 0;
    for (const r of resources) {
      if (r.resourceType !== parts.resourceType) {
        throw new EtlError(`${event.objectKey} holds a ${String(r.resourceType)} among ${parts.resourceType} resources`);
      }
      const meta = (r.meta ?? {}) as { versionId?: unknown; lastUpdated?: unknown };
      const lineage = {
        ...base,
        _resource_id: typeof r.id === 'string' ? r.id : null,
        _version_id: meta.versionId === undefined || meta.versionId === null ? null : String(meta.versionId),
        _last_updated: typeof meta.lastUpdated === 'string' ? meta.lastUpdated : null,
      };
      versions.push({ resource_type: parts.resourceType, ...lineage });
      for (let i = 0; i < views.length; i++) {
        const pv = views[i]!;
        let rows: Row[];
        try {
          rows = pv.view.compiled.rows(r);
        } catch (err) {
          if (this.onViewError === 'fail') throw err;
          viewErrors++;
          this.deps.log?.warn('view failed on a resource; its rows are skipped', {
            view: pv.info.name,
            resourceId: lineage._resource_id,
            objectKey: event.objectKey,
            error: err instanceof Error ? err.name : 'Error',
            location: (err as { location?: string }).location,
          });
          continue;
        }
        const rowsOut = viewRows[i]!;
        for (const row of rows) {
          for (const f of pv.fix) {
            const v = row[f.name];
            if (v === undefined) row[f.name] = null;
            else if (v !== null && !fits(f.type, v)) row[f.name] = f.coerce(v);
          }
          rowsOut.push(Object.assign(row, lineage));
        }
      }
    }
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
      const raw = rawTableDefinition(p.parts.resourceType, this.deps.lake.name);
      tables.set(raw.name, raw);
      const part: PartitionValues = { source: p.parts.source, date: p.parts.date };
      for (const t of [raw.name, ...Object.keys(p.result.rows), ...p.result.skipped]) partitions.set(`${t}|${part.source}|${part.date}`, [t, part]);
    }
    await this.once(this.ensured, '#database', () => catalog.ensureDatabase());
    await Promise.all([...tables.values()].map((t) => this.once(this.ensured, t.name, () => catalog.ensureTable(t).then(() => undefined))));
    await Promise.all(
      [...views.values()].map((pv) => this.once(this.ensured, `view:${pv.info.name}`, () => catalog.ensureView(currentViewDefinition(pv.info)).then(() => undefined))),
    );
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

/** Parses NDJSON (blank lines ignored). */
function parseNdjson(text: string, key: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    if (end > start) {
      const s = text.slice(start, end);
      if (s.trim() !== '') {
        try {
          out.push(JSON.parse(s) as Record<string, unknown>);
        } catch (err) {
          throw new EtlError(`${key}: line ${line} is not JSON`, { cause: err });
        }
      }
    }
    start = end + 1;
  }
  return out;
}

/** What {@link compactPartition} did. */
export interface CompactionResult {
  table: string;
  partition: PartitionValues;
  /** Files merged (0 when there was nothing to do). */
  inputs: number;
  rows: number;
  /** The merged file, when one was written. */
  output?: string;
  lakeKeys: number;
}

/** Collaborators of {@link compactPartition}. */
export interface CompactionDeps {
  marts: ObjectStore;
  codec: ParquetCodec;
  now?: () => Date;
}

/**
 * Merges the Parquet files of one partition of a table into one file `compacted-{hash of its lake keys}.parquet`,
 * without losing or duplicating rows:
 * 1. the manifest of the partition first records the lake keys about to be merged (from then on the ETL skips
 *    re-deliveries of those objects for this table; their rows are still in the small files);
 * 2. the merged file is written (rows of a lake key present in several inputs are taken once);
 * 3. the merged inputs are deleted.
 * A crash between steps leaves at worst duplicates that the next run removes (step 2 dedupes by lake key).
 * Do not run two compactions of the same partition at once (the manifest is read-modify-write).
 */
export async function compactPartition(deps: CompactionDeps, table: TableDefinition, partition: PartitionValues): Promise<CompactionResult> {
  const { marts, codec } = deps;
  const prefix = `${table.location.prefix}source=${partition.source}/date=${partition.date}/`;
  const keys = (await marts.list(prefix)).filter((k) => k.endsWith('.parquet') && !k.slice(prefix.length).includes('/'));
  const result: CompactionResult = { table: table.name, partition, inputs: 0, rows: 0, lakeKeys: 0 };
  if (keys.length < 2) return result;
  // compacted files first, so that their rows are the ones kept for a lake key found twice
  keys.sort((a, b) => Number(!a.includes('/compacted-')) - Number(!b.includes('/compacted-')) || a.localeCompare(b));
  const bodies: Uint8Array[] = [];
  for (const k of keys) {
    const b = await marts.get(k);
    if (b) bodies.push(b);
  }
  const merged = await codec.merge(table.columns, bodies);
  const lakeKeys = [...new Set(merged.lakeKeys)].sort();
  const output = `${prefix}compacted-${createHash('sha256').update(lakeKeys.join('\n')).digest('hex').slice(0, 16)}.parquet`;
  // 1. manifest (intent)
  const manifest: CompactionManifest = (await readManifest(marts, partition)) ?? { source: partition.source, date: partition.date, tables: {} };
  const entry = manifest.tables[table.name] ?? { lakeKeys: [], files: [], compactedAt: '' };
  entry.lakeKeys = [...new Set([...entry.lakeKeys, ...lakeKeys])].sort();
  entry.files = [output];
  entry.compactedAt = (deps.now?.() ?? new Date()).toISOString();
  manifest.tables[table.name] = entry;
  await marts.put(compactionManifestKey(partition), JSON.stringify(manifest, null, 1), { contentType: 'application/json' });
  // 2. merged file
  await marts.put(output, merged.body, {
    contentType: 'application/vnd.apache.parquet',
    metadata: { rows: String(merged.rows), compacted: String(keys.length), writtenat: (deps.now?.() ?? new Date()).toISOString() },
  });
  // 3. inputs
  await marts.delete(keys.filter((k) => k !== output));
  return { ...result, inputs: keys.length, rows: merged.rows, output, lakeKeys: lakeKeys.length };
}

/** The history table definitions of views (for compaction and replays), plus `resource_versions`. */
export function etlTables(views: readonly MartView[], martsBucket: string): TableDefinition[] {
  return [
    versionsTableDefinition(martsBucket),
    ...views.map((v) =>
      historyTableDefinition(
        { name: v.name, resourceType: v.compiled.resource, columns: v.compiled.columns, description: v.compiled.definition.description },
        martsBucket,
      ),
    ),
  ];
}

export { LINEAGE_COLUMNS, historyTableName };
