/** `npm run import` (scripts/import.ts): the progress bar line and the files it collects. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { collectFiles, progressBar } from '../../scripts/import';

test('the bar shows done/total, percent, rate, ETA and errors in under 80 columns', () => {
  const line = progressBar({ done: 15_000, total: 36_308, refused: 2, elapsedSec: 10 });
  expect(line).toBe('[##########--------------] 15.0k/36.3k 41% 1500/s ETA 14s errors 2');
  expect(line.length).toBeLessThan(80);
  expect(progressBar({ done: 0, total: 10, refused: 0, elapsedSec: 0 })).toBe('[------------------------] 0/10 0% 0/s ETA -- errors 0');
  expect(progressBar({ done: 10, total: 10, refused: 0, elapsedSec: 125 })).toMatch(/^\[#{24}\] 10\/10 100% 0\/s ETA 0s errors 0$/);
});

test('folders give their .ndjson and .json files, sorted; files are taken as named', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-cli-'));
  for (const f of ['b.ndjson', 'a.json', 'notes.txt']) fs.writeFileSync(path.join(dir, f), '');
  expect(collectFiles([dir]).map((f) => path.basename(f))).toEqual(['a.json', 'b.ndjson']);
  expect(collectFiles([path.join(dir, 'notes.txt')])).toEqual([path.join(dir, 'notes.txt')]);
  fs.rmSync(dir, { recursive: true, force: true });
});
