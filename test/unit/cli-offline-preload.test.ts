/**
 * The memory fix of scripts/offline-preload.ts, on serverless-offline's own WorkerThreadRunner (the runner
 * `npm start` uses): without the preload every invocation leaves one open MessagePort in the main thread (whose
 * listener keeps that invocation's event, request body included); with it, none is left, and every invocation
 * still gets its own answer. Counted with process.getActiveResourcesInfo(), not timed: the memory figure is in
 * `npm run soak` (bench/soak.ts, docs/operations.md).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(__dirname, '../..');
const PRELOAD = path.join(ROOT, 'dist/scripts/offline-preload.js');
const RUNNER = path.join(ROOT, 'node_modules/serverless-offline/src/lambda/handler-runner/worker-thread-runner/WorkerThreadRunner.js');
const N = 25;

let dir: string;
beforeAll(() => {
  if (!fs.existsSync(PRELOAD)) throw new Error('dist/scripts/offline-preload.js missing: run `npm run build`');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'offline-preload-'));
  fs.writeFileSync(path.join(dir, 'handler.js'), 'exports.h = async (event) => ({ statusCode: 200, body: event.body.slice(0, 8) + ":" + event.body.length });\n');
  fs.writeFileSync(
    path.join(dir, 'run.mjs'),
    `import WorkerThreadRunner from ${JSON.stringify(pathToFileURL(RUNNER).href)};
const dir = ${JSON.stringify(dir)};
const runner = new WorkerThreadRunner({ codeDir: dir, functionKey: 'h', handler: 'handler.h', servicePath: dir, timeout: 30000 }, { PATH: process.env.PATH });
const answers = [];
for (let i = 0; i < ${N}; i++) answers.push((await runner.run({ body: String(i).padStart(8, '0') + 'x'.repeat(100000) }, {})).body);
await new Promise((r) => setTimeout(r, 100));
const ports = process.getActiveResourcesInfo().filter((r) => r === 'MessagePort').length;
await runner.cleanup();
console.log(JSON.stringify({ answers, ports }));
`,
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(preload: boolean): { answers: string[]; ports: number } {
  const r = spawnSync(process.execPath, [...(preload ? ['--require', PRELOAD] : []), path.join(dir, 'run.mjs')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const expected = Array.from({ length: N }, (_, i) => `${String(i).padStart(8, '0')}:100008`);

test('control: serverless-offline alone keeps one MessagePort per invocation', () => {
  const r = run(false);
  expect(r.answers).toEqual(expected);
  expect(r.ports).toBe(N);
});

test('with the preload: no MessagePort left, every invocation answered with its own result', () => {
  const r = run(true);
  expect(r.answers).toEqual(expected);
  expect(r.ports).toBe(0);
});
