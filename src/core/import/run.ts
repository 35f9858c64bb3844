/**
 * Running a bulk import job (the work behind an asynchronous `$import`, https://hl7.org/fhir/R4/async.html):
 * each input object is read as a stream of lines, cut into chunks of at most `chunkLines` lines or `chunkBytes` bytes (a Bundle file is
 * one chunk), and each chunk is handed to `process` (a worker thread locally, a Lambda per chunk in AWS) with at most
 * `concurrency` chunks in flight, so memory stays bounded whatever the input size. Chunks commit independently and
 * each committed chunk is recorded in the job store; a rerun (after a crash, or a second runner) skips the recorded
 * chunks, and a chunk committed but not recorded is recognised by its deterministic request id ({@link importChunk}).
 * When every chunk is done the error output is written and the job's one audit record appended.
 */
import type { OperationOutcome } from 'fhir/r4';
import type { AuditLog, Clock, ImportChunkRecord, ImportJobRecord, ImportJobStore, ObjectStore } from '../ports';
import { ServerFault } from '../../fhir/errors';
import { recordRequest } from '../use-cases/record-request';
import { byteLineBatches, type ByteLine } from './byte-lines';
import { lineOfError, type ChunkTask } from './chunk';

/** Default number of lines per chunk. */
export const DEFAULT_CHUNK_LINES = 1000;
/**
 * Default bytes per chunk: a chunk ends at this many bytes of lines even before {@link DEFAULT_CHUNK_LINES} lines, so
 * a file of large resources (attachments, long reports) cannot make a chunk, and the heap of the worker holding it,
 * grow with the lines' size.
 */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024;

/**
 * Parts a first-wave input (Patients, imported before every other input so references to them resolve) is cut into
 * when it is small. The wave runs alone, so one chunk of it left every other worker idle: at 1× Synthea, its one
 * chunk of 123 Patients took 0.78 s of a 4.5 s import with the second core idle. Cut into about 8 parts, it keeps up
 * to 8 workers busy; a Patient input over 8 × `bytes` is cut as any other input. Local jobs only: the local runner
 * orders chunks of one file that share a resource id, the AWS Distributed Map does not, so there a Patient file
 * that fits one chunk stays one (a Patient on two of its lines is then written in line order).
 */
export const WAVE_PARTS = 8;
/** The smallest chunk a first-wave input is cut into (a small file is not cut into chunks of a few lines). */
export const MIN_WAVE_CHUNK_BYTES = 16 * 1024;

/** Whether an input is of the first wave (Patients: committed before the inputs that refer to them are read). */
export function isFirstWave(input: Pick<ImportJobRecord['inputs'][number], 'type'>): boolean {
  return input.type === 'Patient';
}

/**
 * Bytes after which a chunk of `input` ends under the job's cut: `cut.bytes`, or for a first-wave input of a job with
 * `waveParts`, its size over `waveParts` (at least {@link MIN_WAVE_CHUNK_BYTES}, at most `cut.bytes`). A function of
 * the recorded cut and the input's size only, so the local runner, a resumed run and the AWS plan cut alike.
 */
export function chunkBytesOf(cut: { bytes: number; waveParts?: number }, input: Pick<ImportJobRecord['inputs'][number], 'type' | 'size'>): number {
  if (!cut.waveParts || !isFirstWave(input)) return cut.bytes;
  return Math.min(cut.bytes, Math.max(MIN_WAVE_CHUNK_BYTES, Math.ceil(input.size / cut.waveParts)));
}

/**
 * A chunk recorded by an earlier run ends elsewhere than the cut of this run (a job started before its cut was
 * recorded, then resumed with other `IMPORT_CHUNK_*` settings): going on would skip or repeat lines, so the job fails.
 */
export class ImportCutError extends ServerFault {
  override readonly name = 'ImportCutError';
}

/**
 * The job's cut: its own once recorded, else `lines` and `bytes`. A job with no chunk recorded yet keeps that cut
 * (the caller stores the job before any chunk runs); one with chunks recorded before cuts were kept (an earlier
 * version) is not given one, and {@link checkRecordedEnd} refuses a cut its chunks do not fit.
 * @param recordedChunks - how many chunks of the job are recorded
 * @returns the cut to use
 */
export function fixChunking(
  job: ImportJobRecord,
  recordedChunks: number,
  lines = DEFAULT_CHUNK_LINES,
  bytes = DEFAULT_CHUNK_BYTES,
  waveParts?: number,
): NonNullable<ImportJobRecord['chunking']> {
  if (job.chunking) return job.chunking;
  if (recordedChunks > 0) return { lines, bytes };
  job.chunking = { lines, bytes, ...(waveParts ? { waveParts } : {}), exact: true };
  return job.chunking;
}

/**
 * A line's bytes as the job counts them. A job of an earlier version (no `exact` in its cut) counted a line's text in
 * UTF-8 plus one; its recorded chunk ends are comparable with this run's only where that count is the line's own,
 * so a line where they differ (a CRLF line end, malformed UTF-8) or holding a lone CR (which `readline` took for a
 * line end) fails the job with {@link ImportCutError} before any chunk from it runs: checking the ends of recorded
 * chunks alone could match a later end and skip the lines of a chunk never recorded.
 */
export function lineBytesOf(job: ImportJobRecord, cut: NonNullable<ImportJobRecord['chunking']>, line: ByteLine, file: number, lineNo: number): number {
  if (cut.exact) return line.bytes;
  if (Buffer.byteLength(line.text, 'utf8') + 1 === line.bytes && !line.text.includes('\r')) return line.bytes;
  throw new ImportCutError(`import job ${job.id}: line ${lineNo} of input ${file + 1} is counted otherwise than when the job started (an earlier version); run it again as a new job`);
}

/** The check of a recorded chunk against this run's cut: its end in bytes must be the same. */
export function checkRecordedEnd(job: ImportJobRecord, rec: Pick<ImportChunkRecord, 'file' | 'chunk' | 'bytes'>, end: number): void {
  if (rec.bytes === end) return;
  throw new ImportCutError(`import job ${job.id}: chunk ${rec.chunk} of input ${rec.file + 1} was recorded ending at byte ${rec.bytes}, this run cuts it at ${end}`);
}

/** What {@link runImportJob} needs. */
export interface RunDeps {
  /** The import bucket holding the inputs (and the error output). */
  inputs: ObjectStore;
  jobs: ImportJobStore;
  audit: AuditLog;
  clock: Clock;
  /** Imports one chunk (in a worker, or in process). */
  process(task: ChunkTask): Promise<ImportChunkRecord>;
  concurrency: number;
  chunkLines?: number;
  /** Bytes after which a chunk ends even with fewer lines ({@link DEFAULT_CHUNK_BYTES}). */
  chunkBytes?: number;
  /** Who runs the job (for the heartbeat). */
  runnerId: string;
}

/** The key of a job's error output in the import bucket. */
export function errorOutputKey(jobId: string): string {
  return `import-jobs/${jobId}/errors.ndjson`;
}

/** The lines of an object with their byte lengths, a stream piece's worth at a time ({@link byteLineBatches}). */
async function* objectLines(store: ObjectStore, key: string): AsyncGenerator<ByteLine[]> {
  const stream = store.getStream ? await store.getStream(key) : undefined;
  const source = stream ?? (await store.get(key).then((b) => (b ? [b] : undefined)));
  if (!source) throw new Error(`import input ${key} is missing`);
  yield* byteLineBatches(source);
}

/** A counter of free slots: `acquire` waits for one, `release` frees one, `drain` waits for all. */
function slots(n: number) {
  let free = n;
  const waiting: (() => void)[] = [];
  let idle: (() => void)[] = [];
  return {
    async acquire(): Promise<void> {
      if (free > 0) return void free--;
      await new Promise<void>((r) => waiting.push(r));
    },
    release(): void {
      const next = waiting.shift();
      if (next) return next();
      free++;
      if (free === n) {
        for (const r of idle) r();
        idle = [];
      }
    },
    drain: (): Promise<void> => (free === n ? Promise.resolve() : new Promise<void>((r) => idle.push(r))),
  };
}

/** The end of the JSON string whose opening quote is at `open` (the index of its closing quote), or -1. */
function stringEnd(line: string, open: number): number {
  for (let q = line.indexOf('"', open + 1); q >= 0; q = line.indexOf('"', q + 1)) {
    let b = q - 1;
    while (line.charCodeAt(b) === 0x5c) b--;
    if ((q - 1 - b) % 2 === 0) return q; // not escaped: an even run of backslashes before it
  }
  return -1;
}

/** A JSON string's text between its quotes, unescaped (undefined when the escapes are malformed). */
function unescape(raw: string): string | undefined {
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return undefined;
  }
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

/**
 * Adds to `out` the string value of every top-level `"id"` key of one NDJSON line (the resource's id; a repeated key
 * gives each), read by a scan of its structure rather than a parse: ids of contained resources, of elements and text
 * inside strings are not the line's. Escaped keys and values (`"\u0069d"`) are decoded. A malformed line adds what
 * was read before the fault (the chunk refuses the line anyway).
 */
export function topLevelIds(line: string, out: Set<string>): void {
  let depth = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c === 0x22) {
      const end = stringEnd(line, i);
      if (end < 0) return;
      if (depth === 1) {
        let j = end + 1;
        while (isSpace(line.charCodeAt(j))) j++;
        if (line.charCodeAt(j) === 0x3a && unescape(line.slice(i + 1, end)) === 'id') {
          // a key at the top level, and it is "id": its value, if a string
          j++;
          while (isSpace(line.charCodeAt(j))) j++;
          if (line.charCodeAt(j) === 0x22) {
            const vEnd = stringEnd(line, j);
            if (vEnd < 0) return;
            const id = unescape(line.slice(j + 1, vEnd));
            if (id !== undefined) out.add(id);
            i = vEnd;
            continue;
          }
        }
      }
      i = end;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/**
 * The ids a chunk's lines may write (each line's top-level `"id"`), to order chunks of one file that share a
 * resource. Nested ids are not included: a contained resource or an element id does not write a resource, and
 * counting them (as an earlier regex did) made every chunk of a file whose resources contain the same ids, such as
 * Synthea's ExplanationOfBenefit, wait for the one before.
 */
export function lineIds(lines: readonly string[]): Set<string> {
  const ids = new Set<string>();
  for (const line of lines) topLevelIds(line, ids);
  return ids;
}

/**
 * The heap a local import worker needs for a job: `base` MB (`IMPORT_WORKER_HEAP_MB`) for NDJSON, whose chunks are
 * bounded by lines and bytes; a Bundle file is one request, parsed, validated, pseudonymised and serialised whole,
 * so a job with Bundle files adds 48 MB per MiB of its largest (the Synthea Bundles, up to 3.9 MB, ran out of a
 * 144 MB heap).
 */
export function workerHeapMb(job: Pick<ImportJobRecord, 'inputs'>, base: number): number {
  const largest = Math.max(0, ...job.inputs.filter((i) => i.kind === 'bundle').map((i) => i.size));
  return largest > 0 ? base + 48 * Math.ceil(largest / (1024 * 1024)) : base;
}

/** Sums chunk records into the job's progress. */
export function progressOf(job: ImportJobRecord, chunks: readonly ImportChunkRecord[]): ImportJobRecord['progress'] {
  const p = { chunksDone: chunks.length, resources: 0, refused: 0, bytesDone: 0, bytesTotal: job.progress.bytesTotal };
  const lastBytes = new Map<number, number>();
  for (const c of chunks) {
    p.resources += Object.values(c.counts).reduce((a, b) => a + b, 0);
    p.refused += c.refused;
    lastBytes.set(c.file, Math.max(lastBytes.get(c.file) ?? 0, c.bytes));
  }
  for (const b of lastBytes.values()) p.bytesDone += b;
  p.bytesDone = Math.min(p.bytesDone, p.bytesTotal);
  return p;
}

/**
 * Runs (or resumes) a job to its end: every chunk of every input committed once, then the error output (one
 * OperationOutcome per refused line, ordered by file and line), the job's audit record and its `completed` state.
 * A failure of a chunk fails the job (status `failed`, the error's name only); a rerun resumes it.
 * @returns the job as stored at the end
 */
export async function runImportJob(deps: RunDeps, jobId: string): Promise<ImportJobRecord> {
  const job = await deps.jobs.get(jobId);
  if (!job) throw new Error(`no import job ${jobId}`);
  if (job.status === 'completed') return job;
  const recorded = await deps.jobs.chunks(jobId);
  // stored with the first heartbeat below, before any chunk runs
  const cut = fixChunking(job, recorded.length, deps.chunkLines, deps.chunkBytes, WAVE_PARTS);
  const chunkLines = cut.lines;
  const done = new Map(recorded.map((c) => [`${c.file}-${c.chunk}`, c]));
  const records = [...recorded];
  const beat = (): ImportJobRecord => {
    const now = deps.clock.now().toISOString();
    Object.assign(job, { status: 'running', updatedAt: now, runner: { id: deps.runnerId, heartbeatAt: now }, progress: progressOf(job, records) });
    return job;
  };
  await deps.jobs.update(beat());
  const pool = slots(Math.max(1, deps.concurrency));
  let failure: unknown;
  let lastBeat = Date.now();
  // chunks in flight with the ids they may write: a chunk sharing an id with an earlier chunk of its file in flight
  // waits for it, so a resource on lines of two chunks is written in line order (like lines within one chunk)
  const inFlight = new Set<{ file: number; ids: Set<string>; done: Promise<void> }>();
  const dispatch = async (task: ChunkTask): Promise<void> => {
    const ids = task.kind === 'ndjson' ? lineIds(task.lines) : new Set<string>();
    for (;;) {
      const earlier = [...inFlight].filter((f) => f.file === task.file && [...ids].some((id) => f.ids.has(id)));
      if (earlier.length === 0) break;
      await Promise.all(earlier.map((f) => f.done));
    }
    await pool.acquire();
    if (failure) return pool.release();
    let finished!: () => void;
    const flight = { file: task.file, ids, done: new Promise<void>((r) => (finished = r)) };
    inFlight.add(flight);
    void deps
      .process(task)
      .then(async (rec) => {
        await deps.jobs.putChunk(jobId, rec);
        records.push(rec);
        if (Date.now() - lastBeat > 500) {
          lastBeat = Date.now();
          await deps.jobs.update(beat());
        }
      })
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => {
        inFlight.delete(flight);
        finished();
        pool.release();
      });
  };
  const principal = { source: job.source, clientId: job.clientId, scope: job.scope };
  for (const [file, input] of job.inputs.entries()) {
    if (failure) break;
    const common = { jobId, jobCreatedAt: job.createdAt, principal, file, fileName: input.url, kind: input.kind, type: input.type };
    if (input.kind === 'bundle') {
      if (done.has(`${file}-0`)) continue;
      const lines: string[] = [];
      for await (const batch of objectLines(deps.inputs, input.key)) for (const l of batch) lines.push(l.text);
      await dispatch({ ...common, chunk: 0, firstLine: 1, lines, last: true, bytes: input.size });
      continue;
    }
    const chunkBytes = chunkBytesOf(cut, input);
    let chunk = 0;
    let lines: string[] = [];
    let firstLine = 1;
    let bytes = 0;
    let chunkStart = 0;
    const flush = async (last: boolean): Promise<void> => {
      const rec = done.get(`${file}-${chunk}`);
      if (rec) checkRecordedEnd(job, rec, bytes);
      else if (lines.length > 0 || chunk === 0) await dispatch({ ...common, chunk, firstLine, lines, last, bytes });
      chunk++;
      firstLine += lines.length;
      lines = [];
      chunkStart = bytes;
    };
    try {
      read: for await (const batch of objectLines(deps.inputs, input.key)) {
        for (const l of batch) {
          if (failure) break read;
          bytes += lineBytesOf(job, cut, l, file, firstLine + lines.length);
          lines.push(l.text);
          if (lines.length >= chunkLines || bytes - chunkStart >= chunkBytes) await flush(false);
        }
      }
      if (lines.length > 0 && !failure) await flush(true);
    } catch (err) {
      if (!(err instanceof ImportCutError)) throw err;
      failure ??= err;
    }
    // Patients first: the resources of later files that refer to them find them committed
    if (isFirstWave(input)) await pool.drain();
  }
  await pool.drain();
  if (failure) {
    Object.assign(job, { status: 'failed', error: (failure as Error)?.name ?? 'Error', updatedAt: deps.clock.now().toISOString(), progress: progressOf(job, records) });
    await deps.jobs.update(job);
    throw failure;
  }
  return finishJob(deps, job);
}

/** The error output, the job's audit record and its final state (when every chunk is recorded). */
export async function finishJob(deps: Pick<RunDeps, 'inputs' | 'jobs' | 'audit' | 'clock'>, job: ImportJobRecord): Promise<ImportJobRecord> {
  const chunks = (await deps.jobs.chunks(job.id)).sort((a, b) => a.file - b.file || a.chunk - b.chunk);
  const errors = chunks.flatMap((c) => (c.errors as OperationOutcome[]).map((e) => ({ file: c.file, e }))).sort((a, b) => a.file - b.file || lineOfError(a.e) - lineOfError(b.e));
  await deps.inputs.put(errorOutputKey(job.id), errors.map((x) => JSON.stringify(x.e)).join('\n') + (errors.length ? '\n' : ''), { contentType: 'application/fhir+ndjson' });
  const counts: Record<string, number> = {};
  for (const c of chunks) for (const [t, n] of Object.entries(c.counts)) counts[t] = (counts[t] ?? 0) + n;
  await recordRequest(deps.audit, deps.clock, {
    requestId: `imp-${job.id}`,
    principal: { source: job.source, clientId: job.clientId },
    interaction: 'import',
    counts,
    status: 200,
  });
  const now = deps.clock.now().toISOString();
  Object.assign(job, { status: 'completed', finishedAt: now, updatedAt: now, progress: progressOf(job, chunks) });
  await deps.jobs.update(job);
  return job;
}
