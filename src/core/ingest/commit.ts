/**
 * The commit of a write: server ids and versions assigned, the lake transform (pseudonymisation) applied, the
 * lake copies staged, the identity records stored, the objects copied under `raw/`, the version index updated
 * (the commit point), the commit manifest written and one event published per committed object.
 * Nothing of a request stays in the lake when the commit fails before or at the version index.
 */
import { createHash } from 'node:crypto';
import type { Resource } from 'fhir/r4';
import { conflict } from '../../fhir/outcomes';
import { carryRawNumbers, hasRawNumbers, restoreRawNumbers, stringifyFhirJson } from '../../fhir/json';
import { ClientError } from '../../fhir/errors';
import { mapLimit } from '../../lib/concurrency';
import { commitManifestKey, lakeKey, partitionDate, stagingKey, type CommitManifest } from '../lake-layout';
import { VersionConflictError, type Clock, type EventBus, type IdentityVault, type IngestEvent, type ObjectStore, type VersionIndex, type VersionRecord } from '../ports';
import type { Entry, WriteRequest } from './request';

/** What the lake transform (pseudonymisation) returns. */
export interface TransformResult {
  /** Lake copies, in input order. */
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
}

/** What a commit stored. */
export interface Committed {
  /** Lake object keys committed (one per resource type). */
  objectKeys: string[];
  /** Resource counts by type. */
  counts: Record<string, number>;
}

/**
 * The NDJSON line of a lake copy: its decimals written with the text the client sent them with (`1.50` stays
 * `1.50`, https://hl7.org/fhir/R4/datatypes.html#decimal), found in the accepted resource by element path and value.
 */
function lakeLine(accepted: Resource, lakeCopy: Resource): string {
  if (hasRawNumbers(accepted)) restoreRawNumbers(accepted, lakeCopy);
  return stringifyFhirJson(lakeCopy);
}

/** Lake and identity-store writes of one request in flight at once. */
const IO_CONCURRENCY = 8;

/**
 * Gives each accepted entry the server's id (a new one for a create), its version (1, or the previous version + 1
 * for an update) and `meta.lastUpdated` (https://hl7.org/fhir/R4/http.html#create, #update: the server assigns
 * them, whatever the client sent in `meta`).
 */
export function assignVersions(entries: Entry[], now: Date, newId: () => string): void {
  const lastUpdated = now.toISOString();
  for (const e of entries) {
    if (e.method === 'POST') e.id = newId();
    e.versionId = String(e.previous ? Number(e.previous) + 1 : 1);
    const meta = { ...(e.resource.meta ?? {}), versionId: e.versionId, lastUpdated };
    const next = { ...e.resource, id: e.id, meta } as Resource;
    carryRawNumbers(e.resource, next);
    if (e.resource.meta) carryRawNumbers(e.resource.meta, meta);
    e.resource = next;
  }
}

/**
 * Commits accepted entries (at least one), all or nothing up to the commit point:
 * 1. the lake copies (transformed, with provenance in `meta.source`) are staged, one NDJSON object per type;
 * 2. identity records are stored (separate, encrypted store) before anything becomes visible;
 * 3. the staged objects are copied under `raw/` and the version index records the new versions atomically, each
 *    expecting the version it replaces (the commit point; https://hl7.org/fhir/R4/http.html#concurrency);
 * 4. the commit manifest of the request is written;
 * 5. one event per committed object is published (no PHI).
 * A failure in 1–3 deletes the request's staged and copied objects (identity records already stored stay).
 * @throws ClientError 409 when the version index reports a concurrent change ({@link VersionConflictError});
 *   any store's error as is.
 */
export async function commitEntries(
  deps: CommitDeps,
  req: WriteRequest,
  entries: Entry[],
  /** Extra version-index entries committed atomically with the versions (the identifier index, `./conditional`). */
  extraIndex: { key: string; expected?: string; record: VersionRecord }[] = [],
): Promise<Committed> {
  const { lake, versions, events, clock } = deps;
  const source = req.principal.source;
  const now = clock.now();
  const date = partitionDate(now);
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
  lakeResources.forEach((r, i) => {
    // version and time are the server's, whatever the policy does to meta
    const meta = { ...(r.meta ?? {}), versionId: entries[i].versionId, lastUpdated, source: metaSource };
    const lr = { ...r, meta } as Resource;
    let g = byType.get(lr.resourceType);
    if (!g) byType.set(lr.resourceType, (g = { lines: [], ids: [] }));
    g.lines.push(lakeLine(entries[i].resource, lr));
    g.ids.push({ id: lr.id!, versionId: lr.meta!.versionId! });
  });

  // 1. stage: nothing under raw/ yet (one object per type, a few in flight at once)
  const staged = [...byType].map(([type, g]) => {
    const body = g.lines.join('\n') + '\n';
    return {
      type,
      body,
      staging: stagingKey(req.requestId, type),
      key: lakeKey({ resourceType: type, source, date, base: req.requestId }),
      checksum: createHash('sha256').update(body).digest('base64'),
      count: g.lines.length,
      ids: g.ids,
    };
  });
  try {
    await mapLimit(staged, IO_CONCURRENCY, (s) =>
      lake.put(s.staging, s.body, {
        contentType: 'application/fhir+ndjson',
        checksumSha256: s.checksum,
        metadata: { source, requestid: req.requestId, resourcetype: s.type, count: String(s.count), policyversion: deps.transform?.policyVersion ?? 'none' },
      }),
    );
  } catch (err) {
    await lake.delete(staged.map((s) => s.staging)).catch(() => undefined);
    throw err;
  }
  try {
    // 2. identity records (separate bucket, encrypted) before anything becomes visible
    const vault = deps.identity;
    if (vault) await mapLimit(identities, IO_CONCURRENCY, (i) => vault.put(i.pseudonym, i.source, i.record));
    // 3. commit: copy staged objects under raw/, then record the versions (the commit point)
    await mapLimit(staged, IO_CONCURRENCY, (s) => lake.copy(s.staging, s.key));
    await versions.commit([
      ...entries.map((e, i) => ({
        key: `${e.type}/${e.id}`,
        expected: e.previous,
        record: { versionId: e.versionId!, source, lastUpdated, ...(lakeIds[i] ? { lakeId: lakeIds[i] } : {}) },
      })),
      ...extraIndex,
    ]);
  } catch (err) {
    // nothing of the request stays: copies (when some were made) and staged objects; the keys are this request's own
    await lake.delete([...staged.map((s) => s.key), ...staged.map((s) => s.staging)]).catch(() => undefined);
    if (err instanceof VersionConflictError) {
      throw new ClientError(conflict('A concurrent request changed this resource; retry with the new version'), { cause: err });
    }
    throw err;
  }
  await lake.delete(staged.map((s) => s.staging)).catch(() => undefined);
  // 4. manifest: the whole request at once, for readers that want transactions atomically
  const manifest: CommitManifest = {
    requestId: req.requestId,
    source,
    committedAt: now.toISOString(),
    objects: staged.map((s) => ({ key: s.key, resourceType: s.type, count: s.count, checksumSha256: s.checksum })),
  };
  await lake.put(commitManifestKey(date, req.requestId), JSON.stringify(manifest), { contentType: 'application/json' });
  // 5. one event per committed object; no PHI (keys, counts, lake ids)
  const evs: IngestEvent[] = staged.map((s) => ({
    type: 'tributary.ingest.committed',
    requestId: req.requestId,
    source,
    resourceType: s.type,
    bucket: lake.name,
    objectKey: s.key,
    count: s.count,
    checksumSha256: s.checksum,
    ingestedAt: now.toISOString(),
    resources: s.ids,
    ...(deps.transform?.policyVersion ? { policyVersion: deps.transform.policyVersion } : {}),
  }));
  await events.publish(evs);
  const counts: Record<string, number> = {};
  for (const s of staged) counts[s.type] = s.count;
  return { objectKeys: staged.map((s) => s.key), counts };
}
