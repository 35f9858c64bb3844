/**
 * VersionIndex for the local stack, on disk under the data dir, shared by every process and worker thread of
 * `npm start` (serverless-offline runs handlers in worker threads). Keys are hashed into 4,096 bucket files
 * (`buckets/XYZ.jsonl`), each an append-only JSON-lines log of its keys' versions where a key's last line wins; a
 * lookup reads only the buckets of the keys asked for, so memory does not grow with the data (an in-memory copy
 * of the whole index in every worker thread made the local stack grow by about 400 bytes per stored resource per
 * thread). Commits take an exclusive lock file (O_EXCL), so the expectation check and the appends are atomic
 * across processes; a commit is first written whole to `journal.jsonl`, which the next writer re-applies if its
 * writer died half-way, so a commit is all or nothing. A `versions.jsonl` of earlier versions (one log for all
 * keys) is imported into the buckets on first use.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { VersionConflictError, type VersionIndex, type VersionRecord } from '../../core/ports';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One line of a bucket, the journal, or the legacy log. */
interface Line {
  k: string;
  v: string;
  s: string;
  t: string;
  l?: string;
  /** Commit record entries: request id, digest, aborted. */
  r?: string;
  d?: string;
  a?: 1;
}

const toLine = (key: string, r: VersionRecord): string =>
  JSON.stringify({ k: key, v: r.versionId, s: r.source, t: r.lastUpdated, l: r.lakeId, r: r.requestId, d: r.digest, a: r.aborted ? 1 : undefined });
const toRecord = (e: Line): VersionRecord => ({
  versionId: e.v,
  source: e.s,
  lastUpdated: e.t,
  ...(e.l ? { lakeId: e.l } : {}),
  ...(e.r ? { requestId: e.r } : {}),
  ...(e.d ? { digest: e.d } : {}),
  ...(e.a ? { aborted: true } : {}),
});

/** A file-backed {@link VersionIndex}. */
export class FileVersionIndex implements VersionIndex {
  private readonly buckets: string;
  private readonly lock: string;
  private readonly journal: string;
  private readonly legacy: string;
  private imported = false;
  /** The read buffer of bucket files, reused (grows to the largest bucket read). */
  private scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);

  constructor(dir: string) {
    this.buckets = path.join(dir, 'buckets');
    this.lock = path.join(dir, 'versions.lock');
    this.journal = path.join(dir, 'journal.jsonl');
    this.legacy = path.join(dir, 'versions.jsonl');
    fs.mkdirSync(this.buckets, { recursive: true });
  }

  /** The bucket file of a key (first 3 hex digits of its SHA-1). */
  private bucketOf(key: string): string {
    return path.join(this.buckets, `${createHash('sha1').update(key).digest('hex').slice(0, 3)}.jsonl`);
  }

  /**
   * The first `size` bytes of an open bucket file, in the reused {@link scratch} buffer (valid until the next read):
   * buckets are searched as bytes and only the lines found are decoded, so a lookup makes no garbage in proportion to
   * the bucket's size (buckets grow with the index; decoding them whole made the import workers' heaps grow with it).
   */
  private readBucket(fd: number, size: number): Buffer {
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, this.scratch.length * 2));
    let off = 0;
    while (off < size) {
      const n = fs.readSync(fd, this.scratch, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return this.scratch.subarray(0, off);
  }

  /** The current record of each of `keys` found in one bucket file's bytes (complete lines only). */
  private static find(bytes: Buffer, keys: readonly string[], out: Map<string, VersionRecord>): void {
    for (const key of keys) {
      const prefix = Buffer.from(`{"k":${JSON.stringify(key)},`, 'utf8');
      let end = bytes.length;
      for (let at = bytes.lastIndexOf(prefix, end); at >= 0; at = bytes.lastIndexOf(prefix, end)) {
        if (at === 0 || bytes[at - 1] === 0x0a) {
          const nl = bytes.indexOf(0x0a, at);
          if (nl >= 0) {
            out.set(key, toRecord(JSON.parse(bytes.toString('utf8', at, nl)) as Line));
            break;
          }
        }
        if (at === 0) break;
        end = at - 1;
      }
    }
  }

  /** Reads the current records of `keys`, one read per bucket. */
  private read(keys: readonly string[]): Map<string, VersionRecord> {
    return this.readSized(keys).records;
  }

  /**
   * Reads the current records of `keys` like {@link read}, noting each bucket's size: buckets are append-only, so a
   * bucket whose size is the same later has the same records (what {@link commit} checks under its lock).
   */
  private readSized(keys: readonly string[]): { records: Map<string, VersionRecord>; buckets: Map<string, { size: number; keys: string[] }> } {
    const buckets = new Map<string, { size: number; keys: string[] }>();
    for (const k of new Set(keys)) {
      const file = this.bucketOf(k);
      const b = buckets.get(file) ?? { size: 0, keys: [] };
      b.keys.push(k);
      buckets.set(file, b);
    }
    const records = new Map<string, VersionRecord>();
    for (const [file, b] of buckets) {
      let fd: number;
      try {
        fd = fs.openSync(file, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      try {
        b.size = fs.fstatSync(fd).size;
        FileVersionIndex.find(this.readBucket(fd, b.size), b.keys, records);
      } finally {
        fs.closeSync(fd);
      }
    }
    return { records, buckets };
  }

  /** Appends lines to their buckets (grouped: one append per bucket). */
  private append(lines: { key: string; line: string }[]): void {
    const byBucket = new Map<string, string>();
    for (const { key, line } of lines) {
      const b = this.bucketOf(key);
      byBucket.set(b, (byBucket.get(b) ?? '') + line + '\n');
    }
    for (const [file, text] of byBucket) fs.appendFileSync(file, text);
  }

  private async acquire(): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        fs.closeSync(fs.openSync(this.lock, 'wx'));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        // a lock older than 30 s belongs to a crashed writer
        try {
          if (Date.now() - fs.statSync(this.lock).mtimeMs > 30_000) fs.rmSync(this.lock, { force: true });
        } catch {
          /* raced with its owner */
        }
        await sleep(Math.min(20, 1 + i));
      }
    }
  }

  /** Under the lock: finishes a commit whose writer died after journaling it; imports a legacy log once. */
  private recover(): void {
    let text = '';
    try {
      text = fs.readFileSync(this.journal, 'utf8');
    } catch {
      /* no journal */
    }
    // a journal without its final newline was never complete: nothing of it reached the buckets
    if (text.endsWith('\n')) this.append(text.split('\n').filter(Boolean).map((line) => ({ key: (JSON.parse(line) as Line).k, line })));
    if (text) fs.rmSync(this.journal, { force: true });
    if (!this.imported && fs.existsSync(this.legacy)) {
      const lines = fs.readFileSync(this.legacy, 'utf8').split('\n');
      lines.pop(); // the last piece has no newline: empty, or never completed
      this.append(lines.filter(Boolean).map((line) => ({ key: (JSON.parse(line) as Line).k, line })));
      fs.renameSync(this.legacy, `${this.legacy}.imported`);
    }
    this.imported = true;
  }

  /** Imports a legacy `versions.jsonl` before the first read, if there is one. */
  private async ensureImported(): Promise<void> {
    if (this.imported) return;
    if (!fs.existsSync(this.legacy)) {
      this.imported = true;
      return;
    }
    await this.acquire();
    try {
      this.recover();
    } finally {
      fs.rmSync(this.lock, { force: true });
    }
  }

  async get(keys: string[]): Promise<Map<string, VersionRecord>> {
    await this.ensureImported();
    return this.read(keys);
  }

  /**
   * Checks every entry's expected version and appends the new records, atomically across processes. The buckets are
   * read before the lock is taken; under it, each bucket is opened once for appending, and re-read only when its size
   * changed meanwhile (a concurrent commit appended to it), so the lock is held for a stat and an append per bucket
   * rather than a whole read: the other writers (import workers, the API's threads) wait that much less.
   */
  async commit(entries: { key: string; expected?: string; record: VersionRecord }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.ensureImported();
    const before = this.readSized(entries.map((e) => e.key));
    await this.acquire();
    const fds = new Map<string, number>();
    try {
      this.recover();
      const current = new Map<string, VersionRecord>();
      for (const [file, b] of before.buckets) {
        const fd = fs.openSync(file, 'a+');
        fds.set(file, fd);
        const size = fs.fstatSync(fd).size;
        if (size === b.size) {
          for (const k of b.keys) if (before.records.has(k)) current.set(k, before.records.get(k)!);
        } else {
          FileVersionIndex.find(this.readBucket(fd, size), b.keys, current);
        }
      }
      for (const e of entries) {
        if (current.get(e.key)?.versionId !== e.expected) throw new VersionConflictError(e.key);
      }
      const lines = entries.map((e) => ({ key: e.key, line: toLine(e.key, e.record) }));
      fs.writeFileSync(this.journal, lines.map((l) => l.line).join('\n') + '\n');
      const byBucket = new Map<string, string>();
      for (const { key, line } of lines) {
        const file = this.bucketOf(key);
        byBucket.set(file, (byBucket.get(file) ?? '') + line + '\n');
      }
      // O_APPEND: each write lands at the bucket's end
      for (const [file, text] of byBucket) fs.writeSync(fds.get(file)!, text);
      fs.rmSync(this.journal, { force: true });
    } finally {
      for (const fd of fds.values()) fs.closeSync(fd);
      fs.rmSync(this.lock, { force: true });
    }
  }
}
