/** The Parquet port of the ETL and of compaction. */
import type { ColumnDef } from '../catalog';
import type { Row } from '../../fhir/views';

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
