/**
 * {@link ParquetCodec} whose ETL writes are encoded in process by the specialised encoder of
 * `parquet-encoder.ts` (pure TypeScript, no temp files, no native call), and whose merges, reads and compaction
 * stay on DuckDB ({@link DuckDbParquetCodec}).
 *
 * Why: the ETL writes one small Parquet file per lake object and table (the key of a lake object's file is what
 * makes a re-delivered event overwrite rather than duplicate). DuckDB spends about 2 ms per file written whatever
 * it holds (a statement, a temp NDJSON file, a Parquet file read back); the in-process encoder writes the same
 * file, with the same column types, in tens of microseconds. DuckDB remains the engine for everything that reads
 * Parquet (compaction, `npm run query`, the local catalogue). Column statistics and compression are left out of
 * the small files: min/max of a 20-row file prune nothing, and compaction (DuckDB, ZSTD, with statistics)
 * rewrites a partition's small files into one compressed file.
 */
import type { ColumnDef } from '../../core/catalog';
import type { Row } from '../../fhir/views';
import { encodeParquet as encode } from './parquet-encoder';
import { DuckDbParquetCodec, ParquetCodecError } from './parquet-writer';

/** Encodes `rows` as one Parquet file with exactly `columns`, in process. */
export function encodeParquet(columns: readonly ColumnDef[], rows: readonly Row[]): Uint8Array {
  try {
    return encode(columns, rows);
  } catch (err) {
    throw new ParquetCodecError(`encoding ${rows.length} rows as Parquet failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Parquet codec: ETL files written in process, merges and reads by DuckDB. */
export class JsParquetCodec extends DuckDbParquetCodec {
  /** One Parquet file holding `rows` with exactly `columns`, written in process. */
  override async encode(columns: readonly ColumnDef[], rows: readonly Row[]): Promise<Uint8Array> {
    return encodeParquet(columns, rows);
  }

  /** One Parquet file per group of rows (no batching needed: there is no per-statement cost to spread). */
  override async encodeMany(columns: readonly ColumnDef[], groups: readonly (readonly Row[])[]): Promise<Uint8Array[]> {
    return groups.map((g) => encodeParquet(columns, g));
  }
}
