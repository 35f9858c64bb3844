/**
 * Local audit trail: one JSON file per record under `{dataDir}/audit/` (`chains/{writer}/…`, `anchors/…`; layout
 * in src/core/audit/store.ts), per-writer hash chains anchored by `createAuditTrail` (src/core/audit/trail.ts).
 *
 * Create-if-absent is atomic across threads and processes: the record is written to a temporary file,
 * flushed, then hard-linked to its final name with `link(2)`, which fails with EEXIST if the name exists
 * (the same guarantee as `open(O_CREAT|O_EXCL)`), and, unlike `open('wx')` followed by a write, a reader can
 * never see a created-but-still-empty record.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createAuditTrail, type AuditStore, type AuditTrail, type AuditTrailOptions } from '../../core/audit';

/** Directory of the local audit trail for a data dir. */
export function localAuditDir(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

const isCode = (err: unknown, code: string) => (err as NodeJS.ErrnoException)?.code === code;

/** {@link AuditStore} over a local directory. */
export class FileAuditStore implements AuditStore {
  readonly name: string;
  private readonly dirs = new Map<string, Promise<void>>();

  /** @param dir directory holding the trail (created on first write). */
  constructor(private readonly dir: string) {
    this.name = dir;
  }

  private file(key: string): string {
    if (key.split('/').some((p) => p === '..' || p === '' || p.startsWith('.'))) throw new RangeError(`invalid audit key: ${key}`);
    return path.join(this.dir, ...key.split('/'));
  }

  async create(key: string, body: string): Promise<boolean> {
    const file = this.file(key);
    const dir = path.dirname(file);
    let ready = this.dirs.get(dir);
    if (!ready) {
      ready = fs.mkdir(dir, { recursive: true }).then(() => undefined);
      ready.catch(() => this.dirs.delete(dir));
      this.dirs.set(dir, ready);
    }
    await ready;
    const tmp = path.join(dir, `.tmp-${process.pid}-${randomUUID()}`);
    const fh = await fs.open(tmp, 'wx', 0o444);
    try {
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.link(tmp, file);
      return true;
    } catch (err) {
      if (isCode(err, 'EEXIST')) return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async read(key: string): Promise<string | undefined> {
    try {
      return await fs.readFile(this.file(key), 'utf8');
    } catch (err) {
      if (isCode(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fs.access(this.file(key));
      return true;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    // the deepest directory named by the prefix, then a filter on the full key
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    const root = base ? path.join(this.dir, ...base.split('/')) : this.dir;
    let names: string[];
    try {
      const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
      names = entries.filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath ?? e.path, e.name)));
    } catch (err) {
      if (isCode(err, 'ENOENT') || isCode(err, 'ENOTDIR')) return [];
      throw err;
    }
    return names
      .map((n) => (base ? `${base}/` : '') + n.split(path.sep).join('/'))
      .filter((k) => k.startsWith(prefix) && !k.split('/').some((p) => p.startsWith('.')));
  }
}

/**
 * The local `AuditLog`: per-writer hash chains in `{dataDir}/audit/`, anchored (see `createAuditTrail`). Several
 * instances (worker threads, processes, CLIs) may share the directory, each with writers of its own.
 */
export function createLocalAuditLog(dataDir: string, opts?: AuditTrailOptions): AuditTrail {
  return createAuditTrail(new FileAuditStore(localAuditDir(dataDir)), opts);
}
