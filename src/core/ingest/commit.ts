/**
 * The commit of a write (docs/commit-protocol.md): server ids and versions assigned, the lake transform
 * (pseudonymisation) applied, then the commit protocol: (1) the commit record (outbox) is written, holding the lake
 * objects; (2) the identity records are stored, not current yet; (3) the version index records the new versions
 * and the request's commit entry in one atomic, conditional call: the commit point; (4) the outbox is rolled
 * forward ({@link finishCommit}: lake objects written under `raw/`, identity records made current, audit record,
 * events, manifest) and removed.
 * Nothing is visible before (3); after it the request succeeds whatever fails, recovery completing what is left.
 */
import { createHash } from 'node:crypto';
import type { Resource } from 'fhir/r4';
import { conflict } from '../../fhir/outcomes';
import { carryRawNumbers, copyJsonObject, hasRawNumbers, restoreRawNumbers, stringifyFhirJson } from '../../fhir/json';
import { ClientError, ServerFault } from '../../fhir/errors';
import { lakeKey, outboxKey, partitionDate } from '../lake-layout';
import { VersionConflictError, type AuditLog, type Clock, type EventBus, type IdentityVault, type ObjectStore, type VersionIndex, type VersionRecord } from '../ports';
import { completeCommit, decideCommit, outboxBytes, OUTBOX_CONTENT_TYPE, rollBack, type CommitRecord, type EncodedBodies, type ReplayEntry, type WriteInteraction } from './commit-record';
import type { IndexKeys } from './index-keys';
import type { Entry, WriteRequest } from './request';

/** What the lake transform (pseudonymisation) returns. */
export interface TransformResult {
  /** Lake copies, in input order: new objects the commit may change (it stamps their `meta` in place). */
  resources: Resource[];
  identities: { pseudonym: string; source: string; record: unknown }[];
  /** Lake id of each input resource (same order). */
  lakeIds?: (string | undefined)[];
}

/** The lake transform applied to every accepted request before storage (pseudonymisation, issue #3). */
export interface LakeTransform {
  readonly policyVersion?: string;
  apply(resources: Resource[], ctx: { source: string; requestId: string }): Promise<TransformResult>;
}

/** The stores and services a commit writes to. */
export interface CommitDeps {
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  clock: Clock;
  transform?: LakeTransform;
  identity?: IdentityVault;
  /** The audit log: the audit record of a committed request is part of its outbox. */
  audit?: AuditLog;
}

/** The request's commit entry: where, what it replaces, what it records. */
export interface CommitContext {
  keys: IndexKeys;
  requestKey: string;
  /** Version of the `Request/` entry replaced (an aborted earlier attempt with the same Idempotency-Key), if any. */
  requestExpected?: string;
  digest: string;
  interaction: WriteInteraction;
  /** The response as given, per request entry (failed batch entries included). */
  replay: ReplayEntry[];
  /** HTTP status of the response (for the audit record). */
  status: number;
  /** Extra version-index entries committed atomically with the versions (the identifier index, `./conditional`). */
  extraIndex?: { key: string; expected?: string; record: VersionRecord }[];
}

/** What a commit stored. */
export interface Committed {
  /** Lake object keys committed (one per resource type). */
  objectKeys: string[];
  /** Resource counts by type. */
  counts: Record<string, number>;
  /** The audit record is the commit's (appended, or left to recovery): the handler must not write another. */
  audited: boolean;
}

/**
 * Raised when another request with the same Idempotency-Key committed first (its `Request/` entry won): the caller
 * answers that request's response.
 */
export class DuplicateRequestError extends ServerFault {
  override readonly name = 'DuplicateRequestError';
}

/**
 * The NDJSON line of a lake copy: its decimals written with the text the client sent them with (`1.50` stays
 * `1.50`, https://hl7.org/fhir/R4/datatypes.html#decimal), found in the accepted resource by element path and value.
 */
function lakeLine(accepted: Resource, lakeCopy: Resource): string {
  if (hasRawNumbers(accepted)) restoreRawNumbers(accepted, lakeCopy);
  return stringifyFhirJson(lakeCopy);
}

/**
 * Gives each accepted entry the server's id (a new one for a create), its version (1, or the previous version + 1
 * for an update) and `meta.lastUpdated` (https://hl7.org/fhir/R4/http.html#create, #update: the server assigns
 * them, whatever the client sent in `meta`).
 */
export function assignVersions(entries: Entry[], now: Date, newId: () => string): void {
  const lastUpdated = now.toISOString();
  for (const e of entries) {
    if (e.method === 'POST') e.id = newId();
    stampVersion(e, String(e.previous ? Number(e.previous) + 1 : 1), lastUpdated);
  }
}

/** Sets an entry's version and its resource's `id`, `meta.versionId` and `meta.lastUpdated` (the server's). */
export function stampVersion(e: Entry, versionId: string, lastUpdated: string): void {
  e.versionId = versionId;
  // copies that add keys are made key by key (copyJsonObject): V8 gives every object made by a spread that adds a key
  // (`{ ...m, k }`) a hidden class of its own (a map allocated per resource, and megamorphic reads of it downstream);
  // a spread that only replaces keys shares its source's class
  const meta = copyJsonObject(e.resource.meta);
  meta.versionId = versionId;
  meta.lastUpdated = lastUpdated;
  let next: Resource;
  if (Object.hasOwn(e.resource, 'id') && Object.hasOwn(e.resource, 'meta')) next = { ...e.resource, id: e.id, meta } as Resource;
  else {
    next = copyJsonObject(e.resource);
    next.id = e.id;
    next.meta = meta;
  }
  carryRawNumbers(e.resource, next);
  if (e.resource.meta) carryRawNumbers(e.resource.meta, meta);
  e.resource = next;
}

/**
 * Lines as an NDJSON body (each line followed by a newline), UTF-8 encoded straight into one buffer: joining them
 * first made a string of the whole body (about 1.3 MB a 1,000-line chunk, on the JS heap) only to copy it out again,
 * three times slower than writing each line where it goes.
 */
export function ndjsonBytes(lines: readonly string[]): Buffer {
  let size = lines.length;
  for (const l of lines) size += Buffer.byteLength(l, 'utf8');
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (const l of lines) {
    off += out.write(l, off, 'utf8');
    out[off++] = 0x0a;
  }
  if (off !== size) throw new ServerFault(`ndjsonBytes: wrote ${off} of ${size} bytes`);
  return out;
}

/** The lake copies of a request's entries, one NDJSON object per resource type. */
async function lakeObjects(deps: CommitDeps, req: WriteRequest, entries: Entry[], date: string) {
  const source = req.principal.source;
  const lastUpdated = entries[0].resource.meta!.lastUpdated!;
  // the lake copy: pseudonymised, with provenance (source + request id) in meta.source
  let lakeResources = entries.map((e) => e.resource);
  let identities: TransformResult['identities'] = [];
  let lakeIds: (string | undefined)[] = [];
  if (deps.transform) {
    // the engine does not mutate its input: the client's view of each resource stays as it was
    const t = await deps.transform.apply(lakeResources, { source, requestId: req.requestId });
    lakeResources = t.resources;
    identities = t.identities;
    lakeIds = t.lakeIds ?? [];
  }
  const metaSource = `urn:tributary:source:${source}#${req.requestId}`;
  const byType = new Map<string, { lines: string[]; ids: { id: string; versionId: string }[] }>();
  const owned = deps.transform !== undefined;
  lakeResources.forEach((r, i) => {
    // version and time are the server's, whatever the policy does to meta; a transform's copies are the lake's own
    // (the engine labels their meta in place) and are stamped in place, the client's resources (no transform) are copied
    const versionId = entries[i].versionId;
    let lr: Resource;
    if (owned) {
      const meta = (r.meta ??= {});
      meta.versionId = versionId;
      meta.lastUpdated = lastUpdated;
      meta.source = metaSource;
      lr = r;
    } else {
      const meta = copyJsonObject(r.meta);
      meta.versionId = versionId;
      meta.lastUpdated = lastUpdated;
      meta.source = metaSource;
      if (Object.hasOwn(r, 'meta')) lr = { ...r, meta } as Resource;
      else {
        lr = copyJsonObject(r);
        lr.meta = meta;
      }
    }
    let g = byType.get(lr.resourceType);
    if (!g) byType.set(lr.resourceType, (g = { lines: [], ids: [] }));
    g.lines.push(lakeLine(entries[i].resource, lr));
    g.ids.push({ id: lr.id!, versionId: lr.meta!.versionId! });
  });
  const objects = [...byType].map(([type, g]) => {
    // encoded once: hashed here, written to the outbox and under raw/ from these bytes ({@link completeCommit})
    const bytes = ndjsonBytes(g.lines);
    return {
      bytes,
      key: lakeKey({ resourceType: type, source, date, base: req.requestId }),
      resourceType: type,
      count: g.ids.length,
      checksumSha256: createHash('sha256').update(bytes).digest('base64'),
      ids: g.ids,
    };
  });
  return { objects, identities, lakeIds };
}

/**
 * Commits accepted entries (at least one) by the commit protocol (docs/commit-protocol.md):
 * 1. the commit record (outbox) is written with the lake objects (one NDJSON per type): nothing else of the
 *    request exists before it, and no reader reads it;
 * 2. the identity records are stored, not current (only when the transform produced some);
 * 3. the version index records the new versions, each expecting the version it replaces
 *    (https://hl7.org/fhir/R4/http.html#concurrency), and the request's `Request/` entry, in one atomic call:
 *    the commit point;
 * 4. the outbox is rolled forward ({@link finishCommit}); a failure there is left to recovery, never to the client.
 * A failure in 1–3 rolls the request back (what the rollback cannot remove, recovery does).
 * @throws ClientError 409 when the version index reports a concurrent change of a resource;
 *   {@link DuplicateRequestError} when another request with the same Idempotency-Key committed first;
 *   a store's error as is when the request did not commit.
 */
export async function commitEntries(deps: CommitDeps, req: WriteRequest, entries: Entry[], ctx: CommitContext): Promise<Committed> {
  const { lake, versions, clock } = deps;
  const source = req.principal.source;
  const now = clock.now();
  const date = partitionDate(now);
  const lastUpdated = entries[0].resource.meta!.lastUpdated!;
  const { objects, identities, lakeIds } = await lakeObjects(deps, req, entries, date);
  const requestVersion = String(Number(ctx.requestExpected ?? 0) + 1);
  const rec: CommitRecord = {
    requestId: req.requestId,
    source,
    committedAt: now.toISOString(),
    date,
    startedAt: now.toISOString(),
    requestKey: ctx.requestKey,
    requestVersion,
    digest: ctx.digest,
    interaction: ctx.interaction,
    ...(deps.transform?.policyVersion ? { policyVersion: deps.transform.policyVersion } : {}),
    objects: objects.map(({ bytes: _bytes, ...o }) => ({
      ...o,
      metadata: { source, requestid: req.requestId, resourcetype: o.resourceType, count: String(o.count), policyversion: deps.transform?.policyVersion ?? 'none' },
    })),
    identities: identities.map((i, seq) => ({ pseudonym: i.pseudonym, source: i.source, seq })),
    audit: { clientId: req.principal.clientId, status: ctx.status, ...(req.sourceIp ? { sourceIp: req.sourceIp } : {}) },
    replay: { lastUpdated, entries: ctx.replay },
  };
  // the lake objects' bytes: in the outbox after its record, then under raw/ (the record itself holds no bodies)
  const encoded: EncodedBodies = new Map(objects.map((o) => [o.key, o.bytes]));
  // 1. the outbox, with the lake objects: from here on, recovery knows of the request
  await lake.put(outboxKey(req.requestId), outboxBytes(rec, encoded), { contentType: OUTBOX_CONTENT_TYPE });
  // 2. the identity records, not current yet
  if (deps.identity && identities.length > 0) {
    try {
      await deps.identity.stage(req.requestId, identities.map((i, seq) => {
        const staged = copyJsonObject(i) as typeof i & { seq: number };
        staged.seq = seq;
        return staged;
      }));
    } catch (err) {
      await rollBack(deps, rec).catch(() => undefined);
      throw err;
    }
  }
  // 3. the commit point: every version and the request's commit entry, atomically
  try {
    await versions.commit([
      ...entries.map((e, i) => ({
        key: ctx.keys.resource(e.type, e.id!),
        expected: e.previous,
        record: { versionId: e.versionId!, source, lastUpdated, ...(lakeIds[i] ? { lakeId: lakeIds[i] } : {}) },
      })),
      {
        key: ctx.requestKey,
        expected: ctx.requestExpected,
        record: { versionId: requestVersion, source, lastUpdated, requestId: req.requestId, ...(ctx.digest ? { digest: ctx.digest } : {}) },
      },
      ...(ctx.extraIndex ?? []),
    ]);
  } catch (err) {
    if (err instanceof VersionConflictError) {
      await rollBack(deps, rec).catch(() => undefined);
      if (err.key === ctx.requestKey) throw new DuplicateRequestError('a request with the same Idempotency-Key committed first', { cause: err });
      throw new ClientError(conflict('A concurrent request changed this resource; retry with the new version'), { cause: err });
    }
    // the outcome is unknown (the call may have landed): decide it before answering
    const decided = await decideCommit(versions, rec, clock.now()).catch(() => undefined);
    if (decided !== 'committed') {
      if (decided === 'aborted') await rollBack(deps, rec).catch(() => undefined);
      throw err;
    }
  }
  // 4. committed: roll the outbox forward; what fails here is recovery's, the client gets its success
  await completeCommit(deps, rec, encoded);
  const counts: Record<string, number> = {};
  for (const o of objects) counts[o.resourceType] = o.count;
  return { objectKeys: objects.map((o) => o.key), counts, audited: deps.audit !== undefined };
}
