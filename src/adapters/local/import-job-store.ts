/**
 * {@link ImportJobStore} for the local stack: files under `DATA_DIR/imports/{jobId}/` (`job.json`, and one
 * `chunks/{file}-{chunk}.json` per committed chunk), each written atomically (a temporary file renamed over it), so
 * a runner killed at any point leaves whole files only. Shared by the API and the runner process.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ImportChunkRecord, ImportJobRecord, ImportJobStore } from '../../core/ports';
import { randomUUID } from 'node:crypto';

/** Writes a file atomically (a uniquely named temporary file renamed over it). */
async function writeFileAtomic(file: string, body: string): Promise<void> {
  const tmp = `${file}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, body);
  await fs.rename(tmp, file);
}

const JOB_ID = /^[A-Za-z0-9-]{8,64}$/;

/** Job state on disk. */
export class FileImportJobStore implements ImportJobStore {
  constructor(private readonly dir: string) {}

  private jobDir(id: string): string {
    if (!JOB_ID.test(id)) throw new Error('import job id is not valid');
    return path.join(this.dir, id);
  }

  async create(job: ImportJobRecord): Promise<void> {
    await fs.mkdir(path.join(this.jobDir(job.id), 'chunks'), { recursive: true });
    await writeFileAtomic(path.join(this.jobDir(job.id), 'job.json'), JSON.stringify(job));
  }

  async get(id: string): Promise<ImportJobRecord | undefined> {
    if (!JOB_ID.test(id)) return undefined;
    try {
      return JSON.parse(await fs.readFile(path.join(this.jobDir(id), 'job.json'), 'utf8')) as ImportJobRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async update(job: ImportJobRecord): Promise<void> {
    await writeFileAtomic(path.join(this.jobDir(job.id), 'job.json'), JSON.stringify(job));
  }

  async putChunk(jobId: string, chunk: ImportChunkRecord): Promise<void> {
    await writeFileAtomic(path.join(this.jobDir(jobId), 'chunks', `${chunk.file}-${chunk.chunk}.json`), JSON.stringify(chunk));
  }

  async chunks(jobId: string): Promise<ImportChunkRecord[]> {
    const dir = path.join(this.jobDir(jobId), 'chunks');
    const names = await fs.readdir(dir).catch(() => [] as string[]);
    const out: ImportChunkRecord[] = [];
    for (const n of names) if (/^\d+-\d+\.json$/.test(n)) out.push(JSON.parse(await fs.readFile(path.join(dir, n), 'utf8')) as ImportChunkRecord);
    return out;
  }
}
