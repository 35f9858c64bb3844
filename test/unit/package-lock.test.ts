/**
 * package-lock.json stays what `npm install` on a fresh clone writes, on every platform (issue 17):
 * - every platform binding a dependency lists as optional (DuckDB's @duckdb/node-bindings-*) is in the lock, so
 *   npm on another OS/CPU has nothing to add;
 * - the Linux bindings carry `libc` (glibc/musl), which npm >= 11.11 writes and older npm drops (npm/cli#8514,
 *   fixed by npm/cli#9025): package.json's engines ask for that npm, so an older one warns (EBADENGINE) instead
 *   of silently rewriting the lock;
 * - the lock's root entry matches package.json (name, version, engines, dependency ranges).
 * The end-to-end check (clone, `npm install`, `git status --porcelain` empty) needs the network and minutes, so
 * it is not part of `npm test`.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
type Entry = { version?: string; optional?: boolean; os?: string[]; cpu?: string[]; libc?: string[]; optionalDependencies?: Record<string, string> };
const packages: Record<string, Entry> = lock.packages;

/** Where Node finds `name` from the package at `from` (a lock key): its own node_modules, then each parent's. */
function resolve(from: string, name: string): Entry | undefined {
  let dir = from;
  for (;;) {
    const hit = packages[dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`];
    if (hit || dir === '') return hit;
    const i = dir.lastIndexOf('node_modules/');
    dir = i <= 0 ? '' : dir.slice(0, i - 1);
  }
}

test('the root entry matches package.json', () => {
  const root = packages[''] as Record<string, unknown>;
  expect(lock.lockfileVersion).toBe(3);
  expect(root.name).toBe(pkg.name);
  expect(root.version).toBe(pkg.version);
  expect(root.engines).toEqual(pkg.engines);
  expect(root.dependencies).toEqual(pkg.dependencies);
  expect(root.devDependencies).toEqual(pkg.devDependencies);
});

test('package.json asks for an npm that keeps the libc fields (>= 11.11)', () => {
  expect(pkg.engines.npm).toBe('>=11.11.0');
});

test('every optional platform binding of a locked package is locked too, with its os, cpu and (Linux) libc', () => {
  const missing: string[] = [];
  const incomplete: string[] = [];
  let bindings = 0;
  for (const [key, entry] of Object.entries(packages)) {
    for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
      const found = resolve(key, name);
      if (!found) {
        missing.push(`${name}@${range} (optional dependency of ${key || 'the root'})`);
        continue;
      }
      if (!/^@duckdb\/node-bindings-/.test(name)) continue;
      bindings++;
      if (found.version !== range || !found.optional || !found.os?.length || !found.cpu?.length) incomplete.push(name);
      if (found.os?.includes('linux') && !found.libc?.length) incomplete.push(`${name} (no libc)`);
    }
  }
  expect(missing).toEqual([]);
  expect(incomplete).toEqual([]);
  expect(bindings).toBeGreaterThanOrEqual(8); // darwin, linux (glibc, musl), win32; arm64 and x64
});
