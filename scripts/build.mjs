// `npm run build`: code generation (ahead-of-time validators), then the TypeScript compile (type-checks everything).
// Incremental: each generator skips when its output is newer than its inputs; tsc is skipped when no TypeScript
// input (a .ts file or folder under src, scripts, bench, test, types; tsconfig.json, package-lock.json) changed
// since the last successful compile (dist/.build-stamp), and otherwise runs with --incremental (dist/.tsbuildinfo).
// A build with no source change takes about a second. A module moved or deleted in src/
// must not live on as a stale .js that `require` still finds: after tsc, every dist/**/*.js (and .js.map) whose
// .ts source no longer exists is deleted. `npm run build -- --clean` starts from an empty dist/.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

if (process.argv.includes('--clean')) fs.rmSync(dist, { recursive: true, force: true });
run(process.execPath, ['scripts/gen-schema-validator.mjs']);
run(process.execPath, ['scripts/gen-profile-validator.mjs']);
const stamp = path.join(dist, '.build-stamp');

/** Newest mtime of the TypeScript inputs (files and folders: a deleted file changes its folder's mtime). */
function newestInput() {
  let newest = 0;
  const visit = (p) => {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      return;
    }
    newest = Math.max(newest, st.mtimeMs);
    if (!st.isDirectory()) return;
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) visit(path.join(p, e.name));
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(path.join(p, e.name)).mtimeMs);
    }
  };
  for (const d of ['src', 'scripts', 'bench', 'test', 'types']) visit(path.join(root, d));
  for (const f of ['tsconfig.json', 'package-lock.json']) visit(path.join(root, f));
  return newest;
}

const stampTime = fs.existsSync(stamp) ? fs.statSync(stamp).mtimeMs : 0;
if (stampTime > 0 && newestInput() < stampTime && !process.argv.includes('--force')) {
  console.log('typescript: up to date');
} else {
  const started = new Date();
  run(process.execPath, [
    path.join(root, 'node_modules/typescript/bin/tsc'),
    '-p',
    'tsconfig.json',
    '--incremental',
    '--tsBuildInfoFile',
    path.join(dist, '.tsbuildinfo'),
  ]);
  // stamped with the time the compile STARTED: an edit made while tsc ran is seen by the next build
  fs.writeFileSync(stamp, `${started.toISOString()}\n`);
  fs.utimesSync(stamp, started, started);
}

/** Deletes dist/**\/*.js(.map) without a .ts source (rootDir is the project root) and the folders left empty. */
function removeStale(dir) {
  let left = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (full === path.join(dist, 'console')) {
        left++; // the web console's bundle (scripts/build-console.mjs), not compiled from .ts
        continue;
      }
      if (removeStale(full) === 0) fs.rmdirSync(full);
      else left++;
      continue;
    }
    const m = /^(.*)\.js(\.map)?$/.exec(entry.name);
    const source = m && path.join(root, path.relative(dist, dir), `${m[1]}.ts`);
    if (source && !fs.existsSync(source)) fs.rmSync(full);
    else left++;
  }
  return left;
}
if (fs.existsSync(dist)) removeStale(dist);
// the web console (console/src → dist/console), bundled by esbuild
run(process.execPath, ['scripts/build-console.mjs']);
// the V8 code cache of the schema validator for the import runner's flags (src/lib/code-cache.ts): its workers then
// compile the 6 MB module from the cache from the first job on; best effort (a failure only means no cache)
try {
  const { RUNNER_NODE_FLAGS } = createRequire(import.meta.url)(path.join(dist, 'src/adapters/local/import-launcher.js'));
  run(process.execPath, [...RUNNER_NODE_FLAGS, path.join(dist, 'scripts/warm-code-cache.js')]);
} catch (err) {
  console.warn(`schema validator code cache: not written (${err.message})`);
}
