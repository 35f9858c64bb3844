/**
 * {@link Catalog} as a DuckDB database file (default `{DATA_DIR}/catalog/tributary.duckdb`): the local
 * counterpart of the Glue Data Catalog. It holds no data, only views over the files:
 * - a Parquet table is a view over `read_parquet('{dir}/*\/*\/*.parquet', hive_partitioning = true)`, with every
 *   column cast to its declared type (a typed empty relation is unioned in by name, so a table with no file yet,
 *   or files written before a column was added, still have every column);
 * - an NDJSON table (`raw_{type}`) is a view over `read_ndjson_objects(…)` exposing each line as `resource`;
 * - a {@link CatalogView} is a DuckDB view with its `duckdb` SQL.
 * Bookkeeping tables `_tributary_tables` (definitions and view SQL) and `_tributary_partitions` record what was
 * registered, as Glue would.
 *
 * Where the files are on disk is the caller's choice ({@link DuckDbCatalogOptions.locate}); the local stack uses
 * {@link localLocator}: marts from the local mirror of the marts bucket (`{DATA_DIR}/marts/…`, written atomically
 * by `MirroredObjectStore`), other buckets (the lake, for `raw_*`) straight from s3rver's files
 * (`{DATA_DIR}/s3/{bucket}/{key}._S3rver_object`).
 *
 * Concurrency: DuckDB lets one process open a database file read-write, and no other process may open it
 * meanwhile, not even read-only. So the file is opened only while calls are waiting (calls of one process made
 * together share one opening), then closed, and opening retries while another process holds it. Readers
 * (`npm run query`) use {@link openCatalogSnapshot}: attach read-only, copy the view definitions into an
 * in-memory database, detach — the file is held for milliseconds, never for the length of a query.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import {
  CatalogError,
  PARTITION_KEYS,
  assertTableName,
  glueTypeOf,
  q,
  type Catalog,
  type CatalogView,
  type DescribedTable,
  type EnsureResult,
  type PartitionValues,
  type TableDefinition,
} from '../../core/catalog';
import { sqlString } from './parquet-writer';

/** Options of {@link DuckDbCatalog}. */
export interface DuckDbCatalogOptions {
  /** The database file (created with its folder when missing). */
  file: string;
  /** Glob of a table's files on local disk (partition folders `source=…/date=…` included in the match). */
  locate(def: TableDefinition): string;
  /** Name reported as {@link Catalog.database} (default `tributary`). */
  database?: string;
  /** How long to keep retrying while another process holds the file (default 30 s). */
  lockTimeoutMillis?: number;
}

/** The default catalogue file of a data folder. */
export function localCatalogFile(dataDir: string): string {
  return path.join(dataDir, 'catalog', 'tributary.duckdb');
}

/**
 * Locates files of the local stack: tables in `martsBucket` in the local mirror `{dataDir}/{key}`
 * (see `MirroredObjectStore`), tables of any other bucket in s3rver's store `{dataDir}/s3/{bucket}/{key}._S3rver_object`.
 */
export function localLocator(opts: { dataDir: string; martsBucket: string }): (def: TableDefinition) => string {
  return (def) => {
    const ext = def.format === 'parquet' ? '.parquet' : '.ndjson';
    if (def.location.bucket === opts.martsBucket) return path.join(opts.dataDir, def.location.prefix, '*', '*', `*${ext}`);
    return path.join(opts.dataDir, 's3', def.location.bucket, def.location.prefix, '*', '*', `*${ext}._S3rver_object`);
  };
}

const HIVE = `hive_partitioning = true, hive_types = {'source': 'VARCHAR', 'date': 'VARCHAR'}, hive_types_autocast = false`;

/** `CREATE OR REPLACE VIEW` text of a table definition over its files (`withFiles` false = no file yet). */
export function tableViewSql(def: TableDefinition, glob: string, withFiles: boolean): string {
  const all = [...def.columns, ...def.partitionKeys];
  const typed = `SELECT ${all.map((c) => `NULL::${c.duckdbType} AS ${q(c.name)}`).join(', ')} WHERE false`;
  let files: string | undefined;
  if (withFiles && def.format === 'parquet') {
    files = `SELECT * FROM read_parquet(${sqlString(glob)}, ${HIVE}, union_by_name = true)`;
  } else if (withFiles) {
    files = `SELECT json::VARCHAR AS resource, source, "date" FROM read_ndjson_objects(${sqlString(glob)}, ${HIVE}, ignore_errors = true)`;
  }
  const from = files ? `(${typed}) UNION ALL BY NAME (${files})` : typed;
  const select = all.map((c) => `CAST(${q(c.name)} AS ${c.duckdbType}) AS ${q(c.name)}`).join(', ');
  return `CREATE OR REPLACE VIEW ${q(def.name)} AS SELECT ${select} FROM (${from})`;
}

const isLockError = (err: unknown): boolean => /Could not set lock|Conflicting lock|database is locked/i.test(String((err as Error)?.message ?? err));

/** Opens a DuckDB file, retrying while another process holds it. */
async function openWithRetry(file: string, readOnly: boolean, timeoutMillis: number): Promise<DuckDBInstance> {
  const until = Date.now() + timeoutMillis;
  let wait = 5;
  for (;;) {
    try {
      return await DuckDBInstance.create(file, readOnly ? { access_mode: 'READ_ONLY' } : {});
    } catch (err) {
      if (!isLockError(err) || Date.now() > until) throw new CatalogError(`cannot open the catalogue ${path.basename(file)}`, { cause: err });
      await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
      wait = Math.min(wait * 2, 250);
    }
  }
}

const META = [
  `CREATE TABLE IF NOT EXISTS _tributary_tables (name VARCHAR PRIMARY KEY, kind VARCHAR NOT NULL, definition VARCHAR NOT NULL, create_sql VARCHAR NOT NULL, updated_at TIMESTAMPTZ DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS _tributary_partitions (table_name VARCHAR NOT NULL, source VARCHAR NOT NULL, "date" VARCHAR NOT NULL, added_at TIMESTAMPTZ DEFAULT now(), PRIMARY KEY (table_name, source, "date"))`,
];

/** The local catalogue. */
export class DuckDbCatalog implements Catalog {
  readonly database: string;
    private readonly timeout: number;

  constructor(private readonly opts: DuckDbCatalogOptions) {
    this.database = opts.database ?? 'tributary';
    this.timeout = opts.lockTimeoutMillis ?? 30_000;
  }

  private readonly queue: { fn: (c: DuckDBConnection) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  private draining = false;

  /**
   * Runs `fn` on a short-lived connection to the file. Calls made while the file is open join the same opening
   * (one open/close for a burst of calls); the file is closed as soon as no call is waiting.
   */
  private withDb<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        fs.mkdirSync(path.dirname(this.opts.file), { recursive: true });
        let db: DuckDBInstance;
        let conn: DuckDBConnection;
        try {
          db = await openWithRetry(this.opts.file, false, this.timeout);
          conn = await db.connect();
          for (const s of META) await conn.run(s);
        } catch (err) {
          for (const op of this.queue.splice(0)) op.reject(err);
          continue;
        }
        try {
          // serve calls until none is waiting (calls queued meanwhile join this opening)
          for (let op = this.queue.shift(); op; op = this.queue.shift()) {
            try {
              op.resolve(await op.fn(conn));
            } catch (err) {
              op.reject(err);
            }
          }
        } finally {
          conn.closeSync();
          db.closeSync();
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Creates the database file and its bookkeeping tables. */
  async ensureDatabase(): Promise<void> {
    await this.withDb(async () => undefined);
  }

  /** Creates or replaces the view over a table's files when its definition changed. */
  async ensureTable(def: TableDefinition): Promise<EnsureResult> {
    assertTableName(def.name);
    const definition = JSON.stringify({ columns: def.columns, partitionKeys: def.partitionKeys, location: def.location, format: def.format });
    return this.withDb(async (c) => {
      const prev = (await c.runAndReadAll(`SELECT definition FROM _tributary_tables WHERE name = ${sqlString(def.name)}`)).getRowObjectsJS()[0];
      if (prev && prev.definition === definition) return 'unchanged';
      const sql = tableViewSql(def, this.opts.locate(def), await this.hasFiles(c, def));
      await c.run(sql);
      await c.run(
        `INSERT OR REPLACE INTO _tributary_tables (name, kind, definition, create_sql, updated_at) VALUES (${sqlString(def.name)}, 'table', ${sqlString(definition)}, ${sqlString(sql)}, now())`,
      );
      return prev ? 'updated' : 'created';
    });
  }

  /** Creates or replaces a view when its SQL changed. */
  async ensureView(def: CatalogView): Promise<EnsureResult> {
    assertTableName(def.name);
    const definition = JSON.stringify({ columns: def.columns, sql: def.sql.duckdb });
    return this.withDb(async (c) => {
      const prev = (await c.runAndReadAll(`SELECT definition FROM _tributary_tables WHERE name = ${sqlString(def.name)}`)).getRowObjectsJS()[0];
      if (prev && prev.definition === definition) return 'unchanged';
      const sql = `CREATE OR REPLACE VIEW ${q(def.name)} AS ${def.sql.duckdb}`;
      try {
        await c.run(sql);
      } catch (err) {
        throw new CatalogError(`view ${def.name} cannot be created`, { cause: err });
      }
      await c.run(
        `INSERT OR REPLACE INTO _tributary_tables (name, kind, definition, create_sql, updated_at) VALUES (${sqlString(def.name)}, 'view', ${sqlString(definition)}, ${sqlString(sql)}, now())`,
      );
      return prev ? 'updated' : 'created';
    });
  }

  /** Whether the table's view should read files: partitions are registered and the glob matches a file. */
  private async hasFiles(c: DuckDBConnection, def: TableDefinition): Promise<boolean> {
    const r = (await c.runAndReadAll(`SELECT count(*) AS n FROM _tributary_partitions WHERE table_name = ${sqlString(def.name)}`)).getRowObjectsJS()[0];
    if (Number(r?.n ?? 0) === 0) return false;
    const g = (await c.runAndReadAll(`SELECT count(*) AS n FROM glob(${sqlString(this.opts.locate(def))})`)).getRowObjectsJS()[0];
    return Number(g?.n ?? 0) > 0;
  }

  /** The stored create statement reads files? */
  private static readsFiles(createSql: unknown): boolean {
    return /read_parquet\(|read_ndjson_objects\(/.test(String(createSql));
  }

  /** Records partitions; the first partition of a table switches its view from "no file" to its files. */
  async addPartitions(table: string, partitions: PartitionValues[]): Promise<number> {
    if (partitions.length === 0) return 0;
    return this.withDb(async (c) => {
      const row = (await c.runAndReadAll(`SELECT kind, definition, create_sql FROM _tributary_tables WHERE name = ${sqlString(table)}`)).getRowObjectsJS()[0];
      if (!row || row.kind !== 'table') throw new CatalogError(`no table ${table} in the catalogue`);
      let added = 0;
      for (const p of partitions) {
        const r = await c.runAndReadAll(
          `INSERT INTO _tributary_partitions (table_name, source, "date") VALUES (${sqlString(table)}, ${sqlString(p.source)}, ${sqlString(p.date)}) ON CONFLICT DO NOTHING RETURNING 1`,
        );
        added += r.currentRowCount;
      }
      const d = JSON.parse(String(row.definition)) as Omit<TableDefinition, 'name'>;
      const def: TableDefinition = { name: table, ...d };
      if (!DuckDbCatalog.readsFiles(row.create_sql) && (await this.hasFiles(c, def))) {
        const sql = tableViewSql(def, this.opts.locate(def), true);
        await c.run(sql);
        await c.run(`UPDATE _tributary_tables SET create_sql = ${sqlString(sql)}, updated_at = now() WHERE name = ${sqlString(table)}`);
      }
      return added;
    });
  }

  /** Partitions recorded for a table, sorted. */
  async listPartitions(table: string): Promise<PartitionValues[]> {
    return this.withDb(async (c) => {
      const rows = (
        await c.runAndReadAll(`SELECT source, "date" FROM _tributary_partitions WHERE table_name = ${sqlString(table)} ORDER BY source, "date"`)
      ).getRowObjectsJS();
      return rows.map((r) => ({ source: String(r.source), date: String(r.date) }));
    }).catch((err: unknown) => {
      if (/_tributary_partitions/.test(String((err as Error)?.message))) return [];
      throw err;
    });
  }

  /** Columns as DuckDB exposes them (DESCRIBE), with Glue types. */
  async describe(name: string): Promise<DescribedTable | undefined> {
    return this.withDb(async (c) => {
      const row = (await c.runAndReadAll(`SELECT kind, definition FROM _tributary_tables WHERE name = ${sqlString(name)}`)).getRowObjectsJS()[0];
      if (!row) return undefined;
      const cols = (await c.runAndReadAll(`DESCRIBE ${q(name)}`)).getRowObjectsJS().map((r) => ({
        name: String(r.column_name),
        glueType: glueTypeOf(String(r.column_type)),
      }));
      if (row.kind === 'view') return { name, kind: 'view', columns: cols, partitionKeys: [] };
      const keys = new Set(PARTITION_KEYS.map((k) => k.name));
      return {
        name,
        kind: 'table',
        columns: cols.filter((x) => !keys.has(x.name)),
        partitionKeys: cols.filter((x) => keys.has(x.name)),
      };
    });
  }
}

/** An in-memory DuckDB holding copies of the catalogue's views (see {@link openCatalogSnapshot}). */
export interface CatalogSnapshot {
  instance: DuckDBInstance;
  connection: DuckDBConnection;
  /** Tables and views available, in creation order. */
  names: string[];
  close(): void;
}

/**
 * The definitions a query needs: those it names, and what they read, transitively (a current view reads its
 * history table, `resource_versions` and `patient_link`). Creating a view binds it, which reads the footer of
 * every file it covers (`union_by_name`), so creating every view for every query cost most of a query's time (15.6 s
 * of which 1.9 s was the query itself, measured over an e2e suite's 15,000 mart files). SQL that names none of them
 * (`SHOW TABLES`, information_schema) gets them all.
 */
export function definitionsFor<T extends { name: string; create_sql: string }>(defs: T[], sql: string): T[] {
  const named = (text: string): Set<string> => {
    const words = new Set((text.toLowerCase().match(/[a-z_][a-z0-9_]*/g) ?? []));
    return new Set(defs.filter((d) => words.has(d.name.toLowerCase())).map((d) => d.name));
  };
  const want = named(sql);
  if (want.size === 0) return defs;
  const byName = new Map(defs.map((d) => [d.name, d]));
  const todo = [...want];
  for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
    for (const dep of named(byName.get(n)!.create_sql)) {
      if (!want.has(dep)) {
        want.add(dep);
        todo.push(dep);
      }
    }
  }
  return defs.filter((d) => want.has(d.name));
}

/**
 * Opens an in-memory DuckDB with the catalogue's tables and views (same names), holding the catalogue file only
 * while copying their definitions. Queries then read the Parquet files directly, while the ETL keeps writing.
 * A missing catalogue gives an empty snapshot. With `forSql`, only what that SQL needs is created
 * ({@link definitionsFor}).
 */
export async function openCatalogSnapshot(file: string, opts: { lockTimeoutMillis?: number; threads?: number; forSql?: string } = {}): Promise<CatalogSnapshot> {
  const instance = await DuckDBInstance.create(':memory:', { threads: String(opts.threads ?? 2) });
  const connection = await instance.connect();
  const names: string[] = [];
  if (fs.existsSync(file)) {
    const until = Date.now() + (opts.lockTimeoutMillis ?? 30_000);
    let wait = 5;
    let defs: { name: string; create_sql: string }[] = [];
    for (;;) {
      try {
        await connection.run(`ATTACH ${sqlString(file)} AS tributary_catalog (READ_ONLY)`);
        try {
          defs = (
            await connection.runAndReadAll(
              `SELECT name, create_sql FROM tributary_catalog._tributary_tables ORDER BY CASE kind WHEN 'table' THEN 0 ELSE 1 END, name`,
            )
          )
            .getRowObjectsJS()
            .map((r) => ({ name: String(r.name), create_sql: String(r.create_sql) }));
        } catch {
          defs = [];
        } finally {
          await connection.run('DETACH tributary_catalog');
        }
        break;
      } catch (err) {
        if (!isLockError(err) || Date.now() > until) {
          connection.closeSync();
          instance.closeSync();
          throw new CatalogError('cannot read the catalogue', { cause: err });
        }
        await new Promise((r) => setTimeout(r, wait + Math.random() * wait));
        wait = Math.min(wait * 2, 250);
      }
    }
    // views may read views: create in rounds until nothing more can be created
    let pending = opts.forSql === undefined ? defs : definitionsFor(defs, opts.forSql);
    while (pending.length > 0) {
      const failed: typeof defs = [];
      let lastError: unknown;
      for (const d of pending) {
        try {
          await connection.run(d.create_sql);
          names.push(d.name);
        } catch (err) {
          failed.push(d);
          lastError = err;
        }
      }
      if (failed.length === pending.length) throw new CatalogError(`cannot create ${failed.map((f) => f.name).join(', ')}`, { cause: lastError });
      pending = failed;
    }
  }
  return {
    instance,
    connection,
    names,
    close: () => {
      connection.closeSync();
      instance.closeSync();
    },
  };
}
