/**
 * `npm run analyse -- <id> [--out DIR] [--data-dir DIR] [--json]`: runs an approved analysis of the registry
 * (`analyses/<id>.sql` + `analyses/<id>.yaml`) over the local marts, checks its output (docs/safe-analysis.md) and
 * releases it as `<id>.csv`, `<id>.json` and `<id>.release.json` in DIR (default
 * `{DATA_DIR}/releases/<id>/<release id>/`). Prints the released table (or, with `--json`, the release record).
 *
 * Refused when the analysis is not approved, its SQL or metadata changed since, or its output fails the checker:
 * the message names the rule. Every run, refusal and release is in the audit trail. "Who" is ANALYSIS_WHO or
 * the operating-system user@host. Exit codes: 0 released, 1 failed, 2 usage, 3 refused.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { localCatalogFile } from '../src/adapters/local/duckdb-catalog';
import { AnalysisRefused, runAnalysis, type AnalysisDeps } from '../src/core/analysis';
import { buildAnalysisApp } from '../src/bootstrap';
import { formatTable } from './query';

/** Surroundings of {@link main} (tests inject them). */
export interface AnalyseDeps {
  env?: NodeJS.ProcessEnv;
  /** Who runs it, recorded in the audit trail and the release record. */
  who: string;
  /** Collaborators to use instead of the configured ones. */
  overrides?: Partial<AnalysisDeps>;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const USAGE = 'usage: npm run analyse -- <analysis id> [--out DIR] [--data-dir DIR] [--json]';

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], deps: AnalyseDeps): Promise<number> {
  const out = deps.out ?? ((t: string) => void process.stdout.write(t));
  const err = deps.err ?? ((t: string) => void process.stderr.write(t));
  let values: { out?: string; 'data-dir'?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { out: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    err(`${USAGE}\n`);
    return 2;
  }
  if (!deps.who) {
    err('refusing to run without knowing who runs it\n');
    return 2;
  }
  const env = { ...(deps.env ?? process.env), ...(values['data-dir'] ? { DATA_DIR: values['data-dir'] } : {}) };
  const config = loadConfig(env);
  const app = await buildAnalysisApp(config, deps.overrides);
  const id = positionals[0]!;
  try {
    const r = await runAnalysis(app.deps, { id, who: deps.who, sink: (releaseId) => app.sink(id, releaseId, values.out) });
    if (values.json) {
      out(JSON.stringify(r.record, null, 2) + '\n');
    } else {
      out(formatTable(r.table, 500));
      out(`released ${r.record.releaseId} (${r.record.output}, study ${r.record.study}, approved by ${r.record.approvedBy} on ${r.record.approvedAt})\n`);
      for (const rule of r.record.rules) out(`  ${rule.rule}: ${rule.description} — ${rule.cells} cell(s)\n`);
      for (const f of r.written) out(`  wrote ${f}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof AnalysisRefused) {
      err(`${e.message}\n`);
      return 3;
    }
    const noCatalogue = config.runtime === 'local' && !deps.overrides?.marts && !fs.existsSync(localCatalogFile(config.dataDir));
    err(`analyse failed: ${(e as Error).message}\n${noCatalogue ? `(no catalogue at ${localCatalogFile(config.dataDir)}: ingest something while the stack runs, or pass --data-dir)\n` : ''}`);
    return 1;
  }
}

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('node:os') as typeof import('node:os');
  const who = process.env.ANALYSIS_WHO || `${os.userInfo().username}@${os.hostname()}`;
  main(process.argv.slice(2), { who }).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`analyse failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
