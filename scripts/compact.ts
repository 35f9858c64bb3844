/**
 * `npm run compact -- <view> [--source S] [--date YYYY-MM-DD]`: merges the small Parquet files of each partition
 * of a mart (one file per lake object, as the ETL writes them) into one file per partition, without losing or
 * duplicating rows. `<view>` is a mart view name (its `{view}_history` files are compacted), `resource_versions`,
 * or `--all`. Partitions come from the catalogue; `--source` / `--date` narrow them.
 *
 * A re-delivered event after compaction adds nothing: compaction records the lake keys it merged in
 * `compaction/source=…/date=….json` and the ETL skips those keys (see `compactPartition` in src/core/etl/compaction.ts;
 * keys are built by src/core/lake-layout.ts).
 * Compact partitions that no longer receive data (past days); do not run two compactions of one partition at once.
 */
import { getEtlApp } from '../src/bootstrap';
import { loadConfig } from '../src/config';
import { compactPartition, etlTables, type CompactionResult } from '../src/core/etl';
import { recordCompaction } from '../src/core/ops/jobs';
import { historyTableName, VERSIONS_TABLE } from '../src/core/catalog';
import { runCli } from './cli';

/** `--help` text. */
export const HELP = `usage: npm run compact -- <view | resource_versions | --all> [--source S] [--date YYYY-MM-DD]

Merges the small Parquet files of each partition of a mart ({view}_history, or resource_versions) into one file
per partition, without losing or duplicating rows; --source and --date narrow the partitions.
Compact partitions that no longer receive data (past days); never run two compactions of one partition at once.
Needs the local stack (\`npm start\`, found through DATA_DIR/stack.json, default .data/stack.json).
Exit codes: 0 ok (also when there is nothing to merge); 1 unknown view, a store failed, or the stack is not running; 2 usage.
`;

function parse(argv: string[]): { target?: string; all: boolean; source?: string; date?: string } {
  const o = { all: false } as ReturnType<typeof parse>;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--all') o.all = true;
    else if (a === '--source') o.source = argv[++i];
    else if (a === '--date') o.date = argv[++i];
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.target = a;
  }
  return o;
}

/**
 * Compacts and returns what was done per partition.
 * @throws Error for an unknown view.
 */
export async function compact(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<CompactionResult[]> {
  const args = parse(argv);
  const app = getEtlApp(loadConfig(env));
  const tables = etlTables(app.views, app.marts.name);
  const wanted = args.all
    ? tables
    : tables.filter((t) => t.name === args.target || t.name === historyTableName(args.target ?? '') || (args.target === VERSIONS_TABLE && t.name === VERSIONS_TABLE));
  if (wanted.length === 0) throw new Error(`unknown view '${args.target ?? ''}' (views: ${app.views.map((v) => v.name).join(', ')}, ${VERSIONS_TABLE})`);
  const results: CompactionResult[] = [];
  const byPartition = new Map<string, { source: string; date: string; tables: Record<string, number>; startedAt: Date }>();
  for (const t of wanted) {
    const parts = (await app.catalog.listPartitions(t.name)).filter((p) => (!args.source || p.source === args.source) && (!args.date || p.date === args.date));
    for (const p of parts) {
      const startedAt = new Date();
      const r = await compactPartition({ marts: app.marts, codec: app.codec }, t, p);
      results.push(r);
      const k = `${p.source}|${p.date}`;
      const entry = byPartition.get(k) ?? { source: p.source, date: p.date, tables: {}, startedAt };
      if (r.inputs > 0) entry.tables[t.name] = r.rows;
      byPartition.set(k, entry);
    }
  }
  // one job record per compacted partition (the ops console's ETL jobs page)
  for (const e of byPartition.values()) {
    if (Object.keys(e.tables).length > 0) await recordCompaction(app.jobs, { ...e, finishedAt: new Date() });
  }
  return results;
}

/** CLI entry point; returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (argv.length === 0 || argv.includes('--help')) {
    out(HELP);
    return argv.length === 0 ? 2 : 0;
  }
  try {
    const results = await compact(argv, env);
    for (const r of results) {
      out(
        r.inputs === 0
          ? `${r.table} source=${r.partition.source} date=${r.partition.date}: nothing to merge\n`
          : `${r.table} source=${r.partition.source} date=${r.partition.date}: ${r.inputs} files → 1 (${r.rows} rows, ${r.lakeKeys} lake objects)\n`,
      );
    }
    return 0;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await getEtlApp(loadConfig(env)).codec.close();
  }
}

if (require.main === module) {
  runCli({ name: 'compact', usage: HELP, needsStack: true, run: (argv, env) => main(argv, env) });
}
