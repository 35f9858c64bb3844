/**
 * One chunk of a bulk import through the REST write path, no shortcut: a chunk of an NDJSON file (up to N lines)
 * is one `batch` request (https://hl7.org/fhir/R4/http.html#transaction) to the {@link Ingestor} through
 * {@link writeResources} (strict validation, pseudonymisation with the identity store, version index, lake objects,
 * commit manifest, events, triage), and a Bundle file is one request as it is (a transaction keeps its `urn:uuid`
 * rewrite). Each chunk has a deterministic request id, `imp-{jobId}-{file}-{chunk}`: a chunk whose commit manifest
 * already exists (the process died after its commit, before its record) is not written again.
 */
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { OperationOutcomeError } from '../../fhir/errors';
import { JsonInputError, parseFhirJson } from '../../fhir/json';
import { getStatus } from '../../fhir/outcomes';
import { commitManifestKey, partitionDate, type CommitManifest } from '../lake-layout';
import type { AuditLog, Clock, ImportChunkRecord, ObjectStore } from '../ports';
import type { Principal, ResourceValidator } from '../ingest';
import { recordRequest } from '../use-cases/record-request';
import { writeResources, type WriteDeps } from '../use-cases/write';
import { importError, readChunkLines } from './lines';

/** One unit of work: a chunk of lines of an NDJSON file, or a whole Bundle file. */
export interface ChunkTask {
  jobId: string;
  /** When the job was created (ISO): commit manifests of its chunks are dated from then on. */
  jobCreatedAt: string;
  principal: { source: string; clientId: string; scope: string };
  file: number;
  fileName: string;
  kind: 'ndjson' | 'bundle';
  /** Resource type of an NDJSON file (`input.type`). */
  type?: string;
  chunk: number;
  firstLine: number;
  lines: string[];
  /** The chunk ends its file. */
  last: boolean;
  /** Bytes read of the file up to the end of this chunk. */
  bytes: number;
}

/** What {@link importChunk} needs. */
export interface ChunkDeps extends WriteDeps {
  lake: ObjectStore;
  audit: AuditLog;
  clock: Clock;
  validate: ResourceValidator;
  validationLevel?: string;
  /** The core principal of the job's token (scopes checked per entry, as for REST). */
  principalOf(p: ChunkTask['principal']): Principal;
}

/** The deterministic request id of a chunk: its lake objects, manifest, events and audit record carry it. */
export function chunkRequestId(jobId: string, file: number, chunk: number): string {
  return `imp-${jobId}-${file}-${chunk}`;
}

/** The commit manifest of a chunk's request when it was committed (any day from the job's creation to now). */
export async function findCommit(lake: ObjectStore, requestId: string, from: Date, to: Date): Promise<CommitManifest | undefined> {
  for (let d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate())); d <= to; d = new Date(d.getTime() + 86_400_000)) {
    const body = await lake.get(commitManifestKey(partitionDate(d), requestId));
    if (body) return JSON.parse(Buffer.from(body).toString('utf8')) as CommitManifest;
  }
  return undefined;
}

/** The refused entries of a batch-response, as import errors at their lines. */
function entryErrors(task: ChunkTask, request: Bundle, response: Bundle, lineOf: number[]): OperationOutcome[] {
  const out: OperationOutcome[] = [];
  (response.entry ?? []).forEach((e, i) => {
    if (e.response?.outcome && !/^2/.test(e.response.status ?? '')) {
      const type = task.kind === 'ndjson' ? request.entry?.[i]?.resource?.resourceType : undefined;
      out.push(importError({ file: task.fileName, line: lineOf[i] ?? task.firstLine }, (e.response.outcome as OperationOutcome).issue, type));
    }
  });
  return out;
}

/**
 * Re-derives the refused lines of a chunk that was committed but not recorded (its errors were lost with the
 * process): the same line checks and the same validator; refusals by scope or ownership are not re-derived.
 */
function rederiveErrors(deps: ChunkDeps, task: ChunkTask): OperationOutcome[] {
  const read = readChunkLines(task.fileName, task.type, task.firstLine, task.lines, task.last);
  (read.bundle.entry ?? []).forEach((e, i) => {
    const errors = deps.validate(e.resource as Resource, `Bundle.entry[${i}].resource`, deps.validationLevel).filter((x) => x.severity === 'error' || x.severity === 'fatal');
    if (errors.length > 0) read.errors.push(importError({ file: task.fileName, line: read.lineOf[i]! }, errors, (e.resource as Resource).resourceType));
  });
  return read.errors.sort((a, b) => lineOfError(a) - lineOfError(b));
}

/** The line number an import error names. */
export function lineOfError(o: OperationOutcome): number {
  return o.extension?.[0]?.extension?.find((x) => x.url === 'line')?.valueInteger ?? 0;
}

/** Parses a Bundle file (one request); a file that is not JSON is one refusal at line 1. */
function bundleBody(task: ChunkTask): { body?: unknown; error?: OperationOutcome } {
  const text = task.lines.join('\n');
  try {
    return { body: parseFhirJson(text) };
  } catch (err) {
    if (!(err instanceof JsonInputError)) throw err;
    return { error: importError({ file: task.fileName, line: err.line }, [{ severity: 'error', code: 'structure', diagnostics: `Malformed JSON (${err.problem}) at column ${err.column}` }]) };
  }
}

/**
 * Imports one chunk (https://hl7.org/fhir/R4/async.html: the work of an asynchronous `$import`), exactly once per
 * deterministic request id: when its commit manifest exists, nothing is written again and the record is rebuilt
 * from the manifest. Writes one audit record per chunk (interaction `batch`/`transaction`, its request id).
 * @returns the chunk's record (counts, lake objects, refused lines as OperationOutcomes)
 */
export async function importChunk(deps: ChunkDeps, task: ChunkTask): Promise<ImportChunkRecord> {
  const requestId = chunkRequestId(task.jobId, task.file, task.chunk);
  const base = { file: task.file, chunk: task.chunk, requestId, bytes: task.bytes, lines: task.lines.length };
  const done = await findCommit(deps.lake, requestId, new Date(task.jobCreatedAt), deps.clock.now());
  if (done) {
    const counts: Record<string, number> = {};
    for (const o of done.objects) counts[o.resourceType] = (counts[o.resourceType] ?? 0) + o.count;
    const errors = task.kind === 'ndjson' ? rederiveErrors(deps, task) : [];
    return { ...base, counts, objectKeys: done.objects.map((o) => o.key), refused: errors.length, errors };
  }
  const principal = deps.principalOf(task.principal);
  let body: unknown;
  let lineOf: number[] = [];
  let errors: OperationOutcome[] = [];
  if (task.kind === 'ndjson') {
    const read = readChunkLines(task.fileName, task.type, task.firstLine, task.lines, task.last);
    body = read.bundle;
    lineOf = read.lineOf;
    errors = read.errors;
  } else {
    const b = bundleBody(task);
    if (b.error) return { ...base, counts: {}, objectKeys: [], refused: 1, errors: [b.error] };
    body = b.body;
  }
  const entries = (body as Bundle).entry?.length ?? 0;
  let counts: Record<string, number> = {};
  let objectKeys: string[] = [];
  let status = 200;
  let interaction: 'batch' | 'transaction' = (body as Bundle).type === 'transaction' ? 'transaction' : 'batch';
  if (entries > 0 || task.kind === 'bundle') {
    try {
      const result = await writeResources(deps, { requestId, method: 'POST', body, principal, validationLevel: deps.validationLevel });
      counts = result.counts;
      objectKeys = result.objectKeys;
      interaction = result.interaction === 'transaction' ? 'transaction' : 'batch';
      const response = result.response[1] as Bundle | undefined;
      if (response) errors.push(...entryErrors(task, body as Bundle, response, task.kind === 'ndjson' ? lineOf : (response.entry ?? []).map(() => 1)));
    } catch (err) {
      if (!(err instanceof OperationOutcomeError) || getStatus(err.outcome) >= 500) throw err;
      // a refused request (a transaction with a bad entry, a Bundle that is not batch/transaction): nothing written
      status = getStatus(err.outcome);
      errors.push(importError({ file: task.fileName, line: task.kind === 'ndjson' ? task.firstLine : 1 }, err.outcome.issue));
    }
  }
  errors.sort((a, b) => lineOfError(a) - lineOfError(b));
  if (entries > 0 || task.kind === 'bundle') {
    await recordRequest(deps.audit, deps.clock, { requestId, principal, interaction, counts, objectKeys, status, outcomeCode: status >= 400 ? errors[0]?.issue[0]?.code : undefined });
  }
  const refused = task.kind === 'bundle' && status >= 400 ? Math.max(1, entries) : errors.length;
  return { ...base, counts, objectKeys, refused, errors };
}
