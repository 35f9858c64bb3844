/**
 * Local {@link JobLog}: one JSON file per job under `{dataDir}/ops/jobs/`, written atomically (temp file + rename),
 * so the ETL (worker threads of the local stack), `npm run etl-replay` and the ops API may share it.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { JobLog, JobRecord } from '../../core/ops/jobs';

/** Folder of the local job records. */
export function localJobsDir(dataDir: string): string {
  return path.join(dataDir, 'ops', 'jobs');
}

const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9._=-]{0,200}$/;

/** Job records as files. */
export class FileJobLog implements JobLog {
  private ready: Promise<unknown> | undefined;
  /** Parsed records by file, with the mtime they were read at (records change on retries). */
  private readonly cache = new Map<string, { mtimeMs: number; record: JobRecord }>();

  constructor(private readonly dir: string) {}

  private file(id: string): string {
    if (!SAFE_ID.test(id)) throw new Error('job id has unexpected characters');
    return path.join(this.dir, `${id}.json`);
  }

  async put(record: JobRecord): Promise<void> {
    this.ready ??= fs.mkdir(this.dir, { recursive: true });
    await this.ready;
    const tmp = path.join(this.dir, `.tmp-${randomUUID()}`);
    await fs.writeFile(tmp, JSON.stringify(record));
    await fs.rename(tmp, this.file(record.id));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    if (!SAFE_ID.test(id)) return undefined;
    try {
      return JSON.parse(await fs.readFile(this.file(id), 'utf8')) as JobRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async list(): Promise<JobRecord[]> {
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: JobRecord[] = [];
    for (const n of names) {
      const f = path.join(this.dir, n);
      try {
        const st = await fs.stat(f);
        const hit = this.cache.get(n);
        if (hit && hit.mtimeMs === st.mtimeMs) {
          out.push(hit.record);
          continue;
        }
        const record = JSON.parse(await fs.readFile(f, 'utf8')) as JobRecord;
        this.cache.set(n, { mtimeMs: st.mtimeMs, record });
        out.push(record);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return out;
  }
}
