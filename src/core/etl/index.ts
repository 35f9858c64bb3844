/**
 * The ETL (issue 4): committed lake objects in, Parquet mart files out, and the compaction of the marts.
 * - `./etl`: the {@link Etl} use case (events → files → catalogue);
 * - `./lake-object`: reading and checking one lake object;
 * - `./rows`: view rows, lineage columns, coercion to the mart column types;
 * - `./compaction`: {@link compactPartition} and the compaction manifests;
 * - `./parquet-codec`: the {@link ParquetCodec} port.
 * Keys and prefixes of the lake and the marts are built by `../lake-layout` (re-exported here where the ETL's
 * public API always had them).
 */
export { Etl, etlTables, type EtlDeps, type EtlLog, type EtlResult, type RunOptions } from './etl';
export { EtlError } from './lake-object';
export type { MartView } from './rows';
export type { ParquetCodec } from './parquet-codec';
export { compactPartition, type CompactionDeps, type CompactionManifest, type CompactionResult } from './compaction';
export { compactionManifestKey, martKey, parseLakeKey, type LakeKeyParts } from '../lake-layout';
export { LINEAGE_COLUMNS, historyTableName } from '../catalog';
