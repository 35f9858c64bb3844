/**
 * `npm run triage -- list | show <id> | recheck <id>... | recheck --all`: the triage area (see src/core/triage.ts).
 * `recheck` re-validates held items against the CURRENT rules (rules/rules.yaml or RULES_FILE, validation level,
 * policy) through the normal write path and ingests those that now pass, exactly once. Locally it needs the
 * stack's s3rver (`npm start` running); in AWS, the triage role's credentials.
 */
import type { TriageArea } from '../src/core/triage';
import type { Ingestor } from '../src/core/ingest';
import { loadConfig } from '../src/config';
import { runCli } from './cli';

const USAGE = 'usage: npm run triage -- list | show <id> | recheck <id>... | recheck --all';

/** `--help` text. */
export const HELP = `${USAGE}

The triage area holds the refused payloads of the sources listed in TRIAGE_SOURCES (sealed).
  list              every held item: id, state, source, resource types, issue count
  show <id>         one item, with its validation issues
  recheck <id>...   re-validate items against the current rules; those that now pass are ingested, once
  recheck --all     the same for every held item
Needs the local stack (\`npm start\`, found through DATA_DIR/stack.json, default .data/stack.json).
Exit codes: 0 ok; 1 not found, still failing, or the stack is not running; 2 usage.
`;

/** Runs the CLI. Exit codes: 0 ok; 1 not found / still failing; 2 usage. */
export async function main(
  argv: string[],
  deps: { triage: TriageArea; ingestor: Ingestor; out?: (t: string) => void; err?: (t: string) => void },
): Promise<number> {
  const out = deps.out ?? ((t: string) => void process.stdout.write(t + '\n'));
  const err = deps.err ?? ((t: string) => void process.stderr.write(t + '\n'));
  const [cmd, ...rest] = argv;
  if (cmd === 'list') {
    const items = await deps.triage.list();
    if (items.length === 0) out('triage area is empty');
    for (const s of items) {
      out(
        `${s.id}  ${s.state.padEnd(8)}  ${s.source}  held ${s.heldAt}  ${Object.entries(s.resourceTypes)
          .map(([t, n]) => `${t}×${n}`)
          .join(' ')}  issues ${s.issues}${s.lastCheckedAt ? `  last check ${s.lastCheckedAt} (${s.lastCheckIssues ?? '?'} issues)` : ''}`,
      );
    }
    return 0;
  }
  if (cmd === 'show' && rest[0]) {
    const item = await deps.triage.show(rest[0]);
    if (!item) {
      err(`no triage item ${rest[0]}`);
      return 1;
    }
    out(JSON.stringify(item, null, 2));
    return 0;
  }
  if (cmd === 'recheck' && rest.length > 0) {
    const ids = rest.includes('--all') ? undefined : rest;
    const r = await deps.triage.recheck(deps.ingestor, ids);
    out(`rechecked ${r.checked}: ingested ${r.ingested.length} (${r.ingested.join(', ') || '-'}), still failing ${r.stillFailing.length}`);
    return r.stillFailing.length > 0 ? 1 : 0;
  }
  err(USAGE);
  return 2;
}

if (require.main === module) {
  runCli({
    name: 'triage',
    usage: HELP,
    needsStack: true,
    run: async (argv, env) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { getApp } = require('../src/bootstrap') as typeof import('../src/bootstrap');
      const app = getApp(loadConfig(env));
      return main(argv, { triage: app.triage, ingestor: app.ingestor });
    },
  });
}
