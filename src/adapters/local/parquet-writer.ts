/**
 * {@link ParquetCodec} on embedded DuckDB (@duckdb/node-api): rows → NDJSON temp file →
 * `COPY (SELECT … FROM read_json(…, columns = {…})) TO '….parquet' (FORMAT parquet)` with the column types
 * given explicitly (never inferred), so every file of a table has the same schema whatever its rows hold.
 *
 * DuckDB is embedded (a native module, no server), so this adapter runs the same locally and in Lambda
 * (temp files under `os.tmpdir()`, i.e. `/tmp`). One in-memory DuckDB instance per process, one connection
 * per call (calls may overlap). No network, no extensions beyond the built-in json and parquet.
 *
 * Parquet choices: Snappy for the ETL's small files (cheaper per file), ZSTD for compacted files; DuckDB's default
 * row groups; VARCHAR → BYTE_ARRAY/UTF8, BIGINT → INT64, DOUBLE → DOUBLE, BOOLEAN → BOOLEAN, lists → the standard
 * 3-level LIST (Athena `array<…>`).
 *
 * Cost model (measured, see bench/etl.ts): DuckDB spends about a millisecond per statement and per file written,
 * whatever the rows, so {@link DuckDbParquetCodec.encodeMany} writes the files of many lake objects with one
 * statement (`PARTITION_BY`), and temp files go to memory-backed `/dev/shm` when present.
 */
import { randomUUID } from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { ColumnDef } from '../../core/catalog';
import type { ParquetCodec } from '../../core/etl';
import type { Row } from '../../fhir/views';

/** Options of {@link DuckDbParquetCodec}. */
export interface DuckDbParquetOptions {
  /** Folder for temp files (default `os.tmpdir()/tributary-parquet`). */
  tmpDir?: string;
  /** DuckDB worker threads (default 1: Lambda's share of a core; raise for compaction). */
  threads?: number;
  /** DuckDB memory limit (default `512MB`). */
  memoryLimit?: string;
  compression?: 'zstd' | 'snappy' | 'uncompressed';
}

/** Escapes a string literal for DuckDB SQL. */
export const sqlString = (s: string): string => `'${s.replace(/'/g, "''")}'`;

/** A `columns = {…}` struct literal for `read_json`. */
export function jsonColumnsLiteral(columns: readonly ColumnDef[]): string {
  return `{${columns.map((c) => `${sqlString(c.name)}: ${sqlString(c.duckdbType)}`).join(', ')}}`;
}

/** Error of the Parquet codec (DuckDB's message as `cause`). */
export class ParquetCodecError extends Error {
  override readonly name = 'ParquetCodecError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** The default temp folder: memory-backed `/dev/shm` when there is one (no disk flush per file), else `os.tmpdir()`. */
export function defaultTmpDir(): string {
  try {
    fsSync.accessSync('/dev/shm', fsSync.constants.W_OK);
    return path.join('/dev/shm', `tributary-parquet-${process.pid}`);
  } catch {
    return path.join(os.tmpdir(), `tributary-parquet-${process.pid}`);
  }
}

const tempDirs = new Set<string>();
let exitHook = false;
/** Removes a temp folder when the process exits (one listener for all codecs). */
function removeAtExit(dir: string): void {
  if (!exitHook) process.once('exit', () => tempDirs.forEach((d) => fsSync.rmSync(d, { recursive: true, force: true })));
  exitHook = true;
  tempDirs.add(dir);
}

/** DuckDB-backed Parquet encoder/merger. */
export class DuckDbParquetCodec implements ParquetCodec {
  private instance?: Promise<DuckDBInstance>;
  private readonly idle: DuckDBConnection[] = [];
  private readonly tmpDir: string;
  private readonly compression: string;

  constructor(private readonly opts: DuckDbParquetOptions = {}) {
    this.tmpDir = opts.tmpDir ?? defaultTmpDir();
    this.compression = opts.compression ?? 'snappy';
  }

  private async connect(): Promise<DuckDBConnection> {
    const idle = this.idle.pop();
    if (idle) return idle;
    this.instance ??= (async () => {
      await fs.mkdir(this.tmpDir, { recursive: true });
      removeAtExit(this.tmpDir);
      const db = await DuckDBInstance.create(':memory:', {
        threads: String(this.opts.threads ?? 1),
        memory_limit: this.opts.memoryLimit ?? '512MB',
        temp_directory: path.join(this.tmpDir, 'spill'),
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'false',
        partitioned_write_max_open_files: '100000',
      });
      return db;
    })();
    return (await this.instance).connect();
  }

  private async withTemp<T>(fn: (dir: string, conn: DuckDBConnection) => Promise<T>): Promise<T> {
    const conn = await this.connect();
    const dir = path.join(this.tmpDir, randomUUID());
    await fs.mkdir(dir);
    let ok = false;
    try {
      const r = await fn(dir, conn);
      ok = true;
      return r;
    } finally {
      if (ok && this.idle.length < 8) this.idle.push(conn);
      else conn.closeSync();
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** Encodes rows as one Parquet file with exactly `columns`. */
  async encode(columns: readonly ColumnDef[], rows: readonly Row[]): Promise<Uint8Array> {
    return (await this.encodeMany(columns, [rows]))[0]!;
  }

  /**
   * Encodes several groups of rows, one Parquet file per group, with ONE DuckDB statement
   * (`COPY … TO dir (PARTITION_BY (_part))`): DuckDB's cost is mostly per statement and per file, not per row.
   * An empty group gives a file with no rows.
   */
  async encodeMany(columns: readonly ColumnDef[], groups: readonly (readonly Row[])[]): Promise<Uint8Array[]> {
    if (groups.length === 0) return [];
    const single = groups.length === 1;
    return this.withTemp(async (dir, conn) => {
      const input = path.join(dir, 'rows.ndjson');
      const output = path.join(dir, single ? 'rows.parquet' : 'out');
      const parts: string[] = [];
      for (let g = 0; g < groups.length; g++) {
        const prefix = single ? '' : `{"_part":${g},`;
        for (const r of groups[g]!) {
          const json = JSON.stringify(r);
          parts.push(single ? json : json.length > 2 ? prefix + json.slice(1) : `{"_part":${g}}`);
        }
      }
      await fs.writeFile(input, parts.length > 0 ? parts.join('\n') + '\n' : '');
      const select = columns.map((c) => ident(c.name)).join(', ');
      const cols = single ? columns : [{ name: '_part', duckdbType: 'BIGINT' } as unknown as ColumnDef, ...columns];
      const source =
        `SELECT ${select}${single ? '' : ', _part'} FROM read_json(${sqlString(input)}, format = 'newline_delimited', records = true, ` +
        `columns = ${jsonColumnsLiteral(cols)})`;
      try {
        await conn.run(
          single
            ? `COPY (${source}) TO ${sqlString(output)} (FORMAT parquet, COMPRESSION ${this.compression})`
            : `COPY (${source}) TO ${sqlString(output)} (FORMAT parquet, COMPRESSION ${this.compression}, PARTITION_BY (_part), WRITE_PARTITION_COLUMNS false)`,
        );
      } catch (err) {
        throw new ParquetCodecError(`encoding ${parts.length} rows as Parquet failed`, { cause: err });
      }
      if (single) return [new Uint8Array(await fs.readFile(output))];
      const out: Uint8Array[] = [];
      for (let g = 0; g < groups.length; g++) {
        if (groups[g]!.length === 0) {
          out.push(await this.encodeEmpty(conn, columns, dir));
          continue;
        }
        const partDir = path.join(output, `_part=${g}`);
        const files = await fs.readdir(partDir);
        if (files.length !== 1) throw new ParquetCodecError(`DuckDB wrote ${files.length} files for one group`);
        out.push(new Uint8Array(await fs.readFile(path.join(partDir, files[0]!))));
      }
      return out;
    });
  }

  private async encodeEmpty(conn: DuckDBConnection, columns: readonly ColumnDef[], dir: string): Promise<Uint8Array> {
    const f = path.join(dir, `empty-${randomUUID()}.parquet`);
    const typed = columns.map((c) => `NULL::${c.duckdbType} AS ${ident(c.name)}`).join(', ');
    await conn.run(`COPY (SELECT ${typed} WHERE false) TO ${sqlString(f)} (FORMAT parquet)`);
    return new Uint8Array(await fs.readFile(f));
  }

  /** Merges files into one with exactly `columns`; a `_lake_key` found in several inputs is taken from the first. */
  async merge(columns: readonly ColumnDef[], files: readonly Uint8Array[]): Promise<{ body: Uint8Array; rows: number; lakeKeys: string[] }> {
    return this.withTemp(async (dir, conn) => {
      const inputs: string[] = [];
      for (let i = 0; i < files.length; i++) {
        const f = path.join(dir, `in-${String(i).padStart(6, '0')}.parquet`);
        await fs.writeFile(f, files[i]!);
        inputs.push(f);
      }
      const output = path.join(dir, 'merged.parquet');
      const hasLakeKey = columns.some((c) => c.name === '_lake_key');
      const typed = `SELECT ${columns.map((c) => `NULL::${c.duckdbType} AS ${ident(c.name)}`).join(', ')}, NULL::VARCHAR AS filename, NULL::BIGINT AS file_row_number WHERE false`;
      const all =
        `(${typed}) UNION ALL BY NAME (SELECT * FROM read_parquet([${inputs.map(sqlString).join(', ')}], ` +
        `union_by_name = true, filename = true, file_row_number = true))`;
      const select = columns.map((c) => `CAST(${ident(c.name)} AS ${c.duckdbType}) AS ${ident(c.name)}`).join(', ');
      const keep = hasLakeKey ? `QUALIFY filename = min(filename) OVER (PARTITION BY _lake_key)` : '';
      const order = hasLakeKey ? `ORDER BY _lake_key, filename, file_row_number` : `ORDER BY filename, file_row_number`;
      try {
        await conn.run(`CREATE OR REPLACE TEMP TABLE merged AS SELECT ${select}, filename, file_row_number FROM (${all}) ${keep} ${order}`);
        await conn.run(
          `COPY (SELECT ${columns.map((c) => ident(c.name)).join(', ')} FROM merged ${order}) TO ${sqlString(output)} (FORMAT parquet, COMPRESSION zstd)`,
        );
        const n = (await conn.runAndReadAll('SELECT count(*)::BIGINT AS n FROM merged')).getRowObjectsJS()[0]!.n as bigint;
        const keys = hasLakeKey
          ? (await conn.runAndReadAll('SELECT DISTINCT _lake_key AS k FROM merged WHERE _lake_key IS NOT NULL ORDER BY 1')).getRowObjectsJS().map((r) => String(r.k))
          : [];
        await conn.run('DROP TABLE merged');
        return { body: new Uint8Array(await fs.readFile(output)), rows: Number(n), lakeKeys: keys };
      } catch (err) {
        throw new ParquetCodecError(`merging ${files.length} Parquet files failed`, { cause: err });
      }
    });
  }

  /** Reads Parquet files back as JSON-like rows (tests, checks). BIGINT values come back as numbers when safe. */
  async read(files: readonly Uint8Array[], sql = 'SELECT * FROM t'): Promise<Row[]> {
    return this.withTemp(async (dir, conn) => {
      const inputs: string[] = [];
      for (let i = 0; i < files.length; i++) {
        const f = path.join(dir, `r-${i}.parquet`);
        await fs.writeFile(f, files[i]!);
        inputs.push(f);
      }
      await conn.run(`CREATE OR REPLACE TEMP VIEW t AS SELECT * FROM read_parquet([${inputs.map(sqlString).join(', ')}], union_by_name = true)`);
      try {
        return toJsonRows((await conn.runAndReadAll(sql)).getRowObjectsJS());
      } finally {
        await conn.run('DROP VIEW IF EXISTS t');
      }
    });
  }

  /** Closes the DuckDB instance (the next call opens a new one) and removes the temp folder. */
  async close(): Promise<void> {
    for (const c of this.idle.splice(0)) c.closeSync();
    const i = this.instance;
    this.instance = undefined;
    if (i) (await i).closeSync();
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    tempDirs.delete(this.tmpDir);
  }
}

/** DuckDB JS values → JSON-like values: bigint → number when safe (else string), Date → ISO string. */
export function toJsonRows(rows: Record<string, unknown>[]): Row[] {
  const conv = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map(conv);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[k] = conv(x);
      return o;
    }
    return v;
  };
  return rows.map((r) => conv(r) as Row);
}
