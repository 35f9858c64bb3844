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
 *
 * Cost per bucket touched (a 1,000-resource import chunk touches about 900): the bucket files are created once with
 * the index and kept open (up to `maxOpenFiles`), and what a read found is remembered with the bucket's size, so a
 * lookup of a key seen before is a two-byte read at that size's last byte (one found: the bucket is as it was), and
 * a commit after the lookup of its keys reads nothing again; under the lock it makes the same read of each bucket
 * and appends. An fstat a call (and one under the lock) checks the open files are still the index's (a removed dir).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { VersionConflictError, type VersionIndex, type VersionRecord } from '../../core/ports';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SHA-1 of a key: one-shot `crypto.hash` (Node ≥ 20.12; 0.6 against 1.4 µs a key here) where there is one. */
const sha1: (key: string) => Buffer =
  typeof crypto.hash === 'function' ? (key) => crypto.hash('sha1', key, 'buffer') : (key) => crypto.createHash('sha1').update(key).digest();

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
/** A bucket line, or undefined when it is not JSON (cut short by a writer that died in the middle of an append). */
function parseLine(text: string): Line | undefined {
  try {
    return JSON.parse(text) as Line;
  } catch {
    return undefined;
  }
}

const toRecord = (e: Line): VersionRecord => ({
  versionId: e.v,
  source: e.s,
  lastUpdated: e.t,
  ...(e.l ? { lakeId: e.l } : {}),
  ...(e.r ? { requestId: e.r } : {}),
  ...(e.d ? { digest: e.d } : {}),
  ...(e.a ? { aborted: true } : {}),
});

/** What was last read of one bucket file: its size then, and the current record (or none) of the keys looked up. */
interface Seen {
  size: number;
  records: Map<string, VersionRecord | null>;
}

/** Options of a {@link FileVersionIndex}. */
export interface FileVersionIndexOptions {
  /** Bucket files kept open between calls (default 4,096: all of them); more are opened and closed as needed. */
  maxOpenFiles?: number;
  /** Keys whose last-read record is remembered with its bucket's size (default 8,000: a chunk's lookups and commit). */
  maxSeenKeys?: number;
}

/** A file-backed {@link VersionIndex}. */
export class FileVersionIndex implements VersionIndex {
  private readonly buckets: string;
  /** Bucket file paths by bucket number, made on first use. */
  private readonly bucketFiles: string[] = new Array<string>(4096);
  private readonly lock: string;
  private readonly journal: string;
  private readonly legacy: string;
  private imported = false;
  /** The read buffer of bucket files, reused (grows to the largest bucket read). */
  private scratch: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  /** Two bytes read at a bucket's known end ({@link unchanged}). */
  private readonly probe: Buffer = Buffer.allocUnsafeSlow(2);
  /** Bumped when {@link dropUnlinked} closes the open files: sizes and records read before are of removed files. */
  private generation = 0;
  /** Open bucket files (read-write), oldest first; opening a file costs more than reading it. */
  private readonly fds = new Map<string, number>();
  /** Bucket files a commit in progress uses: never closed to make room. */
  private readonly pinned = new Set<string>();
  /**
   * Buckets as last read: a bucket is append-only, so while its size is the same its records are too, and a lookup of
   * a key seen before costs a two-byte read (a commit after a lookup of its keys reads nothing more, and neither do the
   * lookups of the same Patients chunk after chunk). Bounded by {@link maxSeenKeys}.
   */
  private readonly seen = new Map<string, Seen>();
  private seenKeys = 0;
  private readonly maxOpenFiles: number;
  private readonly maxSeenKeys: number;

  constructor(dir: string, options: FileVersionIndexOptions = {}) {
    this.buckets = path.join(dir, 'buckets');
    this.lock = path.join(dir, 'versions.lock');
    this.journal = path.join(dir, 'journal.jsonl');
    this.legacy = path.join(dir, 'versions.jsonl');
    this.maxOpenFiles = Math.max(1, options.maxOpenFiles ?? 4096);
    this.maxSeenKeys = Math.max(0, options.maxSeenKeys ?? 8_000);
    FileVersionIndex.createBuckets(this.buckets);
  }

  /**
   * Creates the 4,096 (empty) bucket files of a new index, once per data dir (at the local stack's first start):
   * creating a file costs about 30 times what opening one does (66 against 2 µs here, and about 300 µs with two
   * workers creating at once), and creating them as commits first touched them cost the first import into a fresh
   * data dir a sixth of its time. One process creates them (the `.creating` marker); the others go on at once, as a
   * commit creates a bucket it finds missing anyway. An empty bucket holds no records.
   */
  private static createBuckets(dir: string): void {
    const created = path.join(dir, '.created');
    if (fs.existsSync(created)) return;
    fs.mkdirSync(dir, { recursive: true });
    const creating = path.join(dir, '.creating');
    try {
      fs.closeSync(fs.openSync(creating, 'wx'));
    } catch {
      return; // another process is creating them (or died doing so): buckets are created on first use meanwhile
    }
    for (let i = 0; i < 4096; i++) fs.closeSync(fs.openSync(path.join(dir, `${i.toString(16).padStart(3, '0')}.jsonl`), 'a'));
    fs.writeFileSync(created, '');
    fs.rmSync(creating, { force: true });
  }

  /** The bucket file of a key (first 3 hex digits of its SHA-1), from the 4,096 paths made once. */
  private bucketOf(key: string): string {
    const d = sha1(key);
    const i = (d[0]! << 4) | (d[1]! >> 4);
    return (this.bucketFiles[i] ??= path.join(this.buckets, `${i.toString(16).padStart(3, '0')}.jsonl`));
  }

  private close(file: string): void {
    const fd = this.fds.get(file);
    if (fd === undefined) return;
    this.fds.delete(file);
    this.forget(file);
    fs.closeSync(fd);
  }

  private forget(file: string): void {
    const s = this.seen.get(file);
    if (!s) return;
    this.seenKeys -= s.records.size;
    this.seen.delete(file);
  }

  /** Closes open bucket files (oldest first, never a pinned one) until at most `keep` are open. */
  private trim(keep: number): void {
    // nothing to close (the common case) costs no copy of the open files' names
    if (this.fds.size <= keep) return;
    for (const file of [...this.fds.keys()]) {
      if (this.fds.size <= keep) break;
      if (!this.pinned.has(file)) this.close(file);
    }
  }

  /**
   * Closes every open bucket file when they are no longer the index's: removing the data dir (a reset) unlinks them
   * all, so the link count of the oldest open one, one fstat a call (and one more under the commit lock), tells for
   * every one (an fstat a bucket cost a 1,000-resource import chunk about 1,800 of them, and as many Stats objects).
   */
  private dropUnlinked(): void {
    const oldest = this.fds.values().next();
    if (oldest.done || fs.fstatSync(oldest.value).nlink > 0) return;
    for (const file of [...this.fds.keys()]) this.close(file);
    this.generation++;
  }

  /** The open descriptor of a bucket file, opening it if need be (`create`: created when missing, else undefined). */
  private open(file: string, create: boolean): number | undefined {
    let fd = this.fds.get(file);
    if (fd !== undefined) return fd;
    this.trim(this.maxOpenFiles - 1);
    try {
      fd = this.openFile(file, create);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !create) return undefined;
      throw err;
    }
    this.fds.set(file, fd);
    return fd;
  }

  /** Whether an open bucket still has `size` bytes: of two bytes read from its last known one, one found (not fewer). */
  private unchanged(fd: number, size: number): boolean {
    return size === 0 ? fs.readSync(fd, this.probe, 0, 1, 0) === 0 : fs.readSync(fd, this.probe, 0, 2, size - 1) === 1;
  }

  private openFile(file: string, create: boolean): number {
    const flags = create ? 'a+' : 'r+';
    try {
      return fs.openSync(file, flags);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EMFILE' && code !== 'ENFILE') throw err;
      // out of descriptors (other indexes in this process hold theirs): give back half of ours, then try once more
      this.trim(Math.floor(this.fds.size / 2));
      return fs.openSync(file, flags);
    }
  }

  /** Remembers what a read of `file` at `size` found for `keys`. */
  private remember(file: string, size: number, keys: readonly string[], found: Map<string, VersionRecord>): void {
    let s = this.seen.get(file);
    if (!s || s.size !== size) {
      this.forget(file);
      s = { size, records: new Map() };
      this.seen.set(file, s);
    }
    if (this.seenKeys + keys.length > this.maxSeenKeys) {
      this.seen.clear();
      this.seenKeys = 0;
      if (keys.length > this.maxSeenKeys) return;
      this.seen.set(file, s);
      s.records.clear();
    }
    for (const k of keys) {
      if (!s.records.has(k)) this.seenKeys++;
      s.records.set(k, found.get(k) ?? null);
    }
  }

  /** The records of `keys` in `file` as last read, if it was read at `size` and they were all looked up then. */
  private recall(file: string, size: number, keys: readonly string[], out: Map<string, VersionRecord>): boolean {
    const s = this.seen.get(file);
    if (!s || s.size !== size || !keys.every((k) => s.records.has(k))) return false;
    for (const k of keys) {
      const r = s.records.get(k);
      if (r) out.set(k, r);
    }
    return true;
  }

  /**
   * An open bucket file whole, read to its end, in the reused {@link scratch} buffer (valid until the next read):
   * buckets are searched as bytes and only the lines found are decoded, so a lookup makes no garbage in proportion to
   * the bucket's size (buckets grow with the index; decoding them whole made the import workers' heaps grow with it).
   * Its length is the bucket's size as read.
   */
  private readBucket(fd: number): Buffer {
    let off = 0;
    for (;;) {
      if (off === this.scratch.length) {
        const bigger = Buffer.allocUnsafeSlow(this.scratch.length * 2);
        this.scratch.copy(bigger, 0, 0, off);
        this.scratch = bigger;
      }
      const n = fs.readSync(fd, this.scratch, off, this.scratch.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return this.scratch.subarray(0, off);
  }

  /**
   * The records of `keys` in the open bucket `file`: as remembered when they were all looked up before and the bucket
   * has not grown since, else read (and remembered).
   * @returns the bucket's size
   */
  private lookup(file: string, fd: number, keys: readonly string[], out: Map<string, VersionRecord>): number {
    const s = this.seen.get(file);
    if (s && keys.every((k) => s.records.has(k)) && this.unchanged(fd, s.size) && this.recall(file, s.size, keys, out)) return s.size;
    const found = new Map<string, VersionRecord>();
    const bytes = this.readBucket(fd);
    FileVersionIndex.find(bytes, keys, found);
    for (const [k, r] of found) out.set(k, r);
    this.remember(file, bytes.length, keys, found);
    return bytes.length;
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
            const found = parseLine(bytes.toString('utf8', at, nl));
            if (found) {
              out.set(key, toRecord(found));
              break;
            }
            // a line cut by a writer that died (recovery went on after it): an earlier line holds the key's record
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
  private readSized(
    keys: readonly string[],
    recalled = false,
  ): { records: Map<string, VersionRecord>; buckets: Map<string, { size: number; keys: string[] }>; fileOf: Map<string, string> } {
    const buckets = new Map<string, { size: number; keys: string[] }>();
    const fileOf = new Map<string, string>();
    for (const k of keys) {
      if (fileOf.has(k)) continue;
      const file = this.bucketOf(k);
      fileOf.set(k, file);
      const b = buckets.get(file) ?? { size: 0, keys: [] };
      b.keys.push(k);
      buckets.set(file, b);
    }
    const records = new Map<string, VersionRecord>();
    for (const [file, b] of buckets) {
      // `recalled`: what was last read of an open bucket is taken as is (the caller checks its size later, as a commit
      // does under its lock), saving a stat
      const s = recalled && this.fds.has(file) ? this.seen.get(file) : undefined;
      if (s && this.recall(file, s.size, b.keys, records)) {
        b.size = s.size;
        continue;
      }
      const fd = this.open(file, false);
      if (fd === undefined) continue;
      b.size = this.lookup(file, fd, b.keys, records);
    }
    return { records, buckets, fileOf };
  }

  /** Appends lines to their buckets (grouped: one append per bucket). */
  private append(lines: { key: string; line: string }[]): void {
    const byBucket = new Map<string, string>();
    for (const { key, line } of lines) {
      const b = this.bucketOf(key);
      byBucket.set(b, (byBucket.get(b) ?? '') + line + '\n');
    }
    for (const [file, text] of byBucket) {
      // a writer that died in the middle of its append may have left a cut line: ours start on a new line
      fs.appendFileSync(file, FileVersionIndex.endsCut(file) ? `\n${text}` : text);
    }
  }

  /** Whether a bucket file ends inside a line (its last byte is not a newline). */
  private static endsCut(file: string): boolean {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return false;
    }
    try {
      const size = fs.fstatSync(fd).size;
      const last = Buffer.alloc(1);
      return size > 0 && fs.readSync(fd, last, 0, 1, size - 1) === 1 && last[0] !== 0x0a;
    } finally {
      fs.closeSync(fd);
    }
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
    this.dropUnlinked();
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
    this.dropUnlinked();
    const generation = this.generation;
    const before = this.readSized(entries.map((e) => e.key), true);
    await this.acquire();
    try {
      this.dropUnlinked(); // the data dir may have been removed while the lock was awaited: then nothing read holds
      const reread = this.generation !== generation;
      this.recover();
      const current = new Map<string, VersionRecord>();
      const sizes = new Map<string, { fd: number; size: number }>();
      for (const [file, b] of before.buckets) {
        this.pinned.add(file);
        const fd = this.open(file, true)!;
        if (!reread && this.unchanged(fd, b.size)) {
          sizes.set(file, { fd, size: b.size });
          for (const k of b.keys) if (before.records.has(k)) current.set(k, before.records.get(k)!);
        } else {
          sizes.set(file, { fd, size: this.lookup(file, fd, b.keys, current) });
        }
      }
      for (const e of entries) {
        if (current.get(e.key)?.versionId !== e.expected) throw new VersionConflictError(e.key);
      }
      const lines = entries.map((e) => ({ key: e.key, line: toLine(e.key, e.record) }));
      fs.writeFileSync(this.journal, lines.map((l) => l.line).join('\n') + '\n');
      const byBucket = new Map<string, { text: string; written: { key: string; record: VersionRecord }[] }>();
      for (let i = 0; i < lines.length; i++) {
        const file = before.fileOf.get(lines[i].key)!;
        const b = byBucket.get(file) ?? { text: '', written: [] };
        b.text += lines[i].line + '\n';
        b.written.push(entries[i]);
        byBucket.set(file, b);
      }
      for (const [file, { text, written }] of byBucket) {
        const { fd, size } = sizes.get(file)!;
        const bytes = Buffer.from(text, 'utf8');
        // at the bucket's end (under the lock nobody else appends; 'a+' descriptors append anyway)
        for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off, size + off);
        // the bucket as it now is: what it held at `size` for the keys read, with the records just written
        const s = this.seen.get(file);
        if (s && s.size === size) {
          s.size = size + bytes.length;
          for (const w of written) {
            if (!s.records.has(w.key)) this.seenKeys++;
            s.records.set(w.key, w.record);
          }
        } else this.forget(file);
      }
      fs.rmSync(this.journal, { force: true });
    } finally {
      this.pinned.clear();
      this.trim(this.maxOpenFiles);
      fs.rmSync(this.lock, { force: true });
    }
  }
}
