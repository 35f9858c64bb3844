/**
 * Helpers of the `npm start` tests (stack-*.test.ts): run `npm start` and `npm run …` as a user does, each in its
 * own process with an environment holding only PATH, HOME and what the test gives (ports, DATA_DIR).
 * Ports: E2E_PORT + 200 and up (the suite's own stack uses E2E_PORT … E2E_PORT + 77).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
/** First port of these tests. */
export const BASE = Number(process.env.E2E_PORT || 3400) + 200;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** PATH and HOME, plus `extra`: nothing of the stack's settings. */
export function bareEnv(extra: Record<string, string | number> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, String(v)])) };
}

/** A running `npm start`. */
export interface NpmStart {
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal) when `npm start` ends. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** Resolves when "Tributary is ready" is printed; rejects if it exits first or after `ms`. */
  ready(ms?: number): Promise<void>;
  /** Ctrl-C (SIGINT to its process group), then SIGKILL after 30 s. */
  stop(): Promise<void>;
}

/** Starts `npm start` in its own process group. */
export function npmStart(env: NodeJS.ProcessEnv): NpmStart {
  const t0 = Date.now();
  const child = spawn(NPM, ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, ms: Date.now() - t0 })),
  );
  const group = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* gone */
    }
  };
  return {
    child,
    output: () => out,
    exit,
    ready: (ms = 180_000) =>
      new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (/Tributary is ready/.test(out)) {
            clearInterval(t);
            resolve();
          } else if (Date.now() - t0 > ms) {
            clearInterval(t);
            reject(new Error(`npm start not ready after ${ms / 1000} s:\n${out}`));
          }
        }, 200);
        void exit.then((e) => {
          clearInterval(t);
          reject(new Error(`npm start exited (${e.code ?? e.signal}) before it was ready:\n${out}`));
        });
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      group('SIGINT');
      const t = setTimeout(() => group('SIGKILL'), 30_000);
      await exit;
      clearTimeout(t);
    },
  };
}

/** Runs `npm run <script> -- <args>` with `env`; resolves with its exit code and output. */
export function npmRun(script: string, args: string[], env: NodeJS.ProcessEnv, ms = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(NPM, ['run', script, '--', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}
