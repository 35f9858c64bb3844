/**
 * The bulk import job API (FHIR asynchronous request pattern, https://hl7.org/fhir/R4/async.html, with the
 * `$import` Parameters of the bulk-import drafts and Azure: `inputFormat` `application/fhir+ndjson`, `input` parts
 * with `type` and `url`): starting a job (202 + `Content-Location`), and its status (202 with `X-Progress` while it
 * runs, 200 with a manifest when done, https://hl7.org/fhir/uv/bulkdata/export.html#response---complete-status).
 */
import type { OperationOutcome, Parameters, ParametersParameter } from 'fhir/r4';
import { badRequest, forbidden, notFound } from '../../fhir/outcomes';
import { ClientError } from '../../fhir/errors';
import { isResourceType } from '../../fhir/resource-types';
import type { Clock, ImportChunkRecord, ImportJobRecord, ImportJobStore, ObjectStore } from '../ports';
import { errorOutputKey, progressOf } from './run';

/** Starts the work of a job (a detached runner process locally; a Step Functions execution in AWS). */
export interface ImportLauncher {
  launch(jobId: string): Promise<void>;
}

/** What {@link startImport} needs. */
export interface StartDeps {
  inputs: ObjectStore;
  jobs: ImportJobStore;
  launcher: ImportLauncher;
  clock: Clock;
  newId: () => string;
  /** Key prefix of import inputs in the import bucket (e.g. `inputs/`). */
  prefix: string;
}

/** Who starts the job. */
export interface ImportCaller {
  source: string;
  clientId: string;
  scope: string;
}

const NDJSON = 'application/fhir+ndjson';

/** The key of an input `url` in the import bucket: `s3://{bucket}/{key}` or a key, under the import prefix. */
function inputKey(url: string, bucket: string, prefix: string, at: string): string {
  const s3 = /^s3:\/\/([^/]+)\/(.+)$/.exec(url);
  if (s3 && s3[1] !== bucket) throw new ClientError(forbidden(`input url names another bucket than the import bucket`, at));
  const key = s3 ? s3[2]! : url.replace(/^\/+/, '');
  const full = key.startsWith(prefix) ? key : `${prefix}${key}`;
  if (/^[a-z]+:/i.test(key) || full.split('/').includes('..')) throw new ClientError(badRequest('input url must name an object under the import prefix', at));
  return full;
}

/** Reads the `$import` Parameters into the job's inputs (sizes filled in later). */
export function readImportParameters(body: unknown, bucket: string, prefix: string): ImportJobRecord['inputs'] {
  const p = body as Parameters;
  if (typeof body !== 'object' || body === null || p.resourceType !== 'Parameters') {
    throw new ClientError(badRequest('$import needs a Parameters resource', 'resourceType'));
  }
  const params = Array.isArray(p.parameter) ? p.parameter : [];
  const format = params.find((x) => x?.name === 'inputFormat');
  if (format && format.valueString !== NDJSON && format.valueCode !== NDJSON) {
    throw new ClientError(badRequest(`inputFormat must be ${NDJSON}`, 'Parameters.parameter.where(name=\'inputFormat\')'));
  }
  const inputs = params.map((x, i) => ({ x, i })).filter(({ x }) => x?.name === 'input');
  if (inputs.length === 0) throw new ClientError(badRequest('$import needs at least one input part', 'Parameters.parameter'));
  return inputs.map(({ x, i }) => {
    const at = `Parameters.parameter[${i}]`;
    const part = (name: string): ParametersParameter | undefined => (x.part ?? []).find((q) => q?.name === name);
    const url = part('url')?.valueUri ?? part('url')?.valueUrl ?? part('url')?.valueString;
    const type = part('type')?.valueCode ?? part('type')?.valueString;
    if (typeof url !== 'string' || url === '') throw new ClientError(badRequest('input needs a url part', `${at}.part`));
    if (type !== undefined && !isResourceType(type)) throw new ClientError(badRequest('input type is not a resource type', `${at}.part`));
    const kind = type === 'Bundle' || (type === undefined && /\.json$/i.test(url)) ? 'bundle' : 'ndjson';
    return { url, key: inputKey(url, bucket, prefix, at), ...(type && type !== 'Bundle' ? { type } : {}), kind, size: 0 };
  });
}

/**
 * `POST /fhir/$import` (https://hl7.org/fhir/R4/async.html, kick-off request): checks each input exists, records
 * the job (`queued`) and launches it.
 * @throws ClientError 400 for a malformed Parameters, 403 for another bucket, 404 when an input object is missing.
 */
export async function startImport(deps: StartDeps, caller: ImportCaller, body: unknown): Promise<ImportJobRecord> {
  const inputs = readImportParameters(body, deps.inputs.name, deps.prefix);
  for (const [i, input] of inputs.entries()) {
    const head = await deps.inputs.head(input.key);
    if (!head) throw new ClientError(badRequest(`input ${i + 1} names no object in the import bucket`, `Parameters.parameter.where(name='input')[${i}]`));
    input.size = head.size;
  }
  // Patients first (their references resolve for every later file), Bundles last; otherwise as given
  const rank = (x: (typeof inputs)[number]): number => (x.type === 'Patient' ? 0 : x.kind === 'bundle' ? 2 : 1);
  inputs.sort((a, b) => rank(a) - rank(b));
  const now = deps.clock.now().toISOString();
  const job: ImportJobRecord = {
    id: deps.newId(),
    source: caller.source,
    clientId: caller.clientId,
    scope: caller.scope,
    status: 'queued',
    createdAt: now,
    updatedAt: now,
    inputs,
    progress: { chunksDone: 0, resources: 0, refused: 0, bytesDone: 0, bytesTotal: inputs.reduce((a, x) => a + x.size, 0) },
  };
  await deps.jobs.create(job);
  await deps.launcher.launch(job.id);
  return job;
}

/** The `X-Progress` text of a running job: percent of input bytes, resources stored and refused. */
export function progressText(job: ImportJobRecord): string {
  const p = job.progress;
  const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
  return `${pct}% (${p.resources} resources, ${p.refused} refused, ${job.status})`;
}

/** The completion manifest of a job (bulk data style: output per type, error output; plus committed lake objects). */
export function importManifest(job: ImportJobRecord, chunks: readonly ImportChunkRecord[], errorUrl: string): Record<string, unknown> {
  const counts: Record<string, number> = {};
  for (const c of chunks) for (const [t, n] of Object.entries(c.counts)) counts[t] = (counts[t] ?? 0) + n;
  return {
    transactionTime: job.createdAt,
    request: `$import`,
    requiresAccessToken: true,
    jobId: job.id,
    status: job.status,
    finishedAt: job.finishedAt,
    resources: job.progress.resources,
    refused: job.progress.refused,
    output: Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([type, count]) => ({ type, count })),
    error: [{ type: 'OperationOutcome', count: job.progress.refused, url: errorUrl }],
    lakeObjects: chunks.flatMap((c) => c.objectKeys).sort(),
  };
}

/** The status of a job for its owner (https://hl7.org/fhir/R4/async.html#3.1.6.3). */
export type ImportStatus =
  | { state: 'running'; progress: string; job: ImportJobRecord }
  | { state: 'done'; manifest: Record<string, unknown>; job: ImportJobRecord }
  | { state: 'failed'; outcome: OperationOutcome; job: ImportJobRecord };

/**
 * `GET` on a job's URL: running → progress; completed → the manifest; failed → an OperationOutcome.
 * A job is visible only to its own source (404 otherwise, as for a job that does not exist).
 */
export async function importStatus(
  deps: { jobs: ImportJobStore; launcher?: ImportLauncher; clock?: Clock },
  source: string,
  jobId: string,
  errorUrl: (key: string) => string,
): Promise<ImportStatus> {
  const job = /^[A-Za-z0-9-]{8,64}$/.test(jobId) ? await deps.jobs.get(jobId) : undefined;
  if (!job || job.source !== source) throw new ClientError(notFound('No such import job'));
  if (job.status === 'completed') return { state: 'done', job, manifest: importManifest(job, await deps.jobs.chunks(jobId), errorUrl(errorOutputKey(jobId))) };
  if (job.status === 'failed') {
    return { state: 'failed', job, outcome: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: `Import job failed (${job.error ?? 'error'}); start it again to resume` }] } };
  }
  if (deps.launcher && deps.clock) await resumeIfStale({ jobs: deps.jobs, launcher: deps.launcher, clock: deps.clock }, job);
  return { state: 'running', job, progress: progressText(job) };
}

/** A runner that has not written its heartbeat for this long is taken for dead. */
export const STALE_RUNNER_MS = 30_000;

/**
 * Resumes a job whose runner died (no heartbeat for {@link STALE_RUNNER_MS}): launches a new runner, which skips
 * the chunks already recorded. The heartbeat is renewed first, so concurrent status calls launch one runner.
 * @returns true when a runner was launched
 */
export async function resumeIfStale(deps: { jobs: ImportJobStore; launcher: ImportLauncher; clock: Clock }, job: ImportJobRecord): Promise<boolean> {
  if (job.status !== 'running' && job.status !== 'queued') return false;
  const now = deps.clock.now();
  const last = Date.parse(job.runner?.heartbeatAt ?? job.updatedAt);
  if (now.getTime() - last < STALE_RUNNER_MS) return false;
  job.runner = { id: 'relaunch', heartbeatAt: now.toISOString() };
  await deps.jobs.update(job);
  await deps.launcher.launch(job.id);
  return true;
}

/**
 * Renews a running job's heartbeat, with its progress from the chunk records, when the last one is older than
 * `everyMs`: a runner that is not one process (the AWS state machine's chunk invocations) thus keeps a status call's
 * {@link resumeIfStale} from taking it for dead and starting a second runner, and shows progress while it runs.
 * @returns true when renewed
 */
export async function renewHeartbeat(deps: { jobs: ImportJobStore; clock: Clock }, jobId: string, runnerId: string, everyMs = STALE_RUNNER_MS / 3): Promise<boolean> {
  const job = await deps.jobs.get(jobId);
  if (!job || job.status !== 'running') return false;
  const now = deps.clock.now();
  if (now.getTime() - Date.parse(job.runner?.heartbeatAt ?? job.updatedAt) < everyMs) return false;
  const at = now.toISOString();
  Object.assign(job, { updatedAt: at, runner: { id: runnerId, heartbeatAt: at }, progress: progressOf(job, await deps.jobs.chunks(jobId)) });
  await deps.jobs.update(job);
  return true;
}
