/**
 * `node dist/scripts/audit-verify.js [--data-dir .data] [--quiet]`
 *
 * Verifies the local audit trail in `{dataDir}/audit/` (data dir: `--data-dir`, else `$DATA_DIR`, else `.data`):
 * the anchor chain, every writer chain, each against the other (src/core/audit/verify.ts). Prints one line per
 * chain (`--quiet`: only broken chains) and a summary. Exit codes: 0 intact (an empty trail is intact), 1 broken
 * (each broken chain with its first problems), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { verifyAuditTrail, type AuditStore, type ChainReport } from '../src/core/audit';
import { FileAuditStore, localAuditDir } from '../src/adapters/local/audit-log';
import { runCli } from './cli';

/** `--help` text. */
export const HELP = `usage: npm run audit:verify -- [--data-dir DIR] [--quiet]

Verifies the local audit trail in DIR/audit/ (default DATA_DIR, else .data in the project): every writer's hash
chain (gaps, edits, reordering), the shared anchor chain, and each chain against its anchors (truncation after an
anchor, a deleted chain, records after a clean close, a truncated anchor chain). Prints one line per chain and a
summary; records after a chain's last anchor are reported as "unanchored" (the window the anchors do not cover
yet). Reads files only: works while \`npm start\` runs, and without it.
Exit codes: 0 intact (an empty trail is intact); 1 broken; 2 usage.
`;

/** Injectable surroundings (tests). */
export interface AuditVerifyDeps {
  env?: Record<string, string | undefined>;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
  /** Store to verify instead of the local directory. */
  store?: AuditStore;
}

function chainLine(c: ChainReport): string {
  const state = c.closed ? 'closed' : c.unanchored ? `open, ${c.unanchored} unanchored` : 'open, all anchored';
  const head = `chain ${c.writer}: ${c.records} record(s), anchored ${c.anchoredCount} by ${c.anchors} anchor(s), ${state}`;
  return c.ok ? `${head}: OK` : `${head}: BROKEN: ${c.problems.slice(0, 3).join('; ')}${c.problems.length > 3 ? ` (+${c.problems.length - 3} more)` : ''}`;
}

/** Runs the verification; resolves to the exit code. */
export async function main(argv: string[], deps: AuditVerifyDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.stdout ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = deps.stderr ?? ((l: string) => process.stderr.write(l + '\n'));
  let dataDir: string | undefined;
  let quiet = false;
  try {
    const { values } = parseArgs({ args: argv, options: { 'data-dir': { type: 'string' }, quiet: { type: 'boolean' } }, strict: true });
    dataDir = values['data-dir'];
    quiet = values.quiet ?? false;
  } catch (e) {
    err(`audit-verify: ${(e as Error).message}`);
    err(HELP.split('\n')[0]!);
    return 2;
  }
  const store = deps.store ?? new FileAuditStore(localAuditDir(dataDir ?? env.DATA_DIR ?? '.data'));
  const r = await verifyAuditTrail(store);
  for (const c of r.chains) if (!c.ok || !quiet) (c.ok ? out : err)(chainLine(c));
  if (r.legacy) (r.legacy.ok ? out : err)(`legacy global chain: ${r.legacy.count} record(s): ${r.legacy.ok ? 'OK' : `BROKEN: ${r.legacy.problem}`}`);
  const anchors = `anchor chain: ${r.anchorChain.count} anchor(s)${r.anchorChain.lastHash ? ` head sha256:${r.anchorChain.lastHash}` : ''}`;
  if (!r.anchorChain.ok) err(`${anchors}: BROKEN: ${r.anchorChain.problem}`);
  else if (!quiet) out(`${anchors}: OK`);
  const open = r.chains.reduce((n, c) => n + c.unanchored, 0);
  const broken = r.chains.filter((c) => !c.ok).length + (r.anchorChain.ok ? 0 : 1) + (r.legacy && !r.legacy.ok ? 1 : 0);
  const summary = `${r.records} record(s) in ${r.chains.length} chain(s), ${r.anchorChain.count} anchor(s), ${open} unanchored, in ${store.name}`;
  if (r.ok) {
    out(`audit trail OK: ${summary}`);
    return 0;
  }
  err(`audit trail BROKEN (${broken} part(s)): ${summary}`);
  return 1;
}

if (require.main === module) {
  runCli({ name: 'audit-verify', usage: HELP, needsStack: false, run: (argv, env) => main(argv, { env }) });
}
