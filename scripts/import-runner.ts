/**
 * The local runner of one bulk import job (`node dist/scripts/import-runner.js <jobId>`), started detached by the
 * API's `$import` (src/adapters/local/import-launcher.ts) with the stack's environment: reads the job's inputs as
 * streams, cuts them into chunks and imports them on a pool of worker threads (one per core, `IMPORT_WORKERS`),
 * recording each committed chunk. Run again on the same job (after a crash or SIGKILL) it resumes: recorded chunks
 * are skipped, and a chunk committed but not recorded is recognised by its request id.
 */
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { getApp, getImportApp } from '../src/bootstrap';
import { runImportJob, workerHeapMb, type ChunkTask } from '../src/core/import';
import { systemClock, type ImportChunkRecord } from '../src/core/ports';
import { WorkerPool } from '../src/adapters/local/worker-pool';

/** Runs the job named on the command line; exit 0 when it completes. */
async function main(): Promise<number> {
  const jobId = process.argv[2];
  if (!jobId) {
    process.stderr.write('usage: import-runner <jobId>\n');
    return 2;
  }
  const config = loadConfig();
  const app = getApp(config);
  const im = getImportApp(config);
  const workers = config.bulkImport.workers || Math.max(1, os.availableParallelism());
  // each worker's heap is capped: it holds one chunk at a time, and an uncapped heap grows with the job's length
  const stored = await im.jobs.get(jobId);
  const heap = stored ? workerHeapMb(stored, config.bulkImport.workerHeapMb) : config.bulkImport.workerHeapMb;
  const pool = new WorkerPool<ChunkTask, ImportChunkRecord>(path.join(__dirname, '../src/handlers/import-worker.js'), workers, { maxOldGenerationSizeMb: heap });
  const t0 = Date.now();
  try {
    const job = await runImportJob(
      {
        inputs: im.inputs,
        jobs: im.jobs,
        audit: app.audit,
        clock: systemClock,
        process: (t) => pool.run(t),
        concurrency: workers + 1,
        chunkLines: config.bulkImport.chunkLines,
        chunkBytes: config.bulkImport.chunkBytes,
        runnerId: `${os.hostname()}:${process.pid}`,
      },
      jobId,
    );
    process.stdout.write(`${JSON.stringify({ jobId, status: job.status, resources: job.progress.resources, refused: job.progress.refused, ms: Date.now() - t0 })}\n`);
    return 0;
  } finally {
    await pool.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`import-runner: ${(err as Error)?.name}: ${String((err as Error)?.message).slice(0, 300)}\n`);
    process.exit(1);
  },
);
