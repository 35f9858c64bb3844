/**
 * The child processes of the local stack (scripts/start.ts): a child's output kept in its log file and in
 * memory ({@link ChildLog}), and how a child is waited for and stopped (its whole process group).
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** Lines of a child's log printed when it dies. */
const TAIL_LINES = 30;

/** A child's output: appended to its log file, kept in memory (last lines), and shown unless quiet. */
export class ChildLog {
  private text = '';
  private readonly out: fs.WriteStream;
  constructor(
    readonly file: string,
    private readonly echo?: NodeJS.WriteStream,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    this.out = fs.createWriteStream(file, { flags: 'a' });
  }
  /** Takes `child`'s stdout and stderr: appended to the log file, kept (the last 20,000 characters), echoed. */
  attach(child: ChildProcess): void {
    const keep = (d: Buffer): void => {
      this.text = (this.text + d.toString()).slice(-20000);
      this.out.write(d);
      this.echo?.write(d);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }
  /** Appends a line of our own to the log file (not kept, not echoed). */
  note(line: string): void {
    this.out.write(line + '\n');
  }
  /** The last `n` non-blank lines kept, indented, for an error message. */
  tail(n = TAIL_LINES): string {
    const lines = this.text.split('\n').filter((l) => l.trim());
    return lines.length ? lines.slice(-n).map((l) => `  ${l}`).join('\n') : '  (nothing was logged)';
  }
  /** Whether the output kept contains `s`. */
  contains(s: string): boolean {
    return this.text.includes(s);
  }
  /** Closes the log file; resolves once it is flushed. */
  close(): Promise<void> {
    return new Promise((r) => this.out.end(r));
  }
}

/** Resolves when `child` has exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Stops a child (its process group): `signal`, then SIGKILL after `ms`. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, ms = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
  const kill = (s: NodeJS.Signals): void => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      child.kill(s);
    }
  };
  kill(signal);
  const t = setTimeout(() => kill('SIGKILL'), ms);
  await exitOf(child);
  clearTimeout(t);
}
