/**
 * `npm start`: the whole local stack on 127.0.0.1, no other step needed:
 * - s3rver (a real S3-protocol server) storing under DATA_DIR/s3 (default .data/s3), with Tributary's buckets;
 * - serverless-offline serving the API at http://localhost:PORT/fhir (default 3000), which also starts
 *   serverless-offline-sns, the local SNS-protocol endpoint the SNS adapter publishes to (SNS_PORT, default 4002);
 * Prints the base URL when ready; Ctrl-C stops everything.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { startLocalIssuer } from '../src/adapters/local/issuer';

const ROOT = path.resolve(__dirname, '../..');
const BUCKETS = ['tributary-lake', 'tributary-identity', 'tributary-triage', 'tributary-audit', 'tributary-marts'];

/** Options of the local stack. */
export interface StackOptions {
  port: number;
  s3Port: number;
  snsPort: number;
  /** Port of the local OIDC issuer (JWKS); 0 picks a free one. */
  issuerPort?: number;
  dataDir: string;
  /** Extra environment for the API process. */
  env?: NodeJS.ProcessEnv;
  /** Run handlers in-process instead of worker threads (faster, less isolated). */
  inProcess?: boolean;
  quiet?: boolean;
  /** Where the API's output goes when quiet (default DATA_DIR/logs/api.log). */
  logFile?: string;
}

/** A running local stack. */
export interface Stack {
  baseUrl: string;
  s3Endpoint: string;
  snsEndpoint: string;
  issuer: string;
  logFile: string;
  stop(): Promise<void>;
}

async function waitFor(url: string, ms: number, child: ChildProcess): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`serverless offline exited with code ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${url}`);
}

/**
 * Starts the local S3-protocol server (s3rver, `scripts/s3-server.ts`) as its own process on `port`, storing under
 * `dir`, with `buckets` created; resolves once it listens.
 */
export async function startS3Server(port: number, dir: string, buckets: readonly string[], stdio: 'inherit' | 'ignore' = 'inherit'): Promise<ChildProcess> {
  fs.mkdirSync(dir, { recursive: true });
  const s3 = fork(path.join(__dirname, 's3-server.js'), [String(port), dir, ...buckets], {
    execArgv: ['--openssl-legacy-provider'],
    stdio: ['ignore', stdio, stdio, 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    s3.once('message', () => resolve());
    s3.once('exit', (code) => reject(new Error(`s3 server exited with code ${code}`)));
  });
  return s3;
}

/** Starts s3rver and serverless-offline (with the local SNS endpoint); resolves when the API answers. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const s3 = await startS3Server(o.s3Port, path.join(o.dataDir, 's3'), BUCKETS);
  const issuer = await startLocalIssuer({ dataDir: o.dataDir, port: o.issuerPort ?? 3099 });
  const s3Endpoint = `http://127.0.0.1:${o.s3Port}`;
  const snsEndpoint = `http://127.0.0.1:${o.snsPort}`;
  const args = [
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
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      SLS_TELEMETRY_DISABLED: '1',
      SLS_NOTIFICATIONS_MODE: 'off',
      SLS_DEPRECATION_DISABLE: '*',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
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
    },
    stdio: o.quiet ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
    detached: false,
  });
  let log = '';
  const logFile = o.logFile ?? path.join(o.dataDir, 'logs', 'api.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = o.quiet ? fs.createWriteStream(logFile, { flags: 'a' }) : undefined;
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-20000);
    out?.write(d);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const baseUrl = `http://localhost:${o.port}/fhir`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          child.kill('SIGKILL');
          r();
        }, 5000);
        child.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    await issuer.close().catch(() => undefined);
    if (s3.exitCode === null) {
      s3.kill('SIGTERM');
      await new Promise((r) => s3.once('exit', r));
    }
    out?.end();
  };
  try {
    await waitFor(`http://127.0.0.1:${o.port}/fhir/metadata`, 90_000, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return { baseUrl, s3Endpoint, snsEndpoint, issuer: issuer.issuer, logFile, stop };
}

async function main(): Promise<void> {
  const port = Number(process.env.PORT ?? 3000);
  const dataDir = path.resolve(process.env.DATA_DIR ?? path.join(ROOT, '.data'));
  const stack = await startStack({
    port,
    s3Port: Number(process.env.S3_PORT ?? 4569),
    snsPort: Number(process.env.SNS_PORT ?? 4002),
    issuerPort: Number(process.env.ISSUER_PORT ?? 3099),
    dataDir,
    inProcess: process.env.IN_PROCESS === '1',
    quiet: process.env.VERBOSE !== '1',
  });
  console.log(`Tributary local stack (data in ${dataDir})`);
  console.log(`  S3 (s3rver):        ${stack.s3Endpoint}`);
  console.log(`  SNS endpoint:       ${stack.snsEndpoint}`);
  console.log(`  OIDC issuer (JWKS): ${stack.issuer}   tokens: npm run token -- --source <name> --scope "system/*.cu"`);
  if (process.env.VERBOSE !== '1') console.log(`  API log:            ${stack.logFile} (VERBOSE=1 prints it here)`);
  console.log(`Tributary is ready: ${stack.baseUrl}`);
  let stopping = false;
  const shutdown = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log('\nStopping Tributary…');
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
