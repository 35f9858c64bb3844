/**
 * The bulk import's state machine steps in AWS (serverless.yml `importPlan`, `importChunk`, `importFinish`; the
 * state machine `ImportStateMachine`), thin over the core (src/core/import):
 * - `plan`: started by the job's start marker (EventBridge, S3 Object Created `import-jobs/{id}/start`): marks the
 *   job running and writes its chunk items in two waves (`plan-0.json` Patients, `plan-1.json` the rest), each a JSON
 *   array the Distributed Map reads (ItemReader);
 * - `chunk`: one item: reads its byte range and imports it through the Ingestor, records it;
 * - `finish`: the error output, the job's audit record, `completed`.
 * A rerun of the state machine on the same job resumes it: recorded chunks are not planned again.
 */
import { chunkDeps, getApp, getImportApp } from '../bootstrap';
import { chunkTask, finishJob, importChunk, planChunks, renewHeartbeat, type ChunkItem } from '../core/import';
import { systemClock } from '../core/ports';

/** The EventBridge event of the start marker, or a `{ jobId }` (a manual rerun). */
type StartEvent = { jobId?: string; detail?: { object?: { key?: string } } };

/** `import-jobs/{id}/start` → id. */
function jobIdOf(e: StartEvent): string {
  const id = e.jobId ?? /^import-jobs\/([A-Za-z0-9-]{8,64})\/start$/.exec(e.detail?.object?.key ?? '')?.[1];
  if (!id) throw new Error('no import job id in the event');
  return id;
}

/** Plans the job's chunks; returns the keys of the two waves' item lists in the import bucket. */
export async function plan(event: StartEvent): Promise<{ jobId: string; bucket: string; waves: string[] }> {
  const app = getApp();
  const im = getImportApp(app.config);
  const jobId = jobIdOf(event);
  const job = await im.jobs.get(jobId);
  if (!job) throw new Error('import job not found');
  const now = systemClock.now().toISOString();
  Object.assign(job, { status: 'running', updatedAt: now, runner: { id: 'step-functions', heartbeatAt: now } });
  await im.jobs.update(job);
  // planChunks gives a new job its cut (job.chunking), stored before any chunk runs: a resumed execution plans the
  // same chunks whatever the settings then
  const waves = await planChunks(im.inputs, im.jobs, job, app.config.bulkImport.chunkLines, app.config.bulkImport.chunkBytes);
  await im.jobs.update(job);
  const keys = waves.map((_, i) => `${app.config.bulkImport.jobsPrefix}${jobId}/plan-${i}.json`);
  for (const [i, items] of waves.entries()) await im.inputs.put(keys[i]!, JSON.stringify(items), { contentType: 'application/json' });
  return { jobId, bucket: im.inputs.name, waves: keys };
}

/** Imports one chunk item and records it. */
export async function chunk(item: ChunkItem): Promise<{ refused: number; resources: number }> {
  const app = getApp();
  const im = getImportApp(app.config);
  const job = await im.jobs.get(item.jobId);
  if (!job) throw new Error('import job not found');
  const rec = await importChunk(chunkDeps(app), await chunkTask(im.inputs, job, item));
  await im.jobs.putChunk(job.id, rec);
  // the chunks are the runner here: keep the job's heartbeat (and progress) fresh, so a status call does not take
  // the running state machine for dead and start another (core/import/job.ts, resumeIfStale). Best effort: the
  // chunk is recorded; a missed beat at worst starts a second execution, which writes nothing twice (a chunk's
  // request id is its Idempotency-Key), whereas failing here would make Step Functions redo the chunk.
  await renewHeartbeat({ jobs: im.jobs, clock: systemClock }, job.id, 'step-functions').catch(() => false);
  return { refused: rec.refused, resources: Object.values(rec.counts).reduce((a, b) => a + b, 0) };
}

/** Finishes the job: error output, audit record, `completed`. */
export async function finish(event: { jobId: string }): Promise<{ jobId: string; status: string }> {
  const app = getApp();
  const im = getImportApp(app.config);
  const job = await im.jobs.get(event.jobId);
  if (!job) throw new Error('import job not found');
  const done = await finishJob({ inputs: im.inputs, jobs: im.jobs, audit: app.audit, clock: systemClock }, job);
  return { jobId: done.id, status: done.status };
}
