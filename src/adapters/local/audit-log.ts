/**
 * Local audit trail: one JSON file per record under `{dataDir}/audit/`, hash-chained by
 * `createChainedAuditLog` (src/core/audit/chain.ts).
 *
 * Create-if-absent is atomic across threads and processes: the record is written to a temporary file,
 * flushed, then hard-linked to its final name with `link(2)`, which fails with EEXIST if the name exists
 * (the same guarantee as `open(O_CREAT|O_EXCL)`), and, unlike `open('wx')` followed by a write, a reader can
 * never see a created-but-still-empty record.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  createChainedAuditLog,
  parseSequenceName,
  sequenceName,
  type AuditStore,
  type ChainedAuditLog,
  type ChainedAuditLogOptions,
} from '../../core/audit/chain';

/** Directory of the local audit trail for a data dir. */
export function localAuditDir(dataDir: string): string {
  return path.join(dataDir, 'audit');
}

/** {@link AuditStore} over a local directory. */
export class FileAuditStore implements AuditStore {
  readonly name: string;
  private ready: Promise<void> | undefined;

  /** @param dir directory holding the records (created on first write). */
  constructor(private readonly dir: string) {
    this.name = dir;
  }

  private file(sequence: number): string {
    return path.join(this.dir, `${sequenceName(sequence)}.json`);
  }

  async create(sequence: number, body: string): Promise<boolean> {
    this.ready ??= fs.mkdir(this.dir, { recursive: true }).then(() => undefined);
    await this.ready;
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomUUID()}`);
    const fh = await fs.open(tmp, 'wx', 0o444);
    try {
      await fh.writeFile(body, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.link(tmp, this.file(sequence));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  async read(sequence: number): Promise<string | undefined> {
    try {
      return await fs.readFile(this.file(sequence), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(sequence: number): Promise<boolean> {
    try {
      await fs.access(this.file(sequence));
      return true;
    } catch {
      return false;
    }
  }

  async sequences(): Promise<number[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .map(parseSequenceName)
      .filter((n): n is number => n !== undefined)
      .sort((a, b) => a - b);
  }
}

/**
 * The local `AuditLog`: hash-chained records in `{dataDir}/audit/`. Several instances (worker threads,
 * processes) may share the directory.
 */
export function createLocalAuditLog(dataDir: string, opts?: ChainedAuditLogOptions): ChainedAuditLog {
  return createChainedAuditLog(new FileAuditStore(localAuditDir(dataDir)), opts);
}
