/**
 * The common entry point of the command-line tools (`npm run triage`, `reidentify`, `query`, `compact`,
 * `etl-replay`, `audit:verify`, `token`):
 * - `--help` / `-h` prints the usage on stdout and exits 0, before anything else is looked at;
 * - a command that needs the local stack finds it through `{DATA_DIR}/stack.json` (written by `npm start`, see
 *   stack-file.ts), so it works from a second terminal with no variables; when the stack is down it says so in
 *   one line and exits 1;
 * - any other failure is one line `name: message` and exit 1 (`VERBOSE=1` adds the stack trace);
 * - the AWS SDK's Node-version notice is turned off with the SDK's own switch
 *   (`AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true`, read when a client is built).
 * With `TRIBUTARY_RUNTIME=aws` the commands use the configured AWS resources and never look for a local stack.
 */
import { dataDirOf, runningStack, stackEnv, StackDownError } from './stack-file';

/** The AWS SDK's documented switch for its Node-version support notice (set before any client is built). */
export function quietAwsSdkNotice(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
quietAwsSdkNotice();

/** A command-line tool. */
export interface Cli {
  /** Name shown in messages (`triage: …`). */
  name: string;
  /** Usage text, printed by `--help`. */
  usage: string;
  /** Does it talk to the running local stack (S3/SNS)? Then it reads `stack.json` first. */
  needsStack: boolean;
  /** Runs with the resolved environment; resolves to the exit code. */
  run(argv: string[], env: NodeJS.ProcessEnv): Promise<number>;
}

/** Is `--help` or `-h` among the arguments? */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * The environment a command runs with: with `needsStack`, the running local stack's endpoints (unless the runtime
 * is `aws`), and always a resolved `DATA_DIR` and token verification off.
 * @throws StackDownError when the command needs the stack and it is not running.
 */
export async function cliEnv(needsStack: boolean, env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  if (env.TRIBUTARY_RUNTIME === 'aws') return { ...env, AUTH: 'off' };
  const dataDir = dataDirOf(env);
  if (needsStack) return stackEnv(await runningStack(dataDir), env);
  return { ...env, DATA_DIR: dataDir, AUTH: 'off' };
}

/** The first line of an error's message (a CLI prints one line; `VERBOSE=1` prints the stack too). */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim()) ?? (err instanceof Error ? err.name : 'failed');
}

/** Runs a command as the process's entry point and exits with its code. */
export function runCli(cli: Cli, argv: string[] = process.argv.slice(2)): void {
  const fail = (err: unknown): void => {
    process.stderr.write(`${cli.name}: ${oneLine(err)}\n`);
    if (process.env.VERBOSE === '1' && err instanceof Error && !(err instanceof StackDownError)) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  if (wantsHelp(argv)) {
    process.stdout.write(cli.usage.endsWith('\n') ? cli.usage : cli.usage + '\n');
    process.exit(0);
  }
  cliEnv(cli.needsStack)
    .then((env) => cli.run(argv, env))
    .then((code) => process.exit(code), fail);
}
