/**
 * {@link ParquetCodec} whose ETL writes are encoded in process by `hyparquet-writer` (pure JavaScript, no temp
 * files, no native call), and whose merges, reads and compaction stay on DuckDB ({@link DuckDbParquetCodec}).
 *
 * Why: the ETL writes one small Parquet file per lake object and table (the key of a lake object's file is what
 * makes a re-delivered event overwrite rather than duplicate). DuckDB spends about 2 ms per file written whatever
 * it holds (a statement, a temp NDJSON file, a Parquet file read back); hyparquet-writer writes the same file,
 * with the same column types, in about a tenth of that. DuckDB remains the engine for everything that reads
 * Parquet (compaction, `npm run query`, the local catalogue).
 *
 * Schema mapping (what DuckDB itself writes for the same columns, so every file of a table has one schema):
 * VARCHAR → BYTE_ARRAY (UTF8), BIGINT → INT64, DOUBLE → DOUBLE, BOOLEAN → BOOLEAN, `T[]` → the standard 3-level
 * LIST (`name` OPTIONAL LIST → `list` REPEATED → `element` OPTIONAL T); every column OPTIONAL. Row groups:
 * one per file. Column statistics and compression are left out: min/max of a 20-row file prune nothing, and
 * Snappy on a few hundred bytes per column saves little and costs a third of the encoding time; compaction
 * (DuckDB, ZSTD, with statistics) rewrites a partition's small files into one compressed file.
 */
import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import type { ColumnDef } from '../../core/catalog';
import type { Row } from '../../fhir/views';
import { DuckDbParquetCodec, ParquetCodecError } from './parquet-writer';

/** A Parquet schema element, as hyparquet-writer takes it. */
interface SchemaElement {
  name: string;
  type?: 'BOOLEAN' | 'INT64' | 'DOUBLE' | 'BYTE_ARRAY';
  repetition_type?: 'OPTIONAL' | 'REPEATED' | 'REQUIRED';
  converted_type?: 'UTF8' | 'LIST';
  num_children?: number;
}

type Scalar = 'VARCHAR' | 'BIGINT' | 'DOUBLE' | 'BOOLEAN';

const PHYSICAL: Record<Scalar, Pick<SchemaElement, 'type' | 'converted_type'>> = {
  VARCHAR: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  BIGINT: { type: 'INT64' },
  DOUBLE: { type: 'DOUBLE' },
  BOOLEAN: { type: 'BOOLEAN' },
};

/** Parses `VARCHAR` / `BIGINT[]` into the scalar type and whether it is a list. */
function typeOf(c: ColumnDef): { scalar: Scalar; list: boolean } {
  const m = /^(VARCHAR|BIGINT|DOUBLE|BOOLEAN)(\[\])?$/.exec(c.duckdbType);
  if (!m) throw new ParquetCodecError(`column ${c.name}: type ${c.duckdbType} has no Parquet mapping in the JS writer`);
  return { scalar: m[1] as Scalar, list: m[2] !== undefined };
}

/** The Parquet schema (flat pre-order list) of `columns`. */
export function parquetSchemaOf(columns: readonly ColumnDef[]): SchemaElement[] {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  for (const c of columns) {
    const { scalar, list } = typeOf(c);
    if (list) {
      schema.push(
        { name: c.name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', ...PHYSICAL[scalar] },
      );
    } else {
      schema.push({ name: c.name, repetition_type: 'OPTIONAL', ...PHYSICAL[scalar] });
    }
  }
  return schema;
}

/** One value as the writer wants it for `scalar` (BIGINT → bigint; anything else unchanged); undefined → null. */
function convert(scalar: Scalar, v: unknown, column: string): unknown {
  if (v === undefined || v === null) return null;
  switch (scalar) {
    case 'BIGINT':
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
      break;
    case 'DOUBLE':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      break;
    case 'BOOLEAN':
      if (typeof v === 'boolean') return v;
      break;
    case 'VARCHAR':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
      break;
  }
  throw new ParquetCodecError(`column ${column}: a ${typeof v} value does not fit ${scalar}`);
}

/** Encodes `rows` as one Parquet file with exactly `columns`, in process. */
export function encodeParquet(columns: readonly ColumnDef[], rows: readonly Row[]): Uint8Array {
  const columnData = columns.map((c) => {
    const { scalar, list } = typeOf(c);
    const data = new Array<unknown>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const v = rows[i]![c.name];
      if (list && v !== null && v !== undefined) {
        if (!Array.isArray(v)) throw new ParquetCodecError(`column ${c.name}: a list column holds a ${typeof v}`);
        data[i] = v.map((x) => convert(scalar, x, c.name));
      } else {
        data[i] = convert(scalar, v, c.name);
      }
    }
    return { name: c.name, data, statistics: false, offsetIndex: false };
  });
  const writer = new ByteWriter();
  try {
    parquetWrite({
      writer,
      schema: parquetSchemaOf(columns) as never,
      columnData: columnData as never,
      statistics: false,
      codec: 'UNCOMPRESSED',
      rowGroupSize: Math.max(rows.length, 1),
      createdBy: 'tributary (hyparquet-writer)',
    });
  } catch (err) {
    throw new ParquetCodecError(`encoding ${rows.length} rows as Parquet failed`, { cause: err });
  }
  return new Uint8Array(writer.getBuffer());
}

/** Parquet codec: ETL files written in process by hyparquet-writer, merges and reads by DuckDB. */
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
