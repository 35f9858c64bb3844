/**
 * `npm run build` (scripts/build.mjs) is incremental but never leaves a stale module behind: a dist/ .js (and its
 * .map) whose .ts source is gone is deleted, folders left empty go too, and compiled modules with a source stay.
 * Then, with nothing changed, the TypeScript step is skipped.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const DIST = path.join(ROOT, 'dist');

test('stale dist files are deleted, live ones kept; a second build skips tsc', () => {
  if (!fs.existsSync(path.join(DIST, 'src/config.js'))) throw new Error('dist/ missing: run `npm run build`');
  const stale = [path.join(DIST, 'src/zz-moved-away.js'), path.join(DIST, 'src/zz-moved-away.js.map'), path.join(DIST, 'src/zz-gone-dir/old.js')];
  fs.mkdirSync(path.join(DIST, 'src/zz-gone-dir'), { recursive: true });
  for (const f of stale) fs.writeFileSync(f, '// stale\n');
  const build = (): string => execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs')], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  build();
  for (const f of stale) expect([f, fs.existsSync(f)]).toEqual([f, false]);
  expect(fs.existsSync(path.join(DIST, 'src/zz-gone-dir'))).toBe(false);
  expect(fs.existsSync(path.join(DIST, 'src/config.js'))).toBe(true);
  expect(fs.existsSync(path.join(DIST, 'scripts/start.js'))).toBe(true);
  expect(build()).toContain('typescript: up to date');
});
