/**
 * `node dist/scripts/audit-verify.js [--data-dir .data]`
 *
 * Verifies the local hash-chained audit trail in `{dataDir}/audit/` (data dir: `--data-dir`, else `$DATA_DIR`,
 * else `.data`). Prints one summary line. Exit codes: 0 the chain is intact (an empty trail is intact),
 * 1 the chain is broken (first bad sequence and reason printed), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { readAuditRecords, verifyAuditChain, type AuditStore } from '../src/core/audit/chain';
import { FileAuditStore, localAuditDir } from '../src/adapters/local/audit-log';
import { runCli } from './cli';

/** `--help` text. */
export const HELP = `usage: npm run audit:verify -- [--data-dir DIR]

Verifies the local hash-chained audit trail in DIR/audit/ (default DATA_DIR, else .data in the project) and
prints one summary line. Reads files only: works while \`npm start\` runs, and without it.
Exit codes: 0 the chain is intact (an empty trail is intact); 1 the chain is broken (first bad sequence and
reason printed); 2 usage.
`;

/** Injectable surroundings (tests). */
export interface AuditVerifyDeps {
  env?: Record<string, string | undefined>;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Store to verify instead of the local directory. */
  store?: AuditStore;
}

/** Runs the verification; resolves to the exit code. */
export async function main(argv: string[], deps: AuditVerifyDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.stdout ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = deps.stderr ?? ((l: string) => process.stderr.write(l + '\n'));
  let dataDir: string | undefined;
  try {
    const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' } }, strict: true });
    dataDir = values['data-dir'];
  } catch (e) {
    err(`audit-verify: ${(e as Error).message}`);
    err(HELP.split('\n')[0]!);
    return 2;
  }
  const store = deps.store ?? new FileAuditStore(localAuditDir(dataDir ?? env.DATA_DIR ?? '.data'));
  const result = verifyAuditChain(await readAuditRecords(store));
  if (result.ok) {
    const head = result.lastSequence !== undefined ? `; head ${result.lastSequence} sha256:${result.lastHash}` : '';
    out(`audit chain OK: ${result.count} record(s) in ${store.name}${head}`);
    return 0;
  }
  err(`audit chain BROKEN in ${store.name} at sequence ${result.firstBadSequence}: ${result.reason}`);
  return 1;
}

if (require.main === module) {
  runCli({ name: 'audit-verify', usage: HELP, needsStack: false, run: (argv, env) => main(argv, { env }) });
}
