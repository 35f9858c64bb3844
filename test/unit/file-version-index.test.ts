/**
 * The local VersionIndex's on-disk format (src/adapters/local/file-version-index.ts; its semantics are in
 * test/contract/version-index.contract.test.ts): bucket files where a key's last complete line wins, a journal
 * that makes a commit all or nothing across a crash, and the one-time import of the earlier single log.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { loadConfig, openFileLimit } from '../../src/config';

const rec = (v: string) => ({ versionId: v, source: 'gp', lastUpdated: '2026-01-01T00:00:00Z' });
const line = (k: string, v: string) => JSON.stringify({ k, v, s: 'gp', t: '2026-01-01T00:00:00Z' });

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fvi-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const bucketFiles = (): string[] => fs.readdirSync(path.join(dir, 'buckets')).map((f) => path.join(dir, 'buckets', f));

test('keys spread over bucket files; the last complete line of a key wins; a half-written line is ignored', async () => {
  const idx = new FileVersionIndex(dir);
  const keys = Array.from({ length: 300 }, (_, i) => `Observation/${i}`);
  await idx.commit(keys.map((key) => ({ key, record: rec('1') })));
  expect(bucketFiles().filter((f) => fs.statSync(f).size > 0).length).toBeGreaterThan(200);
  await idx.commit([{ key: 'Observation/7', expected: '1', record: rec('2') }]);
  // Observation/70 shares a prefix with Observation/7 and keeps its own version
  const got = await idx.get(['Observation/7', 'Observation/70', 'Observation/999']);
  expect(got.get('Observation/7')!.versionId).toBe('2');
  expect(got.get('Observation/70')!.versionId).toBe('1');
  expect(got.has('Observation/999')).toBe(false);
  // a writer in the middle of an append: its line has no newline yet
  const file = bucketFiles().find((f) => fs.readFileSync(f, 'utf8').includes('"Observation/7"'))!;
  fs.appendFileSync(file, line('Observation/7', '3').slice(0, 20));
  expect((await idx.get(['Observation/7'])).get('Observation/7')!.versionId).toBe('2');
});

test('a key lives in the bucket named by the first three hex digits of its SHA-1 (the layout an existing data dir has)', async () => {
  const idx = new FileVersionIndex(dir);
  await idx.commit([{ key: 'Patient/abc', record: rec('1') }]);
  // sha1('Patient/abc') = 0ebe90…, written down rather than computed, so a change of the hash moves no bucket unnoticed
  const bucket = path.join(dir, 'buckets', '0eb.jsonl');
  expect(fs.readFileSync(bucket, 'utf8')).toContain('"k":"Patient/abc"');
  expect(bucketFiles().filter((f) => fs.statSync(f).size > 0)).toEqual([bucket]);
});

test('a journal left by a writer that died half-way is applied by the next commit; an incomplete one is dropped', async () => {
  const idx = new FileVersionIndex(dir);
  fs.writeFileSync(path.join(dir, 'journal.jsonl'), `${line('Patient/a', '1')}\n${line('Patient/b', '1')}\n`);
  await idx.commit([{ key: 'Patient/c', record: rec('1') }]);
  expect([...(await idx.get(['Patient/a', 'Patient/b', 'Patient/c'])).keys()].sort()).toEqual(['Patient/a', 'Patient/b', 'Patient/c']);
  expect(fs.existsSync(path.join(dir, 'journal.jsonl'))).toBe(false);

  fs.writeFileSync(path.join(dir, 'journal.jsonl'), `${line('Patient/d', '1')}\n${line('Patient/e', '1').slice(0, 15)}`);
  await idx.commit([{ key: 'Patient/f', record: rec('1') }]);
  expect([...(await idx.get(['Patient/d', 'Patient/e', 'Patient/f'])).keys()]).toEqual(['Patient/f']);
});

test('an index written as one versions.jsonl (earlier versions) is imported on first use', async () => {
  fs.writeFileSync(path.join(dir, 'versions.jsonl'), [line('Patient/1', '1'), line('Patient/1', '2'), line('Patient/2', '1'), line('Patient/3', '1').slice(0, 10)].join('\n'));
  const idx = new FileVersionIndex(dir);
  const got = await idx.get(['Patient/1', 'Patient/2', 'Patient/3']);
  expect(got.get('Patient/1')!.versionId).toBe('2');
  expect(got.get('Patient/2')!.versionId).toBe('1');
  expect(got.has('Patient/3')).toBe(false);
  expect(fs.existsSync(path.join(dir, 'versions.jsonl'))).toBe(false);
  expect(fs.existsSync(path.join(dir, 'versions.jsonl.imported'))).toBe(true);
  // a second instance (another worker thread) sees the same, without importing twice
  const other = new FileVersionIndex(dir);
  await other.commit([{ key: 'Patient/1', expected: '2', record: rec('3') }]);
  expect((await idx.get(['Patient/1'])).get('Patient/1')!.versionId).toBe('3');
});

test('a commit whose buckets changed between its read and its lock sees the change: concurrent creates of one key, one wins', async () => {
  // two writers (as two worker threads would be) over the same folder; both read the key's bucket before either holds
  // the lock, so the second must notice the first's append (its size changed) and refuse
  const a = new FileVersionIndex(dir);
  const b = new FileVersionIndex(dir);
  for (let round = 0; round < 20; round++) {
    const key = `Organization/shared-${round}`;
    const others = Array.from({ length: 50 }, (_, i) => ({ key: `Observation/${round}-${i}`, record: rec('1') }));
    const results = await Promise.allSettled([a.commit([{ key, record: rec('1') }, ...others]), b.commit([{ key, record: rec('1') }])]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason.name).toBe('VersionConflictError');
    expect((await a.get([key])).get(key)?.versionId).toBe('1');
  }
  // every key has exactly one line: nothing of a refused commit was appended
  const text = bucketFiles().map((f) => fs.readFileSync(f, 'utf8')).join('');
  for (let round = 0; round < 20; round++) expect(text.split(`"k":"Organization/shared-${round}"`).length - 1).toBe(1);
});

test('a lookup after another writer appended reads the bucket again; a commit after a lookup checks what it read', async () => {
  // `a` remembers what it read of each bucket with the bucket's size: `b`'s appends change the size
  const a = new FileVersionIndex(dir);
  const b = new FileVersionIndex(dir);
  await a.commit([{ key: 'Patient/m1', record: rec('1') }]);
  expect((await a.get(['Patient/m1'])).get('Patient/m1')?.versionId).toBe('1');
  await b.commit([{ key: 'Patient/m1', expected: '1', record: rec('2') }]);
  expect((await a.get(['Patient/m1'])).get('Patient/m1')?.versionId).toBe('2');
  // `a` read version 2; `b` moves it on; `a`'s commit expecting 2 must be refused, and expecting 3 must land
  await b.commit([{ key: 'Patient/m1', expected: '2', record: rec('3') }]);
  await expect(a.commit([{ key: 'Patient/m1', expected: '2', record: rec('9') }])).rejects.toMatchObject({ name: 'VersionConflictError' });
  await a.commit([{ key: 'Patient/m1', expected: '3', record: rec('4') }]);
  expect((await b.get(['Patient/m1'])).get('Patient/m1')?.versionId).toBe('4');
});

test('bucket files stay open between calls, at most maxOpenFiles of them, and a removed index is read afresh', async () => {
  const openFds = (): number => fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(path.join(dir, 'buckets'));
    } catch {
      return false;
    }
  }).length;
  const idx = new FileVersionIndex(dir, { maxOpenFiles: 8 });
  const keys = Array.from({ length: 100 }, (_, i) => `Observation/fd-${i}`);
  await idx.commit(keys.map((key) => ({ key, record: rec('1') })));
  expect(openFds()).toBe(8);
  const got = await idx.get(keys);
  expect([...got.values()].every((r) => r.versionId === '1') && got.size === 100).toBe(true);
  expect(openFds()).toBe(8);
  // the data dir is removed and made again (a reset): the open descriptors hold the removed files, not the new ones
  const all = new FileVersionIndex(dir);
  expect((await all.get(keys)).size).toBe(100);
  fs.rmSync(dir, { recursive: true, force: true });
  const fresh = new FileVersionIndex(dir);
  await fresh.commit([{ key: keys[0]!, record: rec('7') }]);
  const after = await all.get(keys);
  expect(after.get(keys[0]!)?.versionId).toBe('7');
  expect(after.size).toBe(1);
});

test('the import workers keep up to 4,096 bucket files open, within half the descriptor limit; the API 256', () => {
  const limit = openFileLimit();
  expect(limit).toBeGreaterThan(0);
  if (fs.existsSync('/proc/self/limits')) {
    const soft = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1];
    expect(limit).toBe(Number(soft));
  }
  const config = loadConfig({ TRIBUTARY_RUNTIME: 'local', IMPORT_WORKERS: '2' });
  expect(config.indexOpenFiles).toBe(256);
  expect(config.bulkImport.indexOpenFiles).toBe(Math.min(4096, Math.floor(limit / 4)));
  expect(loadConfig({ TRIBUTARY_RUNTIME: 'local', IMPORT_INDEX_OPEN_FILES: '64', INDEX_OPEN_FILES: '32' })).toMatchObject({ indexOpenFiles: 32, bulkImport: { indexOpenFiles: 64 } });
});

test('a writer that died in the middle of a bucket append: recovery starts its lines on a new line, and the cut line is skipped', async () => {
  const idx = new FileVersionIndex(dir);
  await idx.commit([{ key: 'Patient/cut', record: rec('1') }]);
  // the dead writer journaled version 2, then wrote part of its line into the bucket
  const full = line('Patient/cut', '2');
  fs.writeFileSync(path.join(dir, 'journal.jsonl'), `${full}\n`);
  const file = bucketFiles().find((f) => fs.readFileSync(f, 'utf8').includes('"Patient/cut"'))!;
  fs.appendFileSync(file, full.slice(0, 30));
  // the next writer applies the journal; its lines must not run on from the cut one
  const other = new FileVersionIndex(dir);
  await other.commit([{ key: 'Patient/next', record: rec('1') }]);
  expect((await other.get(['Patient/cut'])).get('Patient/cut')?.versionId).toBe('2');
  expect((await idx.get(['Patient/cut'])).get('Patient/cut')?.versionId).toBe('2');
  await idx.commit([{ key: 'Patient/cut', expected: '2', record: rec('3') }]);
  expect((await other.get(['Patient/cut'])).get('Patient/cut')?.versionId).toBe('3');
});

describe('a commit waiting for the lock while the data dir is removed and made again (found in review)', () => {
  /** Starts a commit of Patient/1 at version 2 that waits for a held lock, then removes and remakes the data dir. */
  async function resetDuringCommit(alsoRead: boolean): Promise<{ result: string; fresh: FileVersionIndex }> {
    const a = new FileVersionIndex(dir);
    await a.commit([{ key: 'Patient/1', record: rec('1') }, { key: 'Patient/1x', record: rec('1') }]);
    await a.get(['Patient/1']);
    fs.writeFileSync(path.join(dir, 'versions.lock'), '');
    const pending = a.commit([{ key: 'Patient/1', expected: '1', record: rec('2') }]);
    await new Promise((r) => setTimeout(r, 50));
    fs.rmSync(dir, { recursive: true, force: true });
    const fresh = new FileVersionIndex(dir);
    fs.writeFileSync(path.join(dir, 'versions.lock'), '');
    // the same index read meanwhile: it drops the removed files and opens the new, empty buckets
    if (alsoRead) expect((await a.get(['Patient/1'])).size).toBe(0);
    fs.rmSync(path.join(dir, 'versions.lock'));
    const result = await pending.then(
      () => 'committed',
      (err: Error) => err.name,
    );
    return { result, fresh };
  }

  test('its expected version is checked against the new index (a conflict), nothing is written into removed files', async () => {
    const { result, fresh } = await resetDuringCommit(false);
    expect(result).toBe('VersionConflictError');
    expect((await fresh.get(['Patient/1'])).size).toBe(0);
  });

  test('after a read of the new buckets by the same index, the commit neither trusts the old sizes nor writes past the end', async () => {
    const { result, fresh } = await resetDuringCommit(true);
    expect(result).toBe('VersionConflictError');
    expect((await fresh.get(['Patient/1'])).size).toBe(0);
    for (const f of bucketFiles()) expect(fs.readFileSync(f).includes(0)).toBe(false);
  });
});
