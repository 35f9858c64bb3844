/**
 * One chunk of a bulk import through the REST write path, no shortcut: a chunk of an NDJSON file (up to N lines)
 * is one `batch` request (https://hl7.org/fhir/R4/http.html#transaction) to the {@link Ingestor} through
 * {@link writeResources} (strict validation, pseudonymisation with the identity store, version index, lake objects,
 * commit manifest, events, triage), and a Bundle file is one request as it is (a transaction keeps its `urn:uuid`
 * rewrite). Each chunk has a deterministic request id, `imp-{jobId}-{file}-{chunk}`: a chunk whose commit manifest
 * already exists (the process died after its commit, before its record) is not written again.
 */
import { createHash } from 'node:crypto';
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
  /** Bytes a line may have (the REST body limit, `MAX_BODY_BYTES`); a longer line is refused unread. */
  maxLineBytes?: number;
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
 * Re-derives the refused entries of a request that was committed but not recorded (its errors were lost with the
 * process): the same validator; refusals by scope or ownership are not re-derived.
 */
function rederiveErrors(deps: ChunkDeps, task: ChunkTask, unit: Unit): OperationOutcome[] {
  const out: OperationOutcome[] = [];
  (unit.body.entry ?? []).forEach((e, i) => {
    const errors = deps.validate(e.resource as Resource, `Bundle.entry[${i}].resource`, deps.validationLevel).filter((x) => x.severity === 'error' || x.severity === 'fatal');
    if (errors.length > 0) out.push(importError({ file: task.fileName, line: unit.lineOf[i]! }, errors, (e.resource as Resource).resourceType));
  });
  return out;
}

/** One request of a chunk: its id, its Bundle and the line of each entry. */
interface Unit {
  requestId: string;
  body: Bundle;
  lineOf: number[];
}

/**
 * The requests of an NDJSON chunk: one batch, split where a resource comes again (a later line updates what an
 * earlier line of the chunk wrote, in order: one Bundle may not touch a resource twice,
 * https://hl7.org/fhir/R4/http.html#trules). The first request has the chunk's id, the next ones `{id}.{k}`.
 */
function ndjsonUnits(requestId: string, bundle: Bundle, lineOf: number[]): Unit[] {
  const units: Unit[] = [];
  const seen: Set<string>[] = [];
  (bundle.entry ?? []).forEach((e, i) => {
    const key = e.request?.method === 'PUT' ? e.request.url : undefined;
    let k = 0;
    while (key && seen[k]?.has(key)) k++;
    if (!units[k]) {
      units[k] = { requestId: k === 0 ? requestId : `${requestId}.${k}`, body: { resourceType: 'Bundle', type: 'batch', entry: [] }, lineOf: [] };
      seen[k] = new Set();
    }
    if (key) seen[k]!.add(key);
    units[k]!.body.entry!.push(e);
    units[k]!.lineOf.push(lineOf[i]!);
  });
  return units;
}

/** The line number an import error names. */
export function lineOfError(o: OperationOutcome): number {
  return o.extension?.[0]?.extension?.find((x) => x.url === 'line')?.valueInteger ?? 0;
}

/** Parses a Bundle file (one request); a file that is not JSON is one refusal at line 1. */
function bundleBody(task: ChunkTask): { body?: unknown; error?: OperationOutcome } {
  const text = task.lines.join('\n');
  try {
    const body = parseFhirJson(text);
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return { body };
    return { error: importError({ file: task.fileName, line: 1 }, [{ severity: 'error', code: 'structure', diagnostics: 'The file is not one Bundle (a JSON object)' }]) };
  } catch (err) {
    if (!(err instanceof JsonInputError)) throw err;
    return { error: importError({ file: task.fileName, line: err.line }, [{ severity: 'error', code: 'structure', diagnostics: `Malformed JSON (${err.problem}) at column ${err.column}` }]) };
  }
}

/** What one request of a chunk stored and refused. */
interface UnitResult {
  counts: Record<string, number>;
  objectKeys: string[];
  errors: OperationOutcome[];
  /** Status of a refused request (a transaction), else 200. */
  status: number;
}

/**
 * Attempts of a request that a concurrent chunk beat to one of its resources (409: nothing was written). Chunks of
 * one job race whenever the same resource is on lines of two chunks in flight (Synthea's Organizations and
 * Practitioners repeat in every patient's Bundle); giving up would refuse a whole chunk of good lines, so the
 * attempts are many and the wait grows (up to about a second), and only a resource that never stops changing fails.
 */
export const CONFLICT_ATTEMPTS = 40;

/**
 * {@link writeResources}, again when the version index reports that a concurrent request (another chunk updating the
 * same resource) changed one of its resources: a 409 writes nothing (https://hl7.org/fhir/R4/http.html#concurrency),
 * so the request is read against the new versions and tried again.
 */
async function writeWithRetry(deps: ChunkDeps, req: Parameters<typeof writeResources>[1]): ReturnType<typeof writeResources> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await writeResources(deps, req);
    } catch (err) {
      const conflict = err instanceof OperationOutcomeError && getStatus(err.outcome) === 409;
      if (!conflict || attempt >= CONFLICT_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, Math.min(1000, 25 * attempt) * (0.5 + Math.random())));
    }
  }
}

/** SHA-256 (hex) of the lines a unit was read from, in order (the unit's body is what they parse to). */
function linesDigest(task: ChunkTask, lineOf: readonly number[]): string {
  const h = createHash('sha256');
  for (const n of lineOf) h.update(task.lines[n - task.firstLine] ?? '').update('\n');
  return h.digest('hex');
}

/** Writes one request through {@link writeResources}, or reads its commit when it was already committed. */
async function importUnit(deps: ChunkDeps, task: ChunkTask, unit: Unit): Promise<UnitResult> {
  const { requestId, body, lineOf } = unit;
  const done = await findCommit(deps.lake, requestId, new Date(task.jobCreatedAt), deps.clock.now());
  if (done) {
    const counts: Record<string, number> = {};
    for (const o of done.objects) counts[o.resourceType] = (counts[o.resourceType] ?? 0) + o.count;
    return { counts, objectKeys: done.objects.map((o) => o.key), errors: task.kind === 'ndjson' ? rederiveErrors(deps, task, unit) : [], status: 200 };
  }
  const principal = deps.principalOf(task.principal);
  const r: UnitResult = { counts: {}, objectKeys: [], errors: [], status: 200 };
  let interaction: 'batch' | 'transaction' = body.type === 'transaction' ? 'transaction' : 'batch';
  // the chunk's own audit record is written by its commit (outbox) or, for a retry of a committed chunk, was already
  let audited = false;
  try {
    // the deterministic request id is also the Idempotency-Key: a chunk re-run after its commit (its manifest not
    // yet written) answers the first response and writes nothing (docs/commit-protocol.md)
    // the unit's lines are its body's source text: their hash stands for the body's in the Idempotency-Key digest
    const bodyDigest = task.kind === 'ndjson' ? linesDigest(task, lineOf) : undefined;
    const result = await writeWithRetry(deps, { requestId, method: 'POST', body, principal, validationLevel: deps.validationLevel, idempotencyKey: requestId, bodyDigest });
    audited = result.audited === true || result.replayed === true;
    r.counts = result.counts;
    r.objectKeys = result.objectKeys;
    interaction = result.interaction === 'transaction' ? 'transaction' : 'batch';
    const response = result.response[1] as Bundle | undefined;
    if (response) r.errors.push(...entryErrors(task, body, response, task.kind === 'ndjson' ? lineOf : (response.entry ?? []).map(() => 1)));
  } catch (err) {
    if (!(err instanceof OperationOutcomeError) || getStatus(err.outcome) >= 500) throw err;
    // a refused request (a transaction with a bad entry, a Bundle that is not batch/transaction): nothing written
    r.status = getStatus(err.outcome);
    r.errors.push(importError({ file: task.fileName, line: lineOf[0] ?? 1 }, err.outcome.issue));
  }
  if (!audited) await recordRequest(deps.audit, deps.clock, {
    requestId,
    principal,
    interaction,
    counts: r.counts,
    objectKeys: r.objectKeys,
    status: r.status,
    outcomeCode: r.status >= 400 ? r.errors[0]?.issue[0]?.code : undefined,
  });
  return r;
}

/**
 * Imports one chunk (https://hl7.org/fhir/R4/async.html: the work of an asynchronous `$import`), exactly once per
 * deterministic request id: a request whose commit manifest exists is not written again, its result is rebuilt
 * from the manifest. Writes one audit record per request (interaction `batch`/`transaction`, its request id).
 * @returns the chunk's record (counts, lake objects, refused lines as OperationOutcomes)
 */
export async function importChunk(deps: ChunkDeps, task: ChunkTask): Promise<ImportChunkRecord> {
  const requestId = chunkRequestId(task.jobId, task.file, task.chunk);
  const base = { file: task.file, chunk: task.chunk, requestId, bytes: task.bytes, lines: task.lines.length };
  const errors: OperationOutcome[] = [];
  let units: Unit[];
  if (task.kind === 'ndjson') {
    const read = readChunkLines(task.fileName, task.type, task.firstLine, task.lines, task.last, deps.maxLineBytes);
    errors.push(...read.errors);
    units = ndjsonUnits(requestId, read.bundle, read.lineOf);
  } else {
    const b = bundleBody(task);
    if (b.error) return { ...base, counts: {}, objectKeys: [], refused: 1, errors: [b.error] };
    units = [{ requestId, body: b.body as Bundle, lineOf: [] }];
  }
  const counts: Record<string, number> = {};
  const objectKeys: string[] = [];
  let refusedBundle = 0;
  for (const unit of units) {
    const r = await importUnit(deps, task, unit);
    for (const [t, n] of Object.entries(r.counts)) counts[t] = (counts[t] ?? 0) + n;
    objectKeys.push(...r.objectKeys);
    errors.push(...r.errors);
    if (task.kind === 'bundle' && r.status >= 400) refusedBundle = Math.max(1, unit.body.entry?.length ?? 0);
  }
  errors.sort((a, b) => lineOfError(a) - lineOfError(b));
  return { ...base, counts, objectKeys, refused: task.kind === 'bundle' && refusedBundle > 0 ? refusedBundle : errors.length, errors };
}
