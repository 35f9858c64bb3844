/**
 * Runnable documentation: finds the shell blocks of README.md and docs/*.md marked to run, and runs them with bash.
 *
 * The convention (docs/tests.md, "Runnable documentation"): a fenced code block whose info string is a shell
 * language followed by the word `runnable` (```` ```sh runnable ````) is an example a reader can paste into a second
 * terminal while `npm start` runs. GitHub renders it as an ordinary `sh` block. test/e2e/docs-examples.test.ts runs
 * every such block, in file order, against the e2e stack:
 * - each block runs in a fresh `bash -e -o pipefail` (one failing command fails the block), from the repository root;
 * - the variables a block sets are passed on to the next blocks of the same file (each file starts afresh), so a
 *   `TOKEN=$(…)` block serves the blocks after it;
 * - text is rewritten first (`localhost:3000` → the e2e API), and the environment says where the stack is;
 * - a block fails when it exits non-zero or runs past its timeout; the report names the file, the line of the
 *   opening fence, the exit status and the output.
 * Every `curl` in a runnable block must fail on an unexpected status: `-f`, `--fail`, `--fail-with-body`, or
 * `-w '%{http_code}'` with the status checked (e.g. `| grep -x 422`); {@link lintBlock} refuses a block without.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** One runnable block of a markdown file. */
export interface DocBlock {
  /** Path of the file, relative to the root it was read from (`README.md`, `docs/api.md`). */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's text (indentation of an indented fence removed), ending with a newline. */
  code: string;
}

const SHELLS = new Set(['sh', 'bash', 'shell']);
/** An opening or closing fence, at any indentation (fences inside list items are indented). */
const FENCE = /^(\s*)(`{3,}|~{3,})(.*)$/;

/**
 * The runnable blocks of a markdown text, in order: fenced blocks whose info string is `sh`, `bash` or `shell`
 * followed by the word `runnable` (CommonMark fences: a closing fence uses the same character, at least as many).
 * @throws Error when `runnable` marks a block of another language, or a runnable fence is never closed.
 */
export function extractRunnable(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n');
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = FENCE.exec(lines[i]!);
    if (!m) continue;
    const [, indent, fence, rest] = m as unknown as [string, string, string, string];
    if (fence[0] === '`' && rest.includes('`')) continue; // a backtick fence's info string has no backtick
    const info = rest.trim().split(/\s+/).filter(Boolean);
    let end = i + 1;
    while (end < lines.length) {
      const c = FENCE.exec(lines[end]!);
      if (c && c[2]![0] === fence[0] && c[2]!.length >= fence.length && c[3]!.trim() === '') break;
      end++;
    }
    if (info.slice(1).includes('runnable')) {
      if (!SHELLS.has(info[0] ?? '')) throw new Error(`${file}:${i + 1}: "runnable" marks a ${info[0] ?? 'plain'} block; only sh, bash or shell blocks run`);
      if (end >= lines.length) throw new Error(`${file}:${i + 1}: runnable block is never closed`);
      const body = lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent.length, l.length - l.trimStart().length)));
      out.push({ file, line: i + 1, code: body.join('\n') + '\n' });
    }
    i = end;
  }
  return out;
}

/**
 * Problems that would let a broken example pass unnoticed: a `curl` that neither fails on an HTTP error status
 * (`-f`, `--fail`, `--fail-with-body`) nor writes the status (`-w '%{http_code}'`) for the block to check.
 */
export function lintBlock(block: DocBlock): string[] {
  const problems: string[] = [];
  // join continuation lines, then look at each command that starts with curl
  const joined = block.code.replace(/\\\n/g, ' ');
  for (const command of joined.split(/\n|\||&&|;|\$\(/)) {
    if (!/(^|\s)curl\s/.test(command)) continue;
    const fails = /(^|\s)(--fail|--fail-with-body)(\s|$)/.test(command) || /(^|\s)-[a-zA-Z]*f[a-zA-Z]*(\s|$)/.test(command);
    const status = command.includes('%{http_code}');
    if (!fails && !status) problems.push(`${block.file}:${block.line}: curl without --fail or -w '%{http_code}': a wrong status would pass (${command.trim().slice(0, 80)})`);
  }
  return problems;
}

/** README.md, then docs/*.md in name order, relative to `root` (those that exist). */
export function docFiles(root: string): string[] {
  const docs = path.join(root, 'docs');
  const inDocs = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', ...inDocs].filter((f) => fs.existsSync(path.join(root, f)));
}

/** Every runnable block of the documentation under `root`, in file order. */
export function collectBlocks(root: string, files: readonly string[] = docFiles(root)): DocBlock[] {
  return files.flatMap((f) => extractRunnable(fs.readFileSync(path.join(root, f), 'utf8'), f));
}

/** How to run the blocks. */
export interface RunOptions {
  /** Working directory of every block (the repository root). */
  cwd: string;
  /** Environment of the first block of each file. */
  env: Record<string, string | undefined>;
  /** Text replacements applied to each block before it runs (e.g. `localhost:3000` → the e2e port). */
  rewrites?: readonly [string | RegExp, string][];
  /** Per block, in ms (default 180 s). */
  timeoutMs?: number;
  /** A reason to skip a block (e.g. it reads ../shared and there is none), or undefined to run it. */
  skip?: (block: DocBlock) => string | undefined;
  /** Called after each block (progress). */
  onResult?: (result: BlockResult) => void;
}

/** What running one block gave. */
export interface BlockResult {
  block: DocBlock;
  status: 'passed' | 'failed' | 'skipped';
  /** Exit code (null when killed). */
  exitCode: number | null;
  timedOut: boolean;
  /** stdout and stderr, interleaved as they came. */
  output: string;
  ms: number;
  reason?: string;
}

/** Variables a block may not pass on to the next one. */
const NOT_CARRIED = new Set(['_', 'PWD', 'OLDPWD', 'SHLVL', 'BASH_EXECUTION_STRING']);

function parseEnv(dump: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of dump.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!NOT_CARRIED.has(name)) env[name] = entry.slice(eq + 1);
  }
  return env;
}

function rewrite(code: string, rewrites: RunOptions['rewrites']): string {
  let out = code;
  for (const [from, to] of rewrites ?? []) out = typeof from === 'string' ? out.split(from).join(to) : out.replace(from, to);
  return out;
}

/** Runs one block's text with bash; resolves to its exit code, output and the environment it leaves. */
function runBash(
  code: string,
  env: Record<string, string | undefined>,
  cwd: string,
  timeoutMs: number,
): Promise<{ exitCode: number | null; output: string; env?: Record<string, string>; timedOut: boolean }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-docs-'));
  const script = path.join(dir, 'block.sh');
  const state = path.join(dir, 'env');
  // `set -a` exports every variable the block sets, so `env -0` at the end sees them
  fs.writeFileSync(script, `set -a\n${code}\nset +a\nenv -0 > '${state}'\n`);
  return new Promise((resolve) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-e', '-o', 'pipefail', script], {
      cwd,
      env: env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (output += d.toString('utf8')));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL'); // the whole process group: curl, npm and node children included
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      const left = exitCode === 0 && fs.existsSync(state) ? parseEnv(fs.readFileSync(state, 'utf8')) : undefined;
      fs.rmSync(dir, { recursive: true, force: true });
      resolve({ exitCode, output, timedOut, ...(left ? { env: left } : {}) });
    });
  });
}

/**
 * Runs the blocks in order. Each file starts from `options.env`; the variables a passing block sets are passed to the
 * next blocks of its file. Every block runs, even after a failure (a failed block passes nothing on).
 */
export async function runBlocks(blocks: readonly DocBlock[], options: RunOptions): Promise<BlockResult[]> {
  const results: BlockResult[] = [];
  let file: string | undefined;
  let env: Record<string, string | undefined> = options.env;
  for (const block of blocks) {
    if (block.file !== file) {
      file = block.file;
      env = { ...options.env };
    }
    const start = Date.now();
    const reason = options.skip?.(block);
    let result: BlockResult;
    if (reason !== undefined) {
      result = { block, status: 'skipped', exitCode: null, timedOut: false, output: '', ms: 0, reason };
    } else {
      const problems = lintBlock(block);
      if (problems.length > 0) {
        result = { block, status: 'failed', exitCode: null, timedOut: false, output: problems.join('\n'), ms: 0, reason: 'lint' };
      } else {
        const r = await runBash(rewrite(block.code, options.rewrites), env, options.cwd, options.timeoutMs ?? 180_000);
        if (r.env) env = { ...options.env, ...r.env };
        const ok = r.exitCode === 0 && !r.timedOut;
        result = { block, status: ok ? 'passed' : 'failed', exitCode: r.exitCode, timedOut: r.timedOut, output: r.output, ms: Date.now() - start };
      }
    }
    results.push(result);
    options.onResult?.(result);
  }
  return results;
}

/** A failed block as a report: where it is, why it failed, the block and the end of its output. */
export function formatFailure(r: BlockResult, maxOutputLines = 40): string {
  const why = r.reason === 'lint' ? 'refused' : r.timedOut ? 'timed out' : `exited ${r.exitCode}`;
  const out = r.output.trimEnd().split('\n');
  const tail = out.length > maxOutputLines ? ['…', ...out.slice(-maxOutputLines)] : out;
  return [
    `${r.block.file}:${r.block.line}: runnable example ${why}`,
    r.block.code.trimEnd().replace(/^/gm, '  | '),
    '  output:',
    tail.join('\n').replace(/^/gm, '  > '),
  ].join('\n');
}
