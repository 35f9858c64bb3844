/**
 * VersionIndex for the local stack: an append-only JSON-lines log under the data dir, shared by every process
 * and worker thread of `npm start` (serverless-offline runs handlers in worker threads). Each process keeps an
 * in-memory map and reads only the bytes appended since its last look. Commits take an exclusive lock file
 * (O_EXCL) so the expectation check and the append are atomic across processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { VersionConflictError, type VersionIndex, type VersionRecord } from '../../core/ports';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A file-backed {@link VersionIndex}. */
export class FileVersionIndex implements VersionIndex {
  private readonly file: string;
  private readonly lock: string;
  private readonly map = new Map<string, VersionRecord>();
  private offset = 0;
  private partial = '';

  constructor(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'versions.jsonl');
    this.lock = path.join(dir, 'versions.lock');
    if (!fs.existsSync(this.file)) fs.writeFileSync(this.file, '', { flag: 'a' });
  }

  /** Reads whatever other writers appended since the last call. */
  private refresh(): void {
    const size = fs.statSync(this.file).size;
    if (size <= this.offset) return;
    const fd = fs.openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(size - this.offset);
      fs.readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const text = this.partial + buf.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        const e = JSON.parse(line) as { k: string; v: string; s: string; t: string; l?: string };
        this.map.set(e.k, { versionId: e.v, source: e.s, lastUpdated: e.t, ...(e.l ? { lakeId: e.l } : {}) });
      }
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

  async get(keys: string[]): Promise<Map<string, VersionRecord>> {
    this.refresh();
    const out = new Map<string, VersionRecord>();
    for (const k of keys) {
      const r = this.map.get(k);
      if (r) out.set(k, r);
    }
    return out;
  }

  async commit(entries: { key: string; expected?: string; record: VersionRecord }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.acquire();
    try {
      this.refresh();
      for (const e of entries) {
        const cur = this.map.get(e.key)?.versionId;
        if (cur !== e.expected) throw new VersionConflictError(e.key);
      }
      const text = entries
        .map((e) => JSON.stringify({ k: e.key, v: e.record.versionId, s: e.record.source, t: e.record.lastUpdated, l: e.record.lakeId }))
        .join('\n');
      fs.appendFileSync(this.file, text + '\n');
      this.refresh();
    } finally {
      fs.rmSync(this.lock, { force: true });
    }
  }
}
