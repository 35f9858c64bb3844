/**
 * `npm start`: the whole local stack on 127.0.0.1, no other step needed:
 * - s3rver (a real S3-protocol server) storing under DATA_DIR/s3 (default .data/s3), with Tributary's buckets;
 * - the local OIDC issuer (JWKS) on ISSUER_PORT (default 3099), in this process;
 * - serverless-offline serving the API at http://localhost:PORT/fhir (default 3000; it also takes PORT+1 and
 *   PORT+2), which also starts serverless-offline-sns, the local SNS-protocol endpoint (SNS_PORT, default 4002);
 * - the commit protocol's recovery (docs/commit-protocol.md), in this process: once when the API is ready, then
 *   every RECOVERY_INTERVAL seconds (default 60; 0 = the pass at start only), like the scheduled `recovery`
 *   function in AWS.
 *
 * Before starting anything every port is checked, and a busy one is named with the variable to change. Every
 * wait has a time limit. The API is recognised by the instance id this start passes it and reads back from its
 * CapabilityStatement, not by whatever answers on the port. Once ready, the endpoints go to DATA_DIR/stack.json
 * (removed on a clean stop), which every CLI reads. If a child process dies, the rest is stopped and `npm start`
 * exits non-zero with that child's last log lines. Ctrl-C stops everything.
 */
import { spawn, fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { startLocalIssuer } from '../src/adapters/local/issuer';
import { ChildLog, stopChild } from './stack-children';
import { startConsoleServer, type ConsoleServer } from './console-server';
import { INSTANCE_ID_EXTENSION } from '../src/fhir/capability';
import { quietAwsSdkNotice, wantsHelp } from './cli';
import { checkPorts, PortError, portSetting, type WantedPort } from './ports';
import { answers, dataDirOf, isAlive, PROJECT_ROOT, readStackFile, removeStackFile, writeStackFile, type StackInfo } from './stack-file';

const ROOT = PROJECT_ROOT;
const BUCKETS = ['tributary-lake', 'tributary-identity', 'tributary-triage', 'tributary-audit', 'tributary-marts', 'tributary-import'];
/** Default time limit for the API to answer, seconds (`START_TIMEOUT`). */
const DEFAULT_READY_TIMEOUT_SEC = 120;
/**
 * V8 heap limit of the API process and of each of its handler threads, MB: the memory the ingest function has in
 * Lambda (`memorySize` in serverless.yml). A request that fits in Lambda fits here; and V8 sizes each heap
 * closer to its live data under a limit of this size (growth factor about 1.6 instead of up to 4 under the default
 * limit of a few GB), which keeps the stack's memory flat under load (docs/operations.md, Memory).
 */
const HANDLER_HEAP_MB = 1024;

/** Options of the local stack. */
export interface StackOptions {
  port: number;
  s3Port: number;
  snsPort: number;
  /** Port of the local OIDC issuer (JWKS); 0 picks a free one. */
  issuerPort?: number;
  /** Port of the web console (docs/console.md); default 0: a free one (`npm start` asks for CONSOLE_PORT, 3098). */
  consolePort?: number;
  dataDir: string;
  /** Extra environment for the API process. */
  env?: NodeJS.ProcessEnv;
  /** Run handlers in-process instead of worker threads (`IN_PROCESS=1`; less isolated, see docs/operations.md). */
  inProcess?: boolean;
  /** Send the API's and the S3 server's output to their log files only (else also to this terminal). */
  quiet?: boolean;
  /** The API's log file (default DATA_DIR/logs/api.log). */
  logFile?: string;
  /** Time limit for the API to answer, ms (default 120 s). */
  readyTimeoutMs?: number;
  /** Names of the port settings in messages (default the `npm start` variables). */
  portNames?: { port?: string; s3Port?: string; snsPort?: string; issuerPort?: string; consolePort?: string };
  /** Seconds between recovery passes (default 60; 0 = one pass at start only; negative = none). */
  recoveryIntervalSec?: number;
  /** Seconds an undecided request is left to its writer before recovery aborts it (default 120). */
  recoveryLeaseSec?: number;
}

/** Default seconds between recovery passes (`RECOVERY_INTERVAL`). */
const DEFAULT_RECOVERY_INTERVAL_SEC = 60;

/**
 * Runs the commit protocol's recovery against the stack (its own app instance, built from the API's environment):
 * once now, then every `intervalSec`. Each pass's counts go to the API log when it did something.
 * @returns a function that stops the loop (and waits for a pass in progress).
 */
async function startRecovery(env: NodeJS.ProcessEnv, intervalSec: number, leaseSec: number | undefined, log: ChildLog): Promise<() => Promise<void>> {
  const { getApp, resetApp, recoveryDeps } = await import('../src/bootstrap');
  const { loadConfig } = await import('../src/config');
  const { recoverCommits } = await import('../src/core/use-cases');
  resetApp();
  const deps = recoveryDeps(getApp(loadConfig(env)));
  resetApp(); // this instance is the loop's own
  let running: Promise<unknown> = Promise.resolve();
  const pass = (): void => {
    running = running
      .then(() => recoverCommits(deps, leaseSec !== undefined ? { leaseMs: leaseSec * 1000 } : {}))
      .then((r) => {
        if (r.seen + r.swept > 0) log.note(`${new Date().toISOString()} recovery: ${JSON.stringify(r)}`);
      })
      .catch((err) => log.note(`${new Date().toISOString()} recovery failed: ${(err as Error)?.name}: ${(err as Error)?.message?.slice(0, 200)}`));
  };
  pass();
  const timer = intervalSec > 0 ? setInterval(pass, intervalSec * 1000) : undefined;
  timer?.unref();
  return async () => {
    if (timer) clearInterval(timer);
    await running;
  };
}

/** A child process of the stack that ended while the stack was running. */
export interface ChildExit {
  /** `API (serverless-offline)` or `S3 server (s3rver)`. */
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  logFile: string;
  /** Its last log lines. */
  tail: string;
}

/** A running local stack. */
export interface Stack {
  baseUrl: string;
  s3Endpoint: string;
  snsEndpoint: string;
  issuer: string;
  /** The web console's URL. */
  consoleUrl: string;
  logFile: string;
  instanceId: string;
  /** What was written to `stackFile`. */
  info: StackInfo;
  stackFile: string;
  /** Resolves if a child process ends before {@link Stack.stop} is called. */
  exited: Promise<ChildExit>;
  /** Stops everything and removes the stack file. */
  stop(): Promise<void>;
}

/** A failure to start, with the message for the user (one paragraph, maybe followed by log lines). */
export class StartError extends Error {
  override readonly name = 'StartError';
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Starts the local S3-protocol server (s3rver, `scripts/s3-server.ts`) as its own process on `port`, storing under
 * `dir`, with `buckets` created; resolves once it listens (at most `timeoutMs`).
 */
export async function startS3Server(
  port: number,
  dir: string,
  buckets: readonly string[],
  stdio: 'inherit' | 'ignore' | 'pipe' = 'inherit',
  timeoutMs = 30_000,
): Promise<ChildProcess> {
  fs.mkdirSync(dir, { recursive: true });
  const s3 = fork(path.join(__dirname, 's3-server.js'), [String(port), dir, ...buckets], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', stdio, stdio, 'ipc'],
    detached: true,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new StartError(`the S3 server did not start within ${timeoutMs / 1000} s`)), timeoutMs);
      s3.once('message', () => {
        clearTimeout(t);
        resolve();
      });
      s3.once('exit', (code) => {
        clearTimeout(t);
        reject(new StartError(`the S3 server exited with code ${code} while starting`));
      });
    });
  } catch (err) {
    await stopChild(s3, 'SIGTERM');
    throw err;
  }
  return s3;
}

/** The instance id in a CapabilityStatement, if any. */
function instanceIdOf(body: unknown): string | undefined {
  const ext = (body as { extension?: { url?: string; valueString?: string }[] } | undefined)?.extension;
  return Array.isArray(ext) ? ext.find((e) => e?.url === INSTANCE_ID_EXTENSION)?.valueString : undefined;
}

/**
 * Waits until OUR API answers `GET /fhir/metadata` with our instance id; fails when `child` exits, or after
 * `ms` (saying what answered instead, if anything did).
 */
async function waitForApi(url: string, instanceId: string, ms: number, child: ChildProcess, log: ChildLog, portName: string, port: number): Promise<void> {
  const until = Date.now() + ms;
  let foreign: string | undefined;
  while (Date.now() < until) {
    if (log.contains('EADDRINUSE')) {
      throw new StartError(`the API could not listen: a port is in use (EADDRINUSE); check ${portName}=${port} and ports ${port + 1}, ${port + 2}`);
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartError(`the API (serverless-offline) exited with ${child.exitCode ?? child.signalCode} while starting`);
    }
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
      const text = await r.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const id = instanceIdOf(body);
      if (r.status === 200 && id === instanceId) return;
      foreign = `HTTP ${r.status}${id ? ` from another Tributary instance (${id})` : ''}`;
    } catch {
      /* not up yet */
    }
    await sleep(250);
  }
  const what = foreign ? `another server answers on port ${port} (${foreign}): choose another ${portName}` : `it did not answer within ${ms / 1000} s (START_TIMEOUT=${ms / 1000})`;
  throw new StartError(`the API did not start: ${what}`);
}

/** Waits until something accepts connections at `url` (at most `ms`). */
async function waitForPort(url: string, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await answers(url, 1000)) return;
    await sleep(250);
  }
  throw new StartError(`${what} did not start listening at ${url} within ${ms / 1000} s`);
}

/** Refuses to start a second stack on the data dir of a running one. */
function checkNotRunning(dataDir: string): void {
  const other = readStackFile(dataDir);
  if (other && other.pid !== process.pid && isAlive(other.pid)) {
    throw new StartError(
      `Tributary is already running with this data dir (pid ${other.pid}, API ${other.apiBaseUrl}); stop it first, or use another DATA_DIR`,
    );
  }
}

/**
 * Starts s3rver, the issuer and serverless-offline (with the local SNS endpoint); resolves when our API answers,
 * after writing `{dataDir}/stack.json`.
 * @throws PortError (a port taken or invalid, naming its variable), StartError (anything else, with the log tail).
 */
export async function startStack(o: StackOptions): Promise<Stack> {
  const names = { port: 'PORT', s3Port: 'S3_PORT', snsPort: 'SNS_PORT', issuerPort: 'ISSUER_PORT', consolePort: 'CONSOLE_PORT', ...o.portNames };
  const issuerPort = o.issuerPort ?? 3099;
  const consolePort = o.consolePort ?? 0;
  const wanted: WantedPort[] = [
    { port: o.port, name: names.port, variable: names.port, what: 'the API' },
    { port: o.port + 1, name: `${names.port}+1`, variable: names.port, what: "serverless-offline's websocket port" },
    { port: o.port + 2, name: `${names.port}+2`, variable: names.port, what: "serverless-offline's Lambda invoke port" },
    { port: o.s3Port, name: names.s3Port, variable: names.s3Port, what: 'the S3 server' },
    { port: o.snsPort, name: names.snsPort, variable: names.snsPort, what: 'the SNS endpoint' },
    ...(issuerPort ? [{ port: issuerPort, name: names.issuerPort, variable: names.issuerPort, what: 'the OIDC issuer' }] : []),
    ...(consolePort ? [{ port: consolePort, name: names.consolePort, variable: names.consolePort, what: 'the web console' }] : []),
  ];
  checkNotRunning(o.dataDir);
  await checkPorts(wanted);

  const instanceId = randomUUID();
  const echo = !o.quiet;
  const logFile = o.logFile ?? path.join(o.dataDir, 'logs', 'api.log');
  const apiLog = new ChildLog(logFile, echo ? process.stdout : undefined);
  const s3Log = new ChildLog(path.join(path.dirname(logFile), 's3.log'), echo ? process.stderr : undefined);
  const header = `--- ${new Date().toISOString()} npm start, instance ${instanceId}`;
  apiLog.note(header);
  s3Log.note(header);

  let stopping = false;
  let s3: ChildProcess | undefined;
  let api: ChildProcess | undefined;
  let issuer: Awaited<ReturnType<typeof startLocalIssuer>> | undefined;
  let stopRecovery: (() => Promise<void>) | undefined;
  let consoleServer: ConsoleServer | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      stopping = true;
      await stopRecovery?.().catch(() => undefined);
      if (api) await stopChild(api, 'SIGINT');
      await consoleServer?.close().catch(() => undefined);
      await issuer?.close().catch(() => undefined);
      if (s3) await stopChild(s3, 'SIGTERM');
      removeStackFile(o.dataDir, instanceId);
      await Promise.all([apiLog.close(), s3Log.close()]);
    })());

  try {
    s3 = await startS3Server(o.s3Port, path.join(o.dataDir, 's3'), BUCKETS, 'pipe');
    s3Log.attach(s3);
    issuer = await startLocalIssuer({ dataDir: o.dataDir, port: issuerPort });
    const s3Endpoint = `http://127.0.0.1:${o.s3Port}`;
    const snsEndpoint = `http://127.0.0.1:${o.snsPort}`;
    const args = [
      // per handler thread; in-process, one heap serves every function at once, so V8's default applies
      ...(o.inProcess ? [] : [`--max-old-space-size=${HANDLER_HEAP_MB}`]),
      '--require',
      path.join(__dirname, 'offline-preload.js'),
      path.join(ROOT, 'node_modules/serverless/bin/serverless.js'),
      'offline',
      'start',
      '--stage',
      'local',
      '--httpPort',
      String(o.port),
      '--lambdaPort',
      String(o.port + 2),
      '--websocketPort',
      String(o.port + 1),
      ...(o.inProcess ? ['--useInProcess'] : []),
    ];
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      SLS_DEPRECATION_DISABLE: '*',
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'LOCAL',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'LOCAL',
      TRIBUTARY_RUNTIME: 'local',
      DATA_DIR: o.dataDir,
      S3_ENDPOINT: s3Endpoint,
      SNS_ENDPOINT: snsEndpoint,
      SNS_PORT: String(o.snsPort),
      OIDC_ISSUER: issuer.issuer,
      OIDC_JWKS_URI: issuer.jwksUri,
      ...o.env,
      TRIBUTARY_INSTANCE_ID: instanceId,
    };
    quietAwsSdkNotice(env);
    api = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], detached: true });
    apiLog.attach(api);
    const timeout = o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_SEC * 1000;
    await waitForApi(`http://127.0.0.1:${o.port}/fhir/metadata`, instanceId, timeout, api, apiLog, names.port, o.port);
    await waitForPort(snsEndpoint, 15_000, 'the SNS endpoint (serverless-offline-sns)');
    if (s3.exitCode !== null || s3.signalCode !== null) throw new StartError('the S3 server exited while the API was starting');
    const recoveryEvery = o.recoveryIntervalSec ?? DEFAULT_RECOVERY_INTERVAL_SEC;
    if (recoveryEvery >= 0) stopRecovery = await startRecovery(env, recoveryEvery, o.recoveryLeaseSec, apiLog);
    consoleServer = await startConsoleServer({ port: consolePort, apiPort: o.port, issuer: issuer.issuer, assets: path.join(ROOT, 'dist', 'console') });

    const info: StackInfo = {
      version: 1,
      instanceId,
      pid: process.pid,
      processes: { api: api.pid!, s3: s3.pid! },
      apiBaseUrl: `http://localhost:${o.port}/fhir`,
      s3Endpoint,
      snsEndpoint,
      issuer: issuer.issuer,
      jwksUri: issuer.jwksUri,
      dataDir: o.dataDir,
      logs: { api: logFile, s3: s3Log.file },
      startedAt: new Date().toISOString(),
    };
    const file = writeStackFile(info);
    const children: [ChildProcess, string, ChildLog][] = [
      [api, 'API (serverless-offline)', apiLog],
      [s3, 'S3 server (s3rver)', s3Log],
    ];
    const exited = new Promise<ChildExit>((resolve) => {
      for (const [child, name, log] of children) {
        child.once('exit', (code, signal) => {
          if (!stopping) resolve({ name, code, signal, logFile: log.file, tail: log.tail() });
        });
      }
    });
    return { baseUrl: info.apiBaseUrl, s3Endpoint, snsEndpoint, issuer: issuer.issuer, consoleUrl: consoleServer.url, logFile, instanceId, info, stackFile: file, exited, stop };
  } catch (err) {
    const tails =
      err instanceof StartError
        ? `\nLast lines of ${apiLog.file}:\n${apiLog.tail()}${s3 && s3.exitCode !== null ? `\nLast lines of ${s3Log.file}:\n${s3Log.tail()}` : ''}`
        : '';
    await stop();
    if (err instanceof StartError) throw new StartError(`${err.message}${tails}`);
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new PortError(`port ${issuerPort} (${names.issuerPort}) is in use by another program`, names.issuerPort);
    throw err;
  }
}

const HELP = `usage: npm start

Starts Tributary's local stack on 127.0.0.1 and prints its URLs; Ctrl-C stops it. Settings (environment):
  PORT=3000          the API (http://localhost:PORT/fhir); PORT+1 and PORT+2 must be free too
  S3_PORT=4569       the local S3 server (s3rver)
  SNS_PORT=4002      the local SNS endpoint
  ISSUER_PORT=3099   the local OIDC issuer (tokens: npm run token -- --source <name>)
  CONSOLE_PORT=3098  the web console (http://127.0.0.1:CONSOLE_PORT/, sign in with the development login)
  DATA_DIR=.data     where everything is stored; the running stack's endpoints go to DATA_DIR/stack.json,
                     which every other command reads (a second terminal needs no variables)
  START_TIMEOUT=120  seconds to wait for the API
  RECOVERY_INTERVAL=60  seconds between passes of the commit recovery (docs/commit-protocol.md); 0 = at start only
  IN_PROCESS=1       run handlers in the serverless-offline process instead of worker threads
  VERBOSE=1          show the API's and the S3 server's output here (else DATA_DIR/logs/api.log, s3.log)
Exits non-zero, naming the setting to change, when a port is taken; and when any part of the stack stops.
See docs/operations.md.
`;

async function main(): Promise<void> {
  if (wantsHelp(process.argv.slice(2))) {
    process.stdout.write(HELP);
    return;
  }
  const env = process.env;
  const dataDir = dataDirOf(env);
  const timeoutSec = Number(env.START_TIMEOUT || DEFAULT_READY_TIMEOUT_SEC);
  if (!(timeoutSec > 0)) throw new StartError(`START_TIMEOUT=${env.START_TIMEOUT} is not a number of seconds`);
  const t0 = Date.now();
  const stack = await startStack({
    port: portSetting(env, 'PORT', 3000),
    s3Port: portSetting(env, 'S3_PORT', 4569),
    snsPort: portSetting(env, 'SNS_PORT', 4002),
    issuerPort: portSetting(env, 'ISSUER_PORT', 3099),
    consolePort: portSetting(env, 'CONSOLE_PORT', 3098),
    dataDir,
    inProcess: env.IN_PROCESS === '1',
    quiet: env.VERBOSE !== '1',
    readyTimeoutMs: timeoutSec * 1000,
    recoveryIntervalSec: env.RECOVERY_INTERVAL !== undefined ? Number(env.RECOVERY_INTERVAL) : undefined,
  });
  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await stack.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => {
    console.log('\nStopping Tributary…');
    void shutdown(0);
  });
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGHUP', () => void shutdown(0)); // the terminal was closed
  void stack.exited.then((e) => {
    if (stopping) return;
    const how = e.signal ? `was killed (${e.signal})` : `exited with code ${e.code}`;
    console.error(`\nTributary stopped: the ${e.name} ${how}; stopping the rest.\nLast lines of ${e.logFile}:\n${e.tail}`);
    void shutdown(1);
  });
  const rel = (f: string): string => (f.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), f) : f);
  console.log(`Tributary local stack (data in ${dataDir})`);
  console.log(`  S3 (s3rver):        ${stack.s3Endpoint}`);
  console.log(`  SNS endpoint:       ${stack.snsEndpoint}`);
  console.log(`  OIDC issuer (JWKS): ${stack.issuer}   tokens: npm run token -- --source <name> --scope "system/*.cu"`);
  if (env.VERBOSE !== '1') console.log(`  Logs:               ${rel(stack.logFile)}, ${rel(stack.info.logs.s3)} (VERBOSE=1 prints them here)`);
  console.log(`  Endpoints file:     ${rel(stack.stackFile)} (read by npm run triage, reidentify, compact, etl-replay, query, audit:verify, token)`);
  console.log(`  Console:            ${stack.consoleUrl}   (development login; docs/console.md)`);
  console.log(`Tributary is ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${stack.baseUrl}`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`npm start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
