/**
 * Ports: the only way the core talks to the outside world. Implementations live in
 * `src/adapters/aws` (the cloud) and `src/adapters/local` (`npm start`, tests); `src/bootstrap/`
 * picks one set. The core never imports `@aws-sdk/*` and never reads the environment (only src/config.ts does).
 */
import { ServerFault } from '../fhir/errors';

/** Metadata attached to a stored object (S3 user metadata: ASCII keys and values only, no PHI). */
export type ObjectMetadata = Record<string, string>;

/** One stored object's head. */
export interface ObjectHead {
  key: string;
  size: number;
  metadata: ObjectMetadata;
  /** base64 SHA-256 of the body when the store recorded one. */
  checksumSha256?: string;
}

/**
 * A bucket of objects (S3 semantics). One instance per bucket: lake, identity store, triage, audit, marts.
 * Keys are `/`-separated; a missing object is `undefined`, never an exception.
 */
export interface ObjectStore {
  /** Bucket (or root) this store writes to, for logs and events. */
  readonly name: string;
  /**
   * Writes an object whole (atomic for readers). When `checksumSha256` is given the store verifies it
   * (S3 `x-amz-checksum-sha256`) and records it with the object.
   */
  put(
    key: string,
    body: Uint8Array | string,
    opts?: { contentType?: string; metadata?: ObjectMetadata; checksumSha256?: string },
  ): Promise<void>;
  /** Reads an object, or `undefined` if there is none. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Reads an object as a stream of byte chunks (bounded memory for objects of any size), or `undefined` if there is
   * none; with `range`, only bytes `start` to `end` (exclusive). Optional: a caller without it falls back to
   * {@link ObjectStore.get}.
   */
  getStream?(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array> | undefined>;
  /** Reads an object's head, or `undefined` if there is none. */
  head(key: string): Promise<ObjectHead | undefined>;
  /** Lists keys under a prefix in lexical order, optionally after a key. */
  list(prefix: string, startAfter?: string): Promise<string[]>;
  /** Server-side copy within the bucket (keeps metadata). */
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Deletes keys; missing keys are not an error. */
  delete(keys: string[]): Promise<void>;
}

/** The current version of one logical resource, as the write path knows it. */
export interface VersionRecord {
  versionId: string;
  /** Source system that created the resource (updates are allowed only from it). */
  source: string;
  lastUpdated: string;
  /** Id of the resource in the lake (pseudonym of a Patient, keyed hash otherwise), when pseudonymised. */
  lakeId?: string;
  /**
   * On a request's commit record entry (`Request/{keyed hash}`, docs/commit-protocol.md): the request id that
   * committed (or was aborted under) this key. Optional: resource entries do not carry it.
   */
  requestId?: string;
  /** On a commit record entry: keyed hash of the request (method, URL, body), for the Idempotency-Key check. */
  digest?: string;
  /** On a commit record entry: the request was rolled back by recovery and never commits (the key is free again). */
  aborted?: boolean;
}

/**
 * The version index behind FHIR create/update semantics
 * (https://hl7.org/fhir/R4/http.html#update, #versioning, #concurrency):
 * whether a resource exists, its current version and owning source.
 * Keys are `{type}/{keyed hash of type/id}` (src/core/ingest/index-keys.ts: never the client's id in clear), plus
 * one `Request/{keyed hash}` entry per request, the commit record decided atomically with the versions.
 */
export interface VersionIndex {
  /** Current versions of the given keys (absent keys are missing from the map). */
  get(keys: string[]): Promise<Map<string, VersionRecord>>;
  /**
   * Records new versions atomically: either every entry is written or none. Each entry states the
   * version it expects to replace (`undefined` = must not exist yet); if any expectation no longer holds
   * the call throws a {@link VersionConflictError} and writes nothing (optimistic concurrency).
   */
  commit(entries: { key: string; expected?: string; record: VersionRecord }[]): Promise<void>;
  /**
   * Settles commits left unfinished by a crashed writer, for indexes whose commit takes several steps (DynamoDB
   * beyond one 100-item transaction): every commit that started before `olderThan` and passed its commit point is
   * completed, every other one is aborted (a late writer then fails) and its entries discarded. Readers never see
   * an unfinished commit either way; recovery only frees its keys for new writers. Absent where commits are
   * atomic in one step (the local file index).
   */
  recoverUnfinished?(olderThan: Date): Promise<VersionIndexRecovery>;
}

/** What one {@link VersionIndex.recoverUnfinished} pass settled. */
export interface VersionIndexRecovery {
  /** Unfinished commits found. */
  transactions: number;
  /** Entries made current (their commit had passed its commit point). */
  applied: number;
  /** Entries discarded (their commit never reached its commit point and is now aborted). */
  discarded: number;
}

/**
 * Thrown by {@link VersionIndex.commit} when a concurrent writer got there first
 * (https://hl7.org/fhir/R4/http.html#concurrency). A server fault for whoever does not expect it (a generic 500);
 * the write path catches it and answers 409 Conflict. Its message names the resource type only (no id: messages
 * reach the logs); the key is kept in {@link VersionConflictError.key} for the caller.
 */
export class VersionConflictError extends ServerFault {
  override readonly name = 'VersionConflictError';
  constructor(
    /** The `{type}/{id}` key whose expectation failed. */
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`version conflict on a ${key.split('/')[0]} resource`, options);
  }
}

/** Event published once per committed lake object. Carries no PHI: keys, types, counts, ids (pseudonymous/hashed), versions. */
export interface IngestEvent {
  type: 'tributary.ingest.committed';
  /** Correlation id shared with the response header, the audit record and logs. */
  requestId: string;
  source: string;
  resourceType: string;
  bucket: string;
  objectKey: string;
  count: number;
  checksumSha256: string;
  ingestedAt: string;
  /** Lake ids and versions of the resources in the object. */
  resources: { id: string; versionId: string }[];
  policyVersion?: string;
}

/** Any event Tributary publishes (ingest commits, triage notices). */
export type TributaryEvent = IngestEvent | { type: string; requestId: string; [k: string]: unknown };

/** Publishes events (SNS in AWS; a local SNS-protocol endpoint locally). */
export interface EventBus {
  publish(events: TributaryEvent[]): Promise<void>;
}

/** Time source (injected so tests can fix it). */
export interface Clock {
  now(): Date;
}

/** Keyed hashing for pseudonyms and id hashing: defined with the engine that uses it (`src/fhir/pseudo/keys`). */
export type { KeyService } from '../fhir/pseudo/keys';

/** System clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * One audit record: FHIR AuditEvent-shaped JSON (https://hl7.org/fhir/R4/auditevent.html) with no payloads
 * and no identifiers, only ids, counts, keys and statuses. The audit adapter adds sequence and hash-chain fields.
 */
export interface AuditEntry {
  resourceType: 'AuditEvent';
  [k: string]: unknown;
}

/** Options of {@link AuditLog.append}. */
export interface AuditAppendOptions {
  /** Idempotency key (the request id): at most one record is ever appended per key. */
  key?: string;
}

/**
 * Append-only audit trail (S3 with object lock in AWS; local files locally): per-writer hash chains anchored in a
 * shared anchor chain (src/core/audit/trail.ts).
 */
export interface AuditLog {
  /**
   * Appends one record. With `opts.key` (a request id) the append is idempotent: a second append with the same key
   * writes nothing, even across a crash between two appends (docs/audit.md, "Exactly one record per request").
   */
  append(entry: AuditEntry, opts?: AuditAppendOptions): Promise<void>;
  /** Anchors every chain of this writer that has records not yet anchored (optional: clean shutdowns, tests). */
  flush?(): Promise<void>;
  /** Waits for appends in flight, anchors every chain as closed; later appends fail (optional). */
  close?(): Promise<void>;
}

/** One identity record of a request: whose (pseudonym), from which source, and its place in the request. */
export interface IdentityRef {
  pseudonym: string;
  source: string;
  /** Position of the record in its request (a request may hold several records of one person). */
  seq: number;
}

/** One stored identity record, as {@link IdentityVault.get} returns it. */
export interface IdentityEntry {
  source: string;
  record: unknown;
  /** The request that stored it (absent on records stored before the commit protocol). */
  requestId?: string;
}

/**
 * The identity store, inside the write's transaction (docs/commit-protocol.md): envelope-encrypted records holding
 * the identifiers moved out of the lake, in their own bucket under their own key. Append-only: every committed
 * request adds its records to each person's history (nothing is replaced, so concurrent writers never lose data).
 * A request's records are first staged (pending, not returned by {@link IdentityVault.get}) and become current only
 * when the request commits ({@link IdentityVault.promote}); a refused or rolled-back request's are discarded.
 */
export interface IdentityVault {
  /** Stores a request's records as pending (encrypted; not current). */
  stage(requestId: string, records: (IdentityRef & { record: unknown })[]): Promise<void>;
  /** Makes a committed request's pending records current (appended to each person's history). Idempotent. */
  promote(requestId: string, refs: IdentityRef[]): Promise<void>;
  /** Deletes a request's pending records (refused or rolled back). Idempotent. */
  discard(requestId: string, refs: IdentityRef[]): Promise<void>;
  /** Every current record of a pseudonym (all sources, with history). Needs the vault decryption key. */
  get(pseudonym: string): Promise<IdentityEntry[]>;
}

/** State of a bulk import job (https://hl7.org/fhir/R4/async.html): what it reads and how far it got. */
export interface ImportJobRecord {
  id: string;
  /** The source system the job writes for (from the token that started it). */
  source: string;
  clientId: string;
  /** The scopes of the token that started it (space-joined; scope names are not PHI): each chunk is checked with them. */
  scope: string;
  status: 'queued' | 'running' | 'completed' | 'failed';
  createdAt: string;
  updatedAt: string;
  /** Input objects, in the order they are read: key in the import bucket, resource type (NDJSON) or `Bundle`. */
  inputs: { url: string; key: string; type?: string; kind: 'ndjson' | 'bundle'; size: number }[];
  progress: { chunksDone: number; resources: number; refused: number; bytesDone: number; bytesTotal: number };
  /**
   * How the inputs are cut into chunks (lines, bytes), fixed by the job's first run: chunks are recorded by number,
   * so a resumed job must cut its inputs the same way whatever the configuration is then. `waveParts`: a first-wave
   * (Patient) input is cut into about that many chunks when it is small (`chunkBytesOf` in `src/core/import/run.ts`;
   * local jobs only). `exact`: line lengths are counted in the input's own bytes (`byte-lines.ts`); absent in jobs
   * of earlier versions, which counted a line's text in UTF-8 plus one.
   */
  chunking?: { lines: number; bytes: number; waveParts?: number; exact?: true };
  /** The runner working on it and its last sign of life (a stale heartbeat means the job may be resumed). */
  runner?: { id: string; heartbeatAt: string };
  finishedAt?: string;
  /** Why the job failed (no payload values). */
  error?: string;
}

/** What one committed chunk produced (recorded once the chunk is committed; a re-run skips recorded chunks). */
export interface ImportChunkRecord {
  file: number;
  chunk: number;
  requestId: string;
  /** Bytes of the input file read up to the end of this chunk. */
  bytes: number;
  lines: number;
  counts: Record<string, number>;
  objectKeys: string[];
  refused: number;
  /** One OperationOutcome (JSON) per refused line: file, line, expression; no payload values. */
  errors: unknown[];
}

/** Where bulk import jobs keep their state (local files under DATA_DIR; S3 in AWS). */
export interface ImportJobStore {
  create(job: ImportJobRecord): Promise<void>;
  get(id: string): Promise<ImportJobRecord | undefined>;
  /** Replaces the job document. */
  update(job: ImportJobRecord): Promise<void>;
  /** Records a committed chunk (idempotent: the same chunk recorded twice is one record). */
  putChunk(jobId: string, chunk: ImportChunkRecord): Promise<void>;
  /** Every recorded chunk of a job. */
  chunks(jobId: string): Promise<ImportChunkRecord[]>;
}
