/**
 * `npm run query -- "SELECT …"`: SQL over the local marts (DuckDB), printed as a table.
 *
 *   npm run query -- "SELECT gender, count(*) FROM patient GROUP BY ALL"
 *   npm run query -- --json "SELECT * FROM observation LIMIT 3"      # one JSON array
 *   npm run query -- --file analyses/covid19.sql
 *   npm run query -- --tables                                        # what can be queried
 *
 * Options: `--data-dir DIR` (default `DATA_DIR` or `.data`), `--catalog FILE` (default
 * `{data-dir}/catalog/tributary.duckdb`), `--max-rows N` for the table output (default 200).
 * Several statements (`;`-separated) run in order; each result is printed (`--json`: the last one).
 *
 * Works while `npm start` runs: the catalogue file is attached read-only for the milliseconds it takes to copy
 * its view definitions into an in-memory DuckDB, then the query reads the Parquet files directly.
 * Tables: `{view}` (current versions), `{view}_history` (all versions), `resource_versions`, `raw_{type}`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { localCatalogFile, openCatalogSnapshot } from '../src/adapters/local/duckdb-catalog';
import { toJsonRows } from '../src/adapters/local/parquet-writer';
import { runCli, wantsHelp } from './cli';

/** One statement's result. */
export interface QueryResult {
  columns: string[];
  rows: Record<string, unknown>[];
}

/** Where the output goes (tests capture it). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

/** Error of the query CLI (bad arguments, SQL errors). */
export class QueryError extends Error {
  override readonly name = 'QueryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Runs SQL (one or more statements) against the catalogue's tables and views.
 * @param catalogFile - the DuckDB catalogue (see `localCatalogFile`).
 */
export async function runQuery(sql: string, catalogFile: string): Promise<QueryResult[]> {
  const snap = await openCatalogSnapshot(catalogFile);
  try {
    const extracted = await snap.connection.extractStatements(sql);
    const results: QueryResult[] = [];
    for (let i = 0; i < extracted.count; i++) {
      const stmt = await extracted.prepare(i);
      let reader;
      try {
        reader = await stmt.runAndReadAll();
      } catch (err) {
        throw new QueryError(err instanceof Error ? err.message : String(err), { cause: err });
      }
      results.push({ columns: reader.deduplicatedColumnNames(), rows: toJsonRows(reader.getRowObjectsJS() as Record<string, unknown>[]) });
    }
    return results;
  } catch (err) {
    if (err instanceof QueryError) throw err;
    throw new QueryError(err instanceof Error ? err.message : String(err), { cause: err });
  } finally {
    snap.close();
  }
}

/** Formats rows as an aligned text table. */
export function formatTable(r: QueryResult, maxRows = 200): string {
  const cell = (v: unknown): string => (v === null || v === undefined ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const shown = r.rows.slice(0, maxRows);
  const cells = shown.map((row) => r.columns.map((c) => cell(row[c])));
  const widths = r.columns.map((c, i) => Math.min(60, Math.max(c.length, ...cells.map((x) => x[i]!.length))));
  const clip = (s: string, w: number): string => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const line = (xs: string[]): string => xs.map((x, i) => clip(x, widths[i]!)).join(' │ ');
  const out = [line(r.columns), widths.map((w) => '─'.repeat(w)).join('─┼─'), ...cells.map(line)];
  const more = r.rows.length > shown.length ? ` (showing ${shown.length})` : '';
  out.push(`(${r.rows.length} row${r.rows.length === 1 ? '' : 's'}${more})`);
  return out.join('\n') + '\n';
}

/** Parses the command line. */
export function parseArgs(argv: string[]): { sql?: string; file?: string; json: boolean; tables: boolean; dataDir?: string; catalog?: string; maxRows: number } {
  const o = { json: false, tables: false, maxRows: 200 } as ReturnType<typeof parseArgs>;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new QueryError(`${a} needs a value`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--tables') o.tables = true;
    else if (a === '--file' || a === '-f') o.file = next();
    else if (a === '--data-dir') o.dataDir = next();
    else if (a === '--catalog') o.catalog = next();
    else if (a === '--max-rows') o.maxRows = Number(next());
    else if (a === '--help' || a === '-h') rest.push('--help');
    else rest.push(a);
  }
  if (rest.includes('--help')) return { ...o, sql: undefined, file: undefined };
  if (rest.length > 0) o.sql = rest.join(' ');
  return o;
}

const USAGE = `usage: npm run query -- [--json] [--data-dir DIR] [--catalog FILE] ("SQL" | --file FILE.sql | --tables)\n`;

/** `--help` text. */
export const HELP = `${USAGE}
SQL (DuckDB) over the local marts, printed as a table (--json: the last statement's rows as one JSON array).
  --tables          what can be queried: {view} (current versions), {view}_history, resource_versions, raw_{type}
  --file FILE.sql   statements from a file (several \`;\`-separated statements run in order)
  --data-dir DIR    the data dir (default DATA_DIR, else .data in the project); --catalog FILE its catalogue
  --max-rows N      rows shown in the table output (default 200)
Reads the files under the data dir: works while \`npm start\` runs, and without it.
Exit codes: 0 ok; 1 query error or no catalogue yet; 2 usage.
`;

/**
 * CLI entry point.
 * @returns the process exit code (0 ok, 1 query error, 2 usage).
 */
export async function main(argv: string[], io: Io = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (wantsHelp(argv)) {
    io.out(HELP);
    return 0;
  }
  let args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const dataDir = args.dataDir ? path.resolve(args.dataDir) : loadConfig(env).dataDir;
  const catalog = args.catalog ? path.resolve(args.catalog) : localCatalogFile(dataDir);
  let sql = args.sql;
  if (args.file) sql = fs.readFileSync(args.file, 'utf8');
  if (args.tables) {
    sql = `SELECT table_name AS name, table_type AS kind FROM information_schema.tables WHERE table_schema = 'main' ORDER BY 1`;
  }
  if (!sql) {
    io.err(USAGE);
    return 2;
  }
  if (!fs.existsSync(catalog) && args.tables && !args.catalog) {
    io.out(`no tables yet: the catalogue (${catalog}) is created by the first ingest while the stack runs (npm start)\n`);
    return 0;
  }
  if (!fs.existsSync(catalog)) {
    io.err(`no catalogue at ${catalog}: ingest something while the stack runs (npm start), or pass --data-dir\n`);
    return 1;
  }
  try {
    const results = await runQuery(sql, catalog);
    if (args.json) io.out(JSON.stringify(results[results.length - 1]?.rows ?? []) + '\n');
    else for (const r of results) io.out(formatTable(r, args.maxRows));
    return 0;
  } catch (err) {
    io.err(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  runCli({ name: 'query', usage: HELP, needsStack: false, run: (argv, env) => main(argv, stdio, env) });
}
