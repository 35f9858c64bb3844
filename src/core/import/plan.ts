/**
 * The plan of a job for a fan-out engine (the Step Functions Distributed Map in AWS): every chunk of every input as
 * an item `{ jobId, file, chunk, firstLine, start, end }` with its byte range, so each chunk can be imported by its own
 * function invocation reading only its range (https://hl7.org/fhir/R4/async.html: the work behind `$import`). The
 * plan is made by streaming each input once (counting lines, bounded memory); chunks already recorded are left out,
 * so a rerun resumes. Patient inputs form the first wave, every other input the second (references to patients
 * resolve once they are committed).
 */
import type { ImportJobRecord, ImportJobStore, ObjectStore } from '../ports';
import { byteLines } from './byte-lines';
import type { ChunkTask } from './chunk';
import { checkRecordedEnd, chunkBytesOf, DEFAULT_CHUNK_BYTES, fixChunking, isFirstWave, lineBytesOf } from './run';

/** One chunk to import. */
export interface ChunkItem {
  jobId: string;
  file: number;
  chunk: number;
  firstLine: number;
  /** Byte range of the chunk's lines in the input (end exclusive). */
  start: number;
  end: number;
  last: boolean;
}

/** Splits a job's inputs into chunk items (at most `chunkLines` lines or `chunkBytes` bytes each, as the local runner cuts them) in two waves (Patients, then the rest), leaving out recorded chunks. */
export async function planChunks(store: ObjectStore, jobs: ImportJobStore, job: ImportJobRecord, chunkLines: number, chunkBytes = DEFAULT_CHUNK_BYTES): Promise<[ChunkItem[], ChunkItem[]]> {
  const recorded = await jobs.chunks(job.id);
  // the job's own cut once recorded (the caller stores the job with it before any chunk runs)
  const cut = fixChunking(job, recorded.length, chunkLines, chunkBytes);
  chunkLines = cut.lines;
  const done = new Map(recorded.map((c) => [`${c.file}-${c.chunk}`, c]));
  const waves: [ChunkItem[], ChunkItem[]] = [[], []];
  for (const [file, input] of job.inputs.entries()) {
    const wave = isFirstWave(input) ? waves[0] : waves[1];
    const fileBytes = chunkBytesOf(cut, input);
    const push = (it: Omit<ChunkItem, 'jobId' | 'file'>): void => {
      const rec = done.get(`${file}-${it.chunk}`);
      if (rec) checkRecordedEnd(job, rec, it.end);
      else wave.push({ jobId: job.id, file, ...it });
    };
    if (input.kind === 'bundle') {
      push({ chunk: 0, firstLine: 1, start: 0, end: input.size, last: true });
      continue;
    }
    const body = store.getStream ? await store.getStream(input.key) : undefined;
    if (!body) throw new Error(`import input ${file} is missing`);
    let chunk = 0;
    let n = 0;
    let start = 0;
    let pos = 0;
    let line = 1;
    for await (const l of byteLines(body)) {
      pos += lineBytesOf(job, cut, l, file, line + n);
      if (++n === chunkLines || pos - start >= fileBytes) {
        push({ chunk, firstLine: line, start, end: pos, last: false });
        chunk++;
        line += n;
        n = 0;
        start = pos;
      }
    }
    if (n > 0) push({ chunk, firstLine: line, start, end: Math.max(pos, start), last: true });
  }
  return waves;
}

/** The task of a chunk item: its lines read from its byte range. */
export async function chunkTask(store: ObjectStore, job: ImportJobRecord, item: ChunkItem): Promise<ChunkTask> {
  const input = job.inputs[item.file]!;
  const body = store.getStream ? await store.getStream(input.key, { start: item.start, end: item.end }) : undefined;
  if (!body) throw new Error(`import input ${item.file} is missing`);
  const lines: string[] = [];
  for await (const l of byteLines(body)) lines.push(l.text);
  return {
    jobId: job.id,
    jobCreatedAt: job.createdAt,
    principal: { source: job.source, clientId: job.clientId, scope: job.scope },
    file: item.file,
    fileName: input.url,
    kind: input.kind,
    type: input.type,
    chunk: item.chunk,
    firstLine: item.firstLine,
    lines,
    last: item.last,
    bytes: item.end,
  };
}
