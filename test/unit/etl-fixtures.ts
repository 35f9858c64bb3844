/** Fixtures of the ETL tests: in-memory lake, marts mirrored to a temp folder, a DuckDB catalogue there. */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etl } from '../../src/core/etl';
import type { IngestEvent, ObjectStore } from '../../src/core/ports';
import { RAW_PREFIX, lakeKey } from '../../src/core/lake-layout';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { MirroredObjectStore } from '../../src/adapters/local/mirrored-object-store';
import { DuckDbCatalog, localCatalogFile, openCatalogSnapshot } from '../../src/adapters/local/duckdb-catalog';
import { toJsonRows } from '../../src/adapters/local/parquet-writer';
import { JsParquetCodec } from '../../src/adapters/local/js-parquet-codec';
import { loadViews, type LoadedView } from '../../src/fhir/views';
import { readViewFiles } from '../../src/paths';

export const VIEWS_DIR = path.resolve(__dirname, '../../views');

/** Writes resources to the lake as the Ingestor's commit does and returns the events it would publish. */
export async function commit(
  lake: ObjectStore,
  resources: any[],
  opts: { source?: string; requestId: string; date?: string; version?: string; policyVersion?: string },
): Promise<IngestEvent[]> {
  const source = opts.source ?? 'test-src';
  const date = opts.date ?? '2024-05-01';
  const ingestedAt = `${date}T10:00:00.000Z`;
  const byType = new Map<string, any[]>();
  for (const r of resources) {
    const lr = {
      ...r,
      meta: { ...(r.meta ?? {}), versionId: r.meta?.versionId ?? opts.version ?? '1', lastUpdated: r.meta?.lastUpdated ?? ingestedAt, source: `urn:tributary:source:${source}#${opts.requestId}` },
    };
    const l = byType.get(r.resourceType) ?? [];
    l.push(lr);
    byType.set(r.resourceType, l);
  }
  const events: IngestEvent[] = [];
  for (const [type, list] of byType) {
    const body = list.map((r) => JSON.stringify(r)).join('\n') + '\n';
    const key = lakeKey({ resourceType: type, source, date, base: opts.requestId });
    const checksum = createHash('sha256').update(body).digest('base64');
    await lake.put(key, body, { metadata: { policyversion: opts.policyVersion ?? 'none' }, checksumSha256: checksum });
    events.push({
      type: 'tributary.ingest.committed',
      requestId: opts.requestId,
      source,
      resourceType: type,
      bucket: lake.name,
      objectKey: key,
      count: list.length,
      checksumSha256: checksum,
      ingestedAt,
      resources: list.map((r) => ({ id: r.id, versionId: r.meta.versionId })),
      ...(opts.policyVersion ? { policyVersion: opts.policyVersion } : {}),
    });
  }
  return events;
}

export interface Harness {
  dir: string;
  lake: MirroredObjectStore;
  inner: MemoryObjectStore;
  marts: MirroredObjectStore;
  catalog: DuckDbCatalog;
  codec: JsParquetCodec;
  views: LoadedView[];
  etl: Etl;
  warnings: Record<string, unknown>[];
  /** Runs SQL over the catalogue (a fresh snapshot each time, like `npm run query`). */
  query(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

/** A complete local ETL over in-memory buckets (the marts mirrored to files for DuckDB). */
export function harness(opts: { onViewError?: 'skip' | 'fail'; views?: LoadedView[] } = {}): Harness {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-etl-test-'));
  const lake = new MirroredObjectStore(new MemoryObjectStore('test-lake'), dir, [RAW_PREFIX]);
  const inner = new MemoryObjectStore('test-marts');
  const marts = new MirroredObjectStore(inner, dir);
  const catalog = new DuckDbCatalog({
    file: localCatalogFile(dir),
    locate: (def) => path.join(dir, def.location.prefix, '*', '*', def.format === 'parquet' ? '*.parquet' : '*.ndjson'),
  });
  const codec = new JsParquetCodec({ tmpDir: path.join(dir, 'tmp') });
  const views = opts.views ?? loadViews(readViewFiles(VIEWS_DIR));
  const warnings: Record<string, unknown>[] = [];
  const etl = new Etl({
    lake,
    marts,
    codec,
    views,
    catalog,
    onViewError: opts.onViewError,
    log: { info: () => undefined, warn: (_m, extra) => warnings.push(extra ?? {}) },
  });
  return {
    dir,
    lake,
    inner,
    marts,
    catalog,
    codec,
    views,
    etl,
    warnings,
    async query(sql: string) {
      const snap = await openCatalogSnapshot(localCatalogFile(dir));
      try {
        return toJsonRows((await snap.connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]);
      } finally {
        snap.close();
      }
    },
    async close() {
      await codec.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
