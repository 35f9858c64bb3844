// Builds the web console (console/src, Preact + uPlot) into dist/console: type-checked by tsc, bundled by esbuild: one JS bundle, one CSS file,
// index.html. Everything is bundled: the console fetches nothing from the internet at run time. Skips when the
// output is newer than every input (the main build calls it on every run).
import { execFileSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'console');
const out = path.join(root, 'dist', 'console');

function newest(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n = Math.max(n, e.isDirectory() ? newest(p) : fs.statSync(p).mtimeMs);
  }
  return n;
}

const stamp = path.join(out, 'app.js');
if (fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs > Math.max(newest(src), fs.statSync(path.join(root, 'package-lock.json')).mtimeMs)) {
  console.log('console: up to date');
} else {
  fs.mkdirSync(out, { recursive: true });
  // esbuild does not type-check: tsc does (strict, DOM types; console/tsconfig.json)
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(src, 'tsconfig.json')], { stdio: 'inherit' });
  await esbuild.build({
    entryPoints: [path.join(src, 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    sourcemap: true,
    format: 'iife',
    target: ['chrome110', 'firefox110', 'safari16'],
    outfile: stamp,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    loader: { '.css': 'css' },
    logLevel: 'warning',
  });
  fs.copyFileSync(path.join(src, 'index.html'), path.join(out, 'index.html'));
  console.log('console: built dist/console');
}
