/**
 * The key layout of the lake and marts buckets: every prefix, key builder and key parser in one place, so the
 * write path, the ETL, the catalogue, the compaction, the scripts and the tests agree on it.
 *
 * Lake bucket:
 * - `staging/{requestId}/{Type}.ndjson`: staged objects of the write path before the commit protocol (none are
 *   written any more; recovery sweeps what is left);
 * - `raw/{Type}/source={source}/date={yyyy-mm-dd}/{requestId}.ndjson`: committed lake objects (one per request and
 *   resource type), partitioned by source system and ingestion day;
 * - `commits/date={yyyy-mm-dd}/{requestId}.json`: the commit manifest of a request ({@link CommitManifest}), written
 *   once the request is committed and its outbox done (readers that list requests read these: `etl-replay`);
 * - `outbox/{requestId}.json`: the commit record (outbox) of a request in flight, with its lake objects (a JSON line,
 *   then their NDJSON: `outboxBytes` in ingest/commit-record.ts), written before anything else of it and deleted once
 *   the request is done or rolled back (docs/commit-protocol.md).
 *
 * Marts bucket:
 * - `marts/{table}/source={source}/date={yyyy-mm-dd}/{requestId}-{Type}.parquet`: the ETL's file of a table for one
 *   lake object; `…/compacted-{hash}.parquet`: a compacted partition;
 * - `compaction/source={source}/date={yyyy-mm-dd}.json`: the compaction manifest of a partition (outside every
 *   table location).
 *
 * Pure: no I/O.
 */

/** Partition values of a table: source system and ingestion day (`yyyy-mm-dd`). */
export interface PartitionValues {
  source: string;
  date: string;
}

/** Prefix of committed lake objects. */
export const RAW_PREFIX = 'raw/';

/** Prefix of staged objects of the write path before the commit protocol (swept by recovery). */
export const STAGING_PREFIX = 'staging/';

/** Prefix of the commit manifests in the lake bucket. */
export const COMMITS_PREFIX = 'commits/';

/** Prefix of the commit records (outbox) of requests in flight. */
export const OUTBOX_PREFIX = 'outbox/';

/** Key of a request's commit record (outbox): `outbox/{requestId}.json`. */
export function outboxKey(requestId: string): string {
  return `${OUTBOX_PREFIX}${requestId}.json`;
}

/** The request id of an outbox key; `undefined` for anything else. */
export function parseOutboxKey(key: string): string | undefined {
  const m = /^outbox\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\.json$/.exec(key);
  return m ? m[1] : undefined;
}

/** Key prefix of the marts in the marts bucket. */
export const MARTS_PREFIX = 'marts/';

/** Key prefix of compaction manifests in the marts bucket (outside every table location). */
export const COMPACTION_PREFIX = 'compaction/';

/** Pattern of a source partition value (a source system name): letters, digits, `.`, `_`, `-`; at most 64. */
const SOURCE = '[A-Za-z0-9][A-Za-z0-9._-]{0,63}';
const SOURCE_RE = new RegExp(`^${SOURCE}$`);

/** True when `source` can be a `source=` partition value (and so a source system name). */
export function isValidSource(source: string): boolean {
  return SOURCE_RE.test(source);
}

/** The `date=` partition value of an instant: its UTC day, `yyyy-mm-dd`. */
export function partitionDate(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** The partition folders below a table location: `source={s}/date={d}/`. */
export function partitionPath(p: PartitionValues): string {
  return `source=${p.source}/date=${p.date}/`;
}

// ---------------------------------------------------------------- lake bucket

/** Partition, base name and type of a lake key. */
export interface LakeKeyParts extends PartitionValues {
  resourceType: string;
  /** File name without `.ndjson` (the request id). */
  base: string;
}

const LAKE_KEY = new RegExp(`^${RAW_PREFIX}([A-Z][A-Za-z]{0,63})/source=(${SOURCE})/date=(\\d{4}-\\d{2}-\\d{2})/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\\.ndjson$`);

/** Prefix of the committed lake objects of one resource type: `raw/{Type}/`. */
export function rawTypePrefix(resourceType: string): string {
  return `${RAW_PREFIX}${resourceType}/`;
}

/** Key of a committed lake object: `raw/{Type}/source={s}/date={d}/{base}.ndjson`. */
export function lakeKey(parts: LakeKeyParts): string {
  return `${rawTypePrefix(parts.resourceType)}${partitionPath(parts)}${parts.base}.ndjson`;
}

/** Parses `raw/{Type}/source={s}/date={d}/{base}.ndjson`; `undefined` for anything else. */
export function parseLakeKey(key: string): LakeKeyParts | undefined {
  const m = LAKE_KEY.exec(key);
  return m ? { resourceType: m[1]!, source: m[2]!, date: m[3]!, base: m[4]! } : undefined;
}

/** Key of a request's staged object of one type: `staging/{requestId}/{Type}.ndjson`. */
export function stagingKey(requestId: string, resourceType: string): string {
  return `${STAGING_PREFIX}${requestId}/${resourceType}.ndjson`;
}

/** The request id of a staged object's key; `undefined` for anything else. */
export function parseStagingKey(key: string): string | undefined {
  const m = /^staging\/([A-Za-z0-9][A-Za-z0-9._-]{0,127})\/[A-Z][A-Za-z]{0,63}\.ndjson$/.exec(key);
  return m ? m[1] : undefined;
}

/** Key of a request's commit manifest: `commits/date={d}/{requestId}.json`. */
export function commitManifestKey(date: string, requestId: string): string {
  return `${commitManifestPrefix(date)}${requestId}.json`;
}

/** Prefix of the commit manifests of one day (`commits/date={d}/`), or of all of them. */
export function commitManifestPrefix(date?: string): string {
  return date ? `${COMMITS_PREFIX}date=${date}/` : COMMITS_PREFIX;
}

/** The commit manifest of a request: the whole request at once, for readers that want transactions atomically. */
export interface CommitManifest {
  requestId: string;
  source: string;
  committedAt: string;
  objects: { key: string; resourceType: string; count: number; checksumSha256: string }[];
}

// ---------------------------------------------------------------- marts bucket

/** Location prefix of a mart table's files: `marts/{table}/`. */
export function martTablePrefix(table: string): string {
  return `${MARTS_PREFIX}${table}/`;
}

/** Prefix of one partition of a table at `tablePrefix` (e.g. `marts/observation/source={s}/date={d}/`). */
export function martPartitionPrefix(tablePrefix: string, p: PartitionValues): string {
  return `${tablePrefix}${partitionPath(p)}`;
}

/** Key of a table's file for one lake object: `marts/{table}/source={s}/date={d}/{base}-{Type}.parquet`. */
export function martKey(tablePrefix: string, lake: LakeKeyParts): string {
  return `${martPartitionPrefix(tablePrefix, lake)}${lake.base}-${lake.resourceType}.parquet`;
}

/** Key of the compacted file of a partition: `{partition prefix}compacted-{hash}.parquet`. */
export function compactedFileKey(partitionPrefix: string, hash: string): string {
  return `${partitionPrefix}compacted-${hash}.parquet`;
}

/** True for a key made by {@link compactedFileKey}. */
export function isCompactedFileKey(key: string): boolean {
  return key.includes('/compacted-');
}

/** Key of the compaction manifest of a partition: `compaction/source={s}/date={d}.json`. */
export function compactionManifestKey(p: PartitionValues): string {
  return `${COMPACTION_PREFIX}source=${p.source}/date=${p.date}.json`;
}
