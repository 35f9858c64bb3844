/**
 * The running local stack's endpoints file, `{DATA_DIR}/stack.json` (default `.data/stack.json` in the project):
 * `npm start` writes it once the stack answers and removes it on a clean stop; every CLI reads it, so a second
 * terminal needs no variables whatever ports the stack uses. The data dir is `DATA_DIR` when set, else `.data`
 * in the project root (where `npm start` and `npm run …` run), the same rule for the stack and every CLI.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** The project root (this file is `scripts/` in the sources and `dist/scripts/` once built). */
export const PROJECT_ROOT = path.basename(path.resolve(__dirname, '..')) === 'dist' ? path.resolve(__dirname, '../..') : path.resolve(__dirname, '..');

/** What `npm start` writes to `stack.json`. */
export interface StackInfo {
  /** Format version of this file. */
  version: 1;
  /** Random id of this start, also served in the CapabilityStatement (`TRIBUTARY_INSTANCE_ID`). */
  instanceId: string;
  /** Process id of `npm start`'s supervisor (node dist/scripts/start.js). */
  pid: number;
  /** Child processes: the API (serverless-offline, with the local SNS endpoint) and the S3 server. */
  processes: { api: number; s3: number };
  apiBaseUrl: string;
  s3Endpoint: string;
  snsEndpoint: string;
  issuer: string;
  jwksUri: string;
  dataDir: string;
  logs: { api: string; s3: string };
  startedAt: string;
}

/** A command needs the local stack and it is not running: its message is one line meant for the user. */
export class StackDownError extends Error {
  override readonly name = 'StackDownError';
}

/** The data dir for an environment: `DATA_DIR` (resolved from the working directory) or `{project}/.data`. */
export function dataDirOf(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATA_DIR ? path.resolve(env.DATA_DIR) : path.join(PROJECT_ROOT, '.data');
}

/** Path of the endpoints file of a data dir. */
export function stackFile(dataDir: string): string {
  return path.join(dataDir, 'stack.json');
}

/** Writes the endpoints file atomically (temp file + rename), readable by the owner only. */
export function writeStackFile(info: StackInfo): string {
  const file = stackFile(info.dataDir);
  fs.mkdirSync(info.dataDir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return file;
}

/** Removes the endpoints file if it still describes `instanceId` (never another stack's file). */
export function removeStackFile(dataDir: string, instanceId: string): void {
  const info = readStackFile(dataDir);
  if (info?.instanceId === instanceId) fs.rmSync(stackFile(dataDir), { force: true });
}

/** The endpoints file of a data dir; undefined when absent or unreadable. */
export function readStackFile(dataDir: string): StackInfo | undefined {
  try {
    const info = JSON.parse(fs.readFileSync(stackFile(dataDir), 'utf8')) as StackInfo;
    return info && info.version === 1 && typeof info.apiBaseUrl === 'string' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Is a process with this id alive (and ours to signal)? */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Does something accept TCP connections at `url`'s host and port (within `ms`)? */
export function answers(url: string, ms = 2000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname, port: Number(u.port) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The running stack of a data dir, checked: the file exists, its supervisor is alive, and its S3 and SNS endpoints
 * accept connections.
 * @throws StackDownError with a one-line message otherwise.
 */
export async function runningStack(dataDir: string): Promise<StackInfo> {
  const file = stackFile(dataDir);
  const shown = file.startsWith(process.cwd() + path.sep) ? path.relative(process.cwd(), file) : file;
  const info = readStackFile(dataDir);
  if (!info) throw new StackDownError(`the local stack is not running (no ${shown}): start it with \`npm start\` in another terminal`);
  if (!isAlive(info.pid)) throw new StackDownError(`the local stack is not running (${shown} is left from pid ${info.pid}, which has exited): start it with \`npm start\``);
  for (const [name, url] of [['S3', info.s3Endpoint], ['SNS', info.snsEndpoint]] as const) {
    if (!(await answers(url))) throw new StackDownError(`the local stack (pid ${info.pid}) does not answer: its ${name} endpoint ${url} refuses connections; restart it with \`npm start\``);
  }
  return info;
}

/**
 * The environment an ops command runs with against the running local stack: the caller's environment, plus the
 * stack's data dir and endpoints, the local runtime, and token verification off (ops commands talk to the stores
 * directly; they never verify bearer tokens).
 */
export function stackEnv(info: StackInfo, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...env,
    TRIBUTARY_RUNTIME: 'local',
    DATA_DIR: info.dataDir,
    S3_ENDPOINT: info.s3Endpoint,
    SNS_ENDPOINT: info.snsEndpoint,
    AUTH: 'off',
    AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID ?? 'LOCAL',
    AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY ?? 'LOCAL',
  };
}
