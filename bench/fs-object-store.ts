/**
 * An ObjectStore on a local folder, for the import benchmark: lake, identity store and inputs on disk, so memory
 * does not grow with the data (an in-memory store would hold every lake object) and no network is measured.
 * Writes are atomic (temp file + rename); `getStream` streams the file.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ObjectHead, ObjectMetadata, ObjectStore } from '../src/core/ports';

/** A bucket as a folder. */
export class FsObjectStore implements ObjectStore {
  constructor(
    readonly name: string,
    private readonly dir: string,
  ) {}

  private file(key: string): string {
    return path.join(this.dir, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array | string, opts: { metadata?: ObjectMetadata } = {}): Promise<void> {
    const f = this.file(key);
    await fs.mkdir(path.dirname(f), { recursive: true });
    const tmp = `${f}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, f);
    if (opts.metadata && Object.keys(opts.metadata).length) await fs.writeFile(`${f}.meta`, JSON.stringify(opts.metadata));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return fs.readFile(this.file(key)).catch(() => undefined);
  }

  async getStream(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array> | undefined> {
    const f = this.file(key);
    if (range && range.end <= range.start) return (async function* () {})();
    const r = range ? { start: range.start, end: range.end - 1 } : {};
    return (await fs.stat(f).catch(() => undefined)) ? createReadStream(f, { highWaterMark: 256 * 1024, ...r }) : undefined;
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const s = await fs.stat(this.file(key)).catch(() => undefined);
    return s ? { key, size: s.size, metadata: {} } : undefined;
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (d: string, rel: string): Promise<void> => {
      for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
        const k = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) await walk(path.join(d, e.name), k);
        else if (!e.name.endsWith('.meta') && !e.name.endsWith('.tmp') && k.startsWith(prefix)) out.push(k);
      }
    };
    await walk(this.dir, '');
    return out.sort();
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const t = this.file(toKey);
    await fs.mkdir(path.dirname(t), { recursive: true });
    await fs.copyFile(this.file(fromKey), t);
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => fs.rm(this.file(k), { force: true })));
  }
}
