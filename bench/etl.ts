/**
 * Benchmark of the ETL (issue 4): Synthea transaction Bundles are turned into lake objects exactly as the ingest
 * path stores them (one NDJSON object per Bundle and resource type, `meta.versionId`/`lastUpdated`/`source` set),
 * then every object's IngestEvent goes through the real ETL (views + lineage + DuckDB Parquet encoding) with
 * in-memory buckets, so no network is measured. Beside it, in the same run and on the same NDJSON objects,
 * DuckDB's own NDJSON → Parquet conversion (schema inferred by DuckDB), per object and in bulk, for scale.
 * The ETL runs as one instance per core (worker threads), as concurrent Lambda invocations would; the one-core
 * figure (`rowsPerCpuSecond`) is reported beside the wall-time rate. Reports figures only; nothing is asserted.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { DuckDBInstance } from '@duckdb/node-api';
import { Etl, type EtlResult } from '../src/core/etl';
import type { IngestEvent } from '../src/core/ports';
import { lakeKey } from '../src/core/lake-layout';
import { MemoryObjectStore } from '../src/adapters/local/memory-object-store';
import { sqlString } from '../src/adapters/local/parquet-writer';
import { JsParquetCodec } from '../src/adapters/local/js-parquet-codec';
import { loadViews } from '../src/fhir/views';
import { projectFile, readViewFiles } from '../src/paths';

/** Figures of one {@link benchEtl} run. */
export interface EtlBench {
  /** Lake objects (= events) processed per pass. */
  objects: number;
  /** Resources in them. */
  resources: number;
  /** Mart rows written per pass (all `{view}_history` tables + `resource_versions`). */
  martRows: number;
  /** Mart rows of the views only (without `resource_versions`). */
  viewRows: number;
  /** Parquet files written per pass. */
  files: number;
  /** ETL mart rows per second of wall time, all workers together (second pass: warm, and a re-delivery of every event). */
  rowsPerSecond: number;
  /** The first (cold) pass, rows per second: includes DuckDB start and JIT warm-up. */
  coldRowsPerSecond: number;
  /** Wall time of the measured pass, milliseconds. */
  millis: number;
  /** DuckDB alone: NDJSON → Parquet (schema inferred), one COPY per lake object, resources per second. */
  duckdbPerObjectRowsPerSecond: number;
  /** DuckDB alone: NDJSON → Parquet (schema inferred), one COPY per resource type over all objects, resources per second. */
  duckdbBulkRowsPerSecond: number;
  /** Rows per table of one pass. */
  rowsByTable: Record<string, number>;
  /** Batches in flight at once in the measured pass. */
  concurrency: number;
  /** Events per batch (an SQS batch; 1 = one event per invocation, the local SNS path without coalescing). */
  batchSize: number;
  /** ETL mart rows per second of the process's CPU time over the measured pass (the one-core figure). */
  rowsPerCpuSecond: number;
  /** The same pass on ONE instance (one core), mart rows per second of wall time. */
  oneInstanceRowsPerSecond: number;
  /** ETL instances run in parallel (worker threads; in AWS, concurrent Lambda invocations). */
  workers: number;
}

/** Builds the lake objects and events of Bundles, as the Ingestor's commit would (one object per Bundle and type). */
export function lakeObjects(bundles: any[], source = 'bench'): { key: string; body: string; event: IngestEvent }[] {
  const out: { key: string; body: string; event: IngestEvent }[] = [];
  const now = new Date('2024-05-01T12:00:00Z').toISOString();
  for (const b of bundles) {
    const requestId = randomUUID();
    const byType = new Map<string, any[]>();
    for (const e of b.entry ?? []) {
      const r = e.resource;
      if (!r?.resourceType) continue;
      const id = r.id ?? String(e.fullUrl ?? randomUUID()).replace(/^urn:uuid:/, '');
      const lr = { ...r, id, meta: { ...(r.meta ?? {}), versionId: '1', lastUpdated: now, source: `urn:tributary:source:${source}#${requestId}` } };
      const list = byType.get(r.resourceType) ?? [];
      list.push(lr);
      byType.set(r.resourceType, list);
    }
    for (const [type, list] of byType) {
      const body = list.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const key = lakeKey({ resourceType: type, source, date: now.slice(0, 10), base: requestId });
      out.push({
        key,
        body,
        event: {
          type: 'tributary.ingest.committed',
          requestId,
          source,
          resourceType: type,
          bucket: 'bench-lake',
          objectKey: key,
          count: list.length,
          checksumSha256: createHash('sha256').update(body).digest('base64'),
          ingestedAt: now,
          resources: list.map((r) => ({ id: r.id, versionId: '1' })),
        },
      });
    }
  }
  return out;
}

async function runPass(etl: Etl, events: IngestEvent[], batchSize: number, concurrency: number): Promise<EtlResult[]> {
  const results: EtlResult[] = [];
  const batches: IngestEvent[][] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
  const worker = async (): Promise<void> => {
    for (let b = batches.shift(); b; b = batches.shift()) {
      for (const r of await etl.processBatch(b)) {
        if (r instanceof Error) throw r;
        results.push(r);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** What one ETL worker (one "Lambda instance") reports of its passes. */
interface WorkerFigures {
  coldMillis: number;
  coldRows: number;
  millis: number;
  rowsByTable: Record<string, number>;
  files: number;
}

/** One ETL instance over its share of the lake objects: a cold pass, then (on `go`) the measured pass. */
async function etlInstance(
  objects: { key: string; body: string; event: IngestEvent }[],
  opts: { viewsDir: string; threads: number; batchSize: number; concurrency: number },
  waitForGo: () => Promise<void>,
): Promise<WorkerFigures> {
  const lake = new MemoryObjectStore('bench-lake');
  for (const o of objects) await lake.put(o.key, o.body);
  const marts = new MemoryObjectStore('bench-marts');
  const codec = new JsParquetCodec({ threads: opts.threads });
  try {
    const etl = new Etl({ lake, marts, codec, views: loadViews(readViewFiles(opts.viewsDir)) });
    const events = objects.map((o) => o.event);
    let t = performance.now();
    const cold = await runPass(etl, events, opts.batchSize, opts.concurrency);
    const coldMillis = performance.now() - t;
    await waitForGo();
    t = performance.now();
    const results = await runPass(etl, events, opts.batchSize, opts.concurrency);
    const millis = performance.now() - t;
    const rowsByTable: Record<string, number> = {};
    let files = 0;
    for (const r of results) {
      for (const [k, n] of Object.entries(r.rows)) rowsByTable[k] = (rowsByTable[k] ?? 0) + n;
      files += r.written.length;
    }
    const coldRows = cold.reduce((s, r) => s + Object.values(r.rows).reduce((a, b) => a + b, 0), 0);
    return { coldMillis, coldRows, millis, rowsByTable, files };
  } finally {
    await codec.close();
  }
}

/**
 * Runs `workers` ETL instances, each in a worker thread (also when there is one, so one and several are measured
 * alike) over its share of the objects: whole batches dealt round-robin, so each sees SQS-sized batches of
 * consecutive events. Wall time and the process's CPU time are taken from the common start of the measured pass.
 */
async function runInstances(
  objects: { key: string; body: string; event: IngestEvent }[],
  workers: number,
  instanceOpts: Parameters<typeof etlInstance>[1],
): Promise<{ figures: WorkerFigures[]; millis: number; cpuMicros: number }> {
  const shares: (typeof objects)[] = Array.from({ length: workers }, () => []);
  for (let i = 0, b = 0; i < objects.length; i += instanceOpts.batchSize, b++) shares[b % workers]!.push(...objects.slice(i, i + instanceOpts.batchSize));
  const pool = shares.map((share) => new Worker(__filename, { workerData: { tributaryEtlBench: true, objects: share, opts: instanceOpts } }));
  try {
    const ready = pool.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once('error', reject);
          w.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error ?? 'unexpected message from an ETL worker'))));
        }),
    );
    await Promise.all(ready);
    const done = pool.map(
      (w) =>
        new Promise<WorkerFigures>((resolve, reject) => {
          w.once('error', reject);
          w.once('message', (m: { figures?: WorkerFigures; error?: string }) => (m.figures ? resolve(m.figures) : reject(new Error(m.error ?? 'ETL worker failed'))));
        }),
    );
    const cpu0 = process.cpuUsage(); // the whole process: every worker thread, and this idle one
    const start = performance.now();
    for (const w of pool) w.postMessage('go');
    const figures = await Promise.all(done);
    const millis = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return { figures, millis, cpuMicros: cpu.user + cpu.system };
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/**
 * Runs the ETL over the Bundles in `files` (paths of Synthea transaction Bundles): one cold pass, one measured
 * pass, then DuckDB's own NDJSON → Parquet over the same objects.
 *
 * The events are dealt round-robin (whole SQS batches) to that many worker threads, each its
 * own ETL instance with its own buckets, views and codec: what Lambda does when SQS drives several concurrent
 * invocations, and what a machine's cores allow. The measured pass starts in every worker at once; the wall time is
 * from that start to the last worker's end. Every event is processed exactly once per pass, whatever `workers` is.
 * @param opts.batchSize - events per batch (default 10, SQS's default batch size).
 * @param opts.concurrency - batches in flight at once within one instance (default 1: one invocation at a time).
 * @param opts.workers - ETL instances in parallel (default: the machine's cores, at most 4).
 */
export async function benchEtl(
  files: string[],
  opts: { viewsDir?: string; concurrency?: number; threads?: number; batchSize?: number; workers?: number } = {},
): Promise<EtlBench> {
  const bundles = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const objects = lakeObjects(bundles);
  const concurrency = opts.concurrency ?? 1;
  const batchSize = opts.batchSize ?? 10;
  const workers = Math.max(1, opts.workers ?? Math.min(4, os.availableParallelism()));
  const instanceOpts = { viewsDir: opts.viewsDir ?? projectFile('views'), threads: opts.threads ?? 1, batchSize, concurrency };

  const run = await runInstances(objects, workers, instanceOpts);
  // the same work on one instance, for the one-core figure (skipped when that is what was just measured)
  const one = workers > 1 ? await runInstances(objects, 1, instanceOpts) : run;
  const { figures, millis, cpuMicros } = run;

  const rowsByTable: Record<string, number> = {};
  for (const f of figures) for (const [k, n] of Object.entries(f.rowsByTable)) rowsByTable[k] = (rowsByTable[k] ?? 0) + n;
  const martRows = Object.values(rowsByTable).reduce((a, b) => a + b, 0);
  const coldRows = figures.reduce((s, f) => s + f.coldRows, 0);
  const coldMillis = Math.max(...figures.map((f) => f.coldMillis));
  const duck = await duckdbAlone(objects);
  return {
    objects: objects.length,
    resources: objects.reduce((s, o) => s + o.event.count, 0),
    martRows,
    viewRows: martRows - (rowsByTable.resource_versions ?? 0),
    files: figures.reduce((s, f) => s + f.files, 0),
    rowsPerSecond: Math.round((martRows * 1000) / millis),
    rowsPerCpuSecond: Math.round((martRows * 1000 * 1000) / cpuMicros),
    oneInstanceRowsPerSecond: Math.round((martRows * 1000) / one.millis),
    coldRowsPerSecond: Math.round((coldRows * 1000) / coldMillis),
    millis: Math.round(millis),
    duckdbPerObjectRowsPerSecond: duck.perObject,
    duckdbBulkRowsPerSecond: duck.bulk,
    rowsByTable,
    concurrency,
    batchSize,
    workers,
  };
}

/** DuckDB's own NDJSON → Parquet rates (resources per second) on the same lake objects. */
async function duckdbAlone(objects: { key: string; body: string; event: IngestEvent }[]): Promise<{ perObject: number; bulk: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-'));
  const db = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await db.connect();
  try {
    const resources = objects.reduce((s, o) => s + o.event.count, 0);
    // per object, the same granularity as the ETL
    let t = performance.now();
    for (const o of objects) {
      const f = path.join(dir, 'o.ndjson');
      fs.writeFileSync(f, o.body);
      await conn.run(
        `COPY (SELECT * FROM read_json(${sqlString(f)}, format = 'newline_delimited', union_by_name = true)) TO ${sqlString(path.join(dir, 'o.parquet'))} (FORMAT parquet, COMPRESSION zstd)`,
      );
    }
    const perObject = Math.round((resources * 1000) / (performance.now() - t));
    // bulk: one file per type
    const byType = new Map<string, string[]>();
    for (const o of objects) {
      const l = byType.get(o.event.resourceType) ?? [];
      l.push(o.body);
      byType.set(o.event.resourceType, l);
    }
    const paths: [string, string][] = [];
    for (const [type, bodies] of byType) {
      const f = path.join(dir, `${type}.ndjson`);
      fs.writeFileSync(f, bodies.join(''));
      paths.push([type, f]);
    }
    t = performance.now();
    for (const [type, f] of paths) {
      await conn.run(
        `COPY (SELECT * FROM read_json(${sqlString(f)}, format = 'newline_delimited', union_by_name = true, sample_size = -1)) TO ${sqlString(path.join(dir, `${type}.parquet`))} (FORMAT parquet, COMPRESSION zstd)`,
      );
    }
    const bulk = Math.round((resources * 1000) / (performance.now() - t));
    return { perObject, bulk };
  } finally {
    conn.closeSync();
    db.closeSync();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (!isMainThread && (workerData as { tributaryEtlBench?: boolean } | undefined)?.tributaryEtlBench) {
  const { objects, opts } = workerData as { objects: { key: string; body: string; event: IngestEvent }[]; opts: Parameters<typeof etlInstance>[1] };
  const go = new Promise<void>((resolve) => parentPort!.once('message', () => resolve()));
  etlInstance(objects, opts, async () => {
    parentPort!.postMessage({ ready: true });
    await go;
  }).then(
    (figures) => parentPort!.postMessage({ figures }),
    (err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.message : String(err) }),
  );
} else if (require.main === module) {
  // from bench/ in the sources or dist/bench/ in the build
  const synthea = ['../../shared', '../../../shared'].map((d) => path.resolve(__dirname, d, 'fhir/synthea/smart-on-fhir-r4'));
  const dir = process.argv[2] ?? synthea.find((d) => fs.existsSync(d)) ?? synthea[0]!;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f));
  benchEtl(files, {
    concurrency: Number(process.env.CONCURRENCY ?? 1),
    batchSize: Number(process.env.BATCH ?? 10),
    workers: process.env.WORKERS ? Number(process.env.WORKERS) : undefined,
  }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
