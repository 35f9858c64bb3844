/**
 * `npm run analysis:approve -- <id> --by NAME`: records an approval of an analysis of the registry. The SHA-256 of
 * its SQL (`analyses/<id>.sql`) and of its metadata (without the approval fields) are written, with the approver's
 * name and the time, into `analyses/<id>.yaml`; an AuditEvent (`analysis-approve`) is appended first. Any later
 * change of the SQL or the metadata voids the approval (`npm run analyse` refuses it, naming the rule).
 *
 * The approver is a data guardian or output checker, not the analyst: when the metadata names `requestedBy`,
 * that person cannot approve (rule `approval-four-eyes`). Who records it is APPROVAL_WHO or the operating-system
 * user@host. Exit codes: 0 approved, 1 failed, 2 usage, 3 refused.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config';
import { AnalysisRefused, approveAnalysis, type AnalysisDeps } from '../src/core/analysis';
import { buildAnalysisApp } from '../src/bootstrap';

/** Surroundings of {@link main} (tests inject them). */
export interface ApproveDeps {
  env?: NodeJS.ProcessEnv;
  /** Who records the approval (the audit record's agent). */
  who: string;
  overrides?: Partial<AnalysisDeps>;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

const USAGE = 'usage: npm run analysis:approve -- <analysis id> --by NAME';

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[], deps: ApproveDeps): Promise<number> {
  const out = deps.out ?? ((t: string) => void process.stdout.write(t));
  const err = deps.err ?? ((t: string) => void process.stderr.write(t));
  let values: { by?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: { by: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true }));
  } catch (e) {
    err(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1 || !values.by?.trim() || !deps.who) {
    err(`${USAGE}\n`);
    return 2;
  }
  // Approving needs the registry and the audit trail, not the data: no marts, no study key.
  const unused = { run: async () => ({ columns: [], rows: [] }) };
  const app = await buildAnalysisApp(loadConfig(deps.env ?? process.env), { marts: unused, studyKeys: { keyVersion: 'unused', mac: async () => '' }, ...deps.overrides });
  try {
    const a = await approveAnalysis(app.deps, { id: positionals[0]!, by: values.by.trim(), who: deps.who });
    out(`approved ${positionals[0]} by ${a.approvedBy} at ${a.approvedAt}\n  sqlSha256  ${a.sqlSha256}\n  specSha256 ${a.specSha256}\n`);
    return 0;
  } catch (e) {
    if (e instanceof AnalysisRefused) {
      err(`${e.message}\n`);
      return 3;
    }
    err(`approval failed: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('node:os') as typeof import('node:os');
  const who = process.env.APPROVAL_WHO || `${os.userInfo().username}@${os.hostname()}`;
  main(process.argv.slice(2), { who }).then(
    (code) => process.exit(code),
    (e) => {
      process.stderr.write(`approval failed: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
