import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cacheFlags, loadWithCodeCache } from '../../src/lib/code-cache';

const LOADER = path.resolve(__dirname, '../../dist/src/lib/code-cache.js');

describe('loadWithCodeCache (V8 code cache of a generated module)', () => {
  let dir: string;
  let file: string;
  let cacheDir: string;
  const moduleText = (v: string) => `const sep = require('node:path').sep;\nmodule.exports = { value: () => '${v}', sep, file: __filename, dir: __dirname };\n`;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-code-cache-'));
    file = path.join(dir, 'gen.js');
    cacheDir = path.join(dir, 'cache');
    fs.writeFileSync(file, moduleText('A'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  type Gen = { value: () => string; sep: string; file: string; dir: string };

  /**
   * A load in a fresh process (of the built loader, dist/: \`npm test\` builds first): within one process V8's own
   * compilation cache answers a source it compiled before and never reads the cache file.
   */
  const loadInChild = (save = false, writeAfterMs = 0): { cache: string; value: string } =>
    JSON.parse(
      execFileSync(
        process.execPath,
        [
          '-e',
          'const r = require(process.argv[1]).loadWithCodeCache(process.argv[2], { cacheDir: process.argv[3], writeAfterMs: Number(process.argv[5]) }); const value = r.exports.value(); if (process.argv[4]) r.saveCache(); setTimeout(() => console.log(JSON.stringify({ cache: r.cache, value })), Number(process.argv[5]) > 0 ? 300 : 0)',
          LOADER,
          file,
          cacheDir,
          save ? '1' : '',
          String(writeAfterMs),
        ],
        { encoding: 'utf8' },
      ),
    ) as { cache: string; value: string };

  test('loads as CommonJS (require, __filename, __dirname); a saved cache is used by the next load', () => {
    const first = loadWithCodeCache<Gen>(file, { cacheDir, writeAfterMs: 0 });
    expect(first.cache).toBe('absent');
    expect(first.exports.value()).toBe('A');
    expect(first.exports.sep).toBe(path.sep);
    expect([first.exports.file, first.exports.dir]).toEqual([file, dir]);
    expect(fs.existsSync(first.cacheFile)).toBe(false);
    expect(first.saveCache()).toBe(true);
    expect(fs.statSync(first.cacheFile).size).toBeGreaterThan(0);
    expect(loadInChild()).toEqual({ cache: 'used', value: 'A' });
  });

  test('a changed module of the same length runs its new code (the cache is named by content: V8 checks only the length)', () => {
    expect(loadInChild(true)).toEqual({ cache: 'absent', value: 'A' });
    expect(loadInChild()).toEqual({ cache: 'used', value: 'A' });
    fs.writeFileSync(file, moduleText('B'));
    expect(loadInChild()).toEqual({ cache: 'absent', value: 'B' });
  });

  test('a cache V8 refuses (corrupt, or made under other flags) is ignored and left alone: the module compiles and works', () => {
    const first = loadWithCodeCache<Gen>(file, { cacheDir, writeAfterMs: 0 });
    first.saveCache();
    fs.writeFileSync(first.cacheFile, Buffer.alloc(4096, 7));
    expect(loadInChild()).toEqual({ cache: 'rejected', value: 'A' });
    // and not replaced by the timer: a refused cache may be another kind of process's (V8 flags from NODE_OPTIONS)
    expect(loadInChild(false, 20)).toEqual({ cache: 'rejected', value: 'A' });
    expect(fs.readFileSync(first.cacheFile).equals(Buffer.alloc(4096, 7))).toBe(true);
  });

  test('with no cache, one is written after writeAfterMs; an unwritable folder is no error', async () => {
    const loaded = loadWithCodeCache<Gen>(file, { cacheDir, writeAfterMs: 20 });
    await new Promise((r) => setTimeout(r, 300));
    expect(fs.existsSync(loaded.cacheFile)).toBe(true);
    const blocked = path.join(dir, 'a-file');
    fs.writeFileSync(blocked, '');
    const nowhere = loadWithCodeCache<Gen>(file, { cacheDir: path.join(blocked, 'cache'), writeAfterMs: 0 });
    expect(nowhere.saveCache()).toBe(false);
    expect(nowhere.exports.value()).toBe('A');
  });

  test('the cache is named by V8 flags only, not by the code of -e or profiling options', () => {
    expect(cacheFlags(['-e', 'require("x")', '--single-threaded', '--cpu-prof', '--cpu-prof-dir=/tmp/p', '--eval=1', '--heap-growing-percent=35'])).toEqual([
      '--single-threaded',
      '--heap-growing-percent=35',
    ]);
  });
});
