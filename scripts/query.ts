/**
 * `npm run query -- "SELECT …"`: SQL over the local marts (DuckDB), printed as a table.
 *
 *   npm run query -- "SELECT gender, count(*) FROM patient GROUP BY ALL"
 *   npm run query -- --json "SELECT * FROM observation LIMIT 3"      # one JSON array
 *   npm run query -- --csv "SELECT * FROM observation" > obs.csv    # CSV (RFC 4180)
 *   npm run query -- --file analyses/covid19.sql
 *   npm run query -- --tables                                        # what can be queried
 *
 * Options: `--data-dir DIR` (default `DATA_DIR` or `.data`), `--catalog FILE` (default
 * `{data-dir}/catalog/tributary.duckdb`), `--max-rows N` for the table output (default 200).
 * Several statements (`;`-separated) run in order; each result is printed (`--json`, `--csv`: the last one).
 *
 * Works while `npm start` runs: the catalogue file is attached read-only for the milliseconds it takes to copy
 * its view definitions into an in-memory DuckDB, then the query reads the Parquet files directly.
 * Tables: `{view}` (current versions), `{view}_history` (all versions), `resource_versions`, `raw_{type}`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { localCatalogFile } from '../src/adapters/local/duckdb-catalog';
import { QueryError, runQuery, type QueryResult } from '../src/adapters/local/duckdb-query';
import { runCli, wantsHelp } from './cli';

// The query code is shared with the safe-analysis path (src/adapters/local/duckdb-query.ts).
export { QueryError, runQuery, type QueryResult };

/** Where the output goes (tests capture it). */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

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

/** One CSV field (RFC 4180 §2): quoted when it holds a comma, a double quote, CR or LF (quotes doubled), or is empty. */
function csvField(v: unknown): string {
  if (v === null || v === undefined) return ''; // NULL: an empty, unquoted field
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s === '' || /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * Formats rows as CSV (RFC 4180): a header record with the column names, then one record per row, every record
 * ending with CRLF. NULL is an empty field, the empty string a quoted empty field (`""`); lists and structs are
 * their JSON text. Every row is written (no `--max-rows` limit).
 */
export function formatCsv(r: QueryResult): string {
  const record = (fields: unknown[]): string => fields.map(csvField).join(',') + '\r\n';
  return record(r.columns) + r.rows.map((row) => record(r.columns.map((c) => row[c]))).join('');
}

/** Parses the command line. */
export function parseArgs(argv: string[]): { sql?: string; file?: string; json: boolean; csv: boolean; tables: boolean; dataDir?: string; catalog?: string; maxRows: number } {
  const o = { json: false, csv: false, tables: false, maxRows: 200 } as ReturnType<typeof parseArgs>;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new QueryError(`${a} needs a value`);
      return v;
    };
    if (a === '--json') o.json = true;
    else if (a === '--csv') o.csv = true;
    else if (a === '--tables') o.tables = true;
    else if (a === '--file' || a === '-f') o.file = next();
    else if (a === '--data-dir') o.dataDir = next();
    else if (a === '--catalog') o.catalog = next();
    else if (a === '--max-rows') o.maxRows = Number(next());
    else if (a === '--help' || a === '-h') rest.push('--help');
    else rest.push(a);
  }
  if (o.json && o.csv) throw new QueryError('--json and --csv cannot be combined');
  if (rest.includes('--help')) return { ...o, sql: undefined, file: undefined };
  if (rest.length > 0) o.sql = rest.join(' ');
  return o;
}

const USAGE = `usage: npm run query -- [--json | --csv] [--data-dir DIR] [--catalog FILE] ("SQL" | --file FILE.sql | --tables)\n`;

/** `--help` text. */
export const HELP = `${USAGE}
SQL (DuckDB) over the local marts, printed as a table (--json: the last statement's rows as one JSON array; --csv: as RFC 4180 CSV).
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
    else if (args.csv) io.out(results.length > 0 ? formatCsv(results[results.length - 1]!) : '');
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
