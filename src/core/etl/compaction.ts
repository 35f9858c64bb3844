/**
 * Compaction of the marts: a partition's small Parquet files merged into one, and the compaction manifest of the
 * partition (`compaction/source={s}/date={d}.json`) recording the lake keys merged, which the ETL reads to skip a
 * re-delivered lake object already merged.
 */
import { createHash } from 'node:crypto';
import type { PartitionValues, TableDefinition } from '../catalog';
import { compactedFileKey, compactionManifestKey, isCompactedFileKey, martPartitionPrefix } from '../lake-layout';
import type { ObjectStore } from '../ports';
import type { ParquetCodec } from './parquet-codec';

/** Per partition: the lake keys merged into each table by compaction. */
export interface CompactionManifest {
  source: string;
  date: string;
  tables: Record<string, { lakeKeys: string[]; files: string[]; compactedAt: string }>;
}

/** The compaction manifest of a partition, or `undefined` when the partition was never compacted. */
export async function readCompactionManifest(store: ObjectStore, p: PartitionValues): Promise<CompactionManifest | undefined> {
  const body = await store.get(compactionManifestKey(p));
  if (!body) return undefined;
  return JSON.parse(Buffer.from(body).toString('utf8')) as CompactionManifest;
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
  const prefix = martPartitionPrefix(table.location.prefix, partition);
  const keys = (await marts.list(prefix)).filter((k) => k.endsWith('.parquet') && !k.slice(prefix.length).includes('/'));
  const result: CompactionResult = { table: table.name, partition, inputs: 0, rows: 0, lakeKeys: 0 };
  if (keys.length < 2) return result;
  // compacted files first, so that their rows are the ones kept for a lake key found twice
  keys.sort((a, b) => Number(!isCompactedFileKey(a)) - Number(!isCompactedFileKey(b)) || a.localeCompare(b));
  const bodies: Uint8Array[] = [];
  for (const k of keys) {
    const b = await marts.get(k);
    if (b) bodies.push(b);
  }
  const merged = await codec.merge(table.columns, bodies);
  const lakeKeys = [...new Set(merged.lakeKeys)].sort();
  const output = compactedFileKey(prefix, createHash('sha256').update(lakeKeys.join('\n')).digest('hex').slice(0, 16));
  // 1. manifest (intent)
  const manifest: CompactionManifest = (await readCompactionManifest(marts, partition)) ?? { source: partition.source, date: partition.date, tables: {} };
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
