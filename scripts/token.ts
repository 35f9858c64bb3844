/**
 * `npm run token -- --source <name> --scope "<scopes>" [--client-id x] [--ttl 3600] [--audience tributary]
 *   [--issuer http://127.0.0.1:3099] [--data-dir .data]`
 *
 * Mints a local development access token signed by the local issuer's key (`src/adapters/local/issuer.ts`)
 * and prints it alone on the last line of stdout (a comment goes to stderr), so
 * `TOKEN=$(npm run -s token -- --source gp-feed --scope 'system/*.cu')` works.
 *
 * Defaults: data dir `$DATA_DIR` or `.data`; issuer from `{dataDir}/issuer/issuer.json` (written by the running
 * local issuer), else `http://127.0.0.1:3099`; audience `$TRIBUTARY_AUDIENCE` or `tributary`; scope `system/*.cu`.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_AUDIENCE, DEFAULT_TTL_SEC, mintToken } from '../src/adapters/local/issuer';
import { runCli } from './cli';

/** Injectable process surroundings (tests). */
export interface TokenScriptDeps {
  env?: Record<string, string | undefined>;
  stdout?: (line: string) => void;
  stderr?: (line: string) => void;
}

const USAGE =
  'usage: npm run token -- --source <name> [--scope "system/*.cu"] [--client-id id] [--ttl seconds] ' +
  '[--audience tributary] [--issuer url] [--data-dir .data]';

/** Runs the script; resolves to the exit code (0 ok, 2 usage error). */
export async function main(argv: string[], deps: TokenScriptDeps = {}): Promise<number> {
  const env = deps.env ?? process.env;
  const out = deps.stdout ?? ((l: string) => process.stdout.write(l + '\n'));
  const err = deps.stderr ?? ((l: string) => process.stderr.write(l + '\n'));
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        source: { type: 'string' },
        scope: { type: 'string' },
        'client-id': { type: 'string' },
        ttl: { type: 'string' },
        audience: { type: 'string' },
        issuer: { type: 'string' },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    err(`token: ${(e as Error).message}`);
    err(USAGE);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const source = values.source as string | undefined;
  if (!source) {
    err('token: --source is required');
    err(USAGE);
    return 2;
  }
  const ttl = values.ttl === undefined ? DEFAULT_TTL_SEC : Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    err('token: --ttl must be a positive whole number of seconds');
    return 2;
  }
  const scope = (values.scope as string | undefined) ?? 'system/*.cu';
  const dataDir = (values['data-dir'] as string | undefined) ?? env.DATA_DIR ?? '.data';
  const token = await mintToken({
    dataDir,
    source,
    scope,
    expiresIn: ttl,
    audience: (values.audience as string | undefined) ?? env.TRIBUTARY_AUDIENCE ?? DEFAULT_AUDIENCE,
    ...(values.issuer !== undefined && { issuer: values.issuer as string }),
    ...(values['client-id'] !== undefined && { clientId: values['client-id'] as string }),
  });
  err(`# token for source=${source} scope="${scope}" ttl=${ttl}s`);
  out(token);
  return 0;
}

if (require.main === module) {
  runCli({ name: 'token', usage: USAGE, needsStack: false, run: (argv, env) => main(argv, { env }) });
}
