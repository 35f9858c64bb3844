/**
 * The ingestion use case: FHIR create, update, batch and transaction (https://hl7.org/fhir/R4/http.html)
 * into the raw lake. Pure orchestration over ports; no AWS SDK, no environment.
 *
 * Flow per request: read entries → check method/url/id/type → authorise each entry → validate →
 * look up versions (update, If-Match, source ownership) → assign ids and versions → rewrite `urn:uuid`
 * references (transaction) → lake transform (pseudonymisation) → stage NDJSON per type → commit
 * (copy to `raw/`, version index, manifest) → publish one event per committed object.
 * Nothing is written before every check of the request has passed (transaction) or for a failed entry (batch).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, FhirResource, OperationOutcome, OperationOutcomeIssue, Resource } from 'fhir/r4';
import { badRequest, conflict, created, forbidden, getStatus, methodNotAllowed, notFound, outcomeWithIssues, preconditionFailed, updated, type FhirResponse } from '../fhir/outcomes';
import { ClientError, ValidationError } from '../fhir/errors';
import { etag, parseETag, parseRequestUrl, rewriteReferences } from '../fhir/bundle';
import { mapLimit } from '../lib/concurrency';
import type { ResourceValidator } from '../fhir/validation/types';
import { VersionConflict, type Clock, type EventBus, type IdentityVault, type IngestEvent, type ObjectStore, type VersionIndex } from './ports';

/** Who is calling: from the verified token (or configuration when authentication is off). */
export interface Principal {
  /** Source system name, e.g. `leeds-gp`: from a token claim, never from the request. */
  source: string;
  clientId: string;
  /** May this principal create/update this type? Absent = no scope restrictions (auth disabled). */
  canWrite?: (resourceType: string, interaction: 'create' | 'update') => boolean;
}

/** `Prefer: return=...` (https://hl7.org/fhir/R4/http.html#ops). */
export type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

/** A parsed HTTP write, as the handler hands it over. */
export interface WriteRequest {
  requestId: string;
  method: 'POST' | 'PUT';
  /** URL resource type (undefined for `POST /fhir`, the batch/transaction endpoint). */
  type?: string;
  /** URL id (PUT only). */
  id?: string;
  body: unknown;
  ifMatch?: string;
  ifNoneExist?: string;
  principal: Principal;
  /** Validation level override (header), if the deployment allows it. */
  validationLevel?: string;
}

/** Validates one resource (the type lives with the validation, in src/fhir/validation/types.ts). */
export type { ResourceValidator };

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

/** Collaborators of {@link Ingestor}. */
export interface IngestDeps {
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  clock: Clock;
  validate: ResourceValidator;
  transform?: LakeTransform;
  identity?: IdentityVault;
  newId?: () => string;
}

/** What a successful write produced, for the handler's headers and the audit trail. */
export interface WriteResult {
  response: FhirResponse;
  /** Lake object keys committed by this request. */
  objectKeys: string[];
  /** Resource counts by type that were committed. */
  counts: Record<string, number>;
  interaction: 'create' | 'update' | 'batch' | 'transaction';
  /** Batch entries refused by validation (for the triage area). */
  validationFailures?: { index: number; method: 'POST' | 'PUT'; type: string; id?: string; resource: Resource; outcome: OperationOutcome }[];
}

interface Entry {
  index: number; // -1 for a single resource
  method: 'POST' | 'PUT';
  type: string;
  id?: string;
  fullUrl?: string;
  ifMatch?: string;
  resource: Resource;
  root: string; // FHIRPath of the resource
  entryPath: string; // FHIRPath of the entry (or the resource)
  error?: OperationOutcome;
  /** The error came from validation (content), not from the request's form, scopes or versions. */
  invalid?: boolean;
  // filled when accepted
  versionId?: string;
  previous?: string;
  lakeResource?: Resource;
}

const SOURCE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The write path. One instance per cold start; `write` per request. */
/** Lake and identity-store writes of one request in flight at once. */
const IO_CONCURRENCY = 8;

export class Ingestor {
  private readonly newId: () => string;

  constructor(private readonly deps: IngestDeps) {
    this.newId = deps.newId ?? randomUUID;
  }

  /** Handles `POST /{type}`, `PUT /{type}/{id}` and `POST /` (batch/transaction). Throws ClientError on refusal. */
  async write(req: WriteRequest): Promise<WriteResult> {
    if (!SOURCE_RE.test(req.principal.source)) {
      throw new ClientError(forbidden('Source system name is not valid'));
    }
    const body = req.body as Resource | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.resourceType !== 'string') {
      throw new ClientError(badRequest('Body must be a FHIR resource (a JSON object with resourceType)', 'resourceType'));
    }
    if (req.type === undefined) {
      if (req.method !== 'POST') throw new ClientError(methodNotAllowed('Only POST is allowed on the base URL'));
      if (body.resourceType !== 'Bundle') {
        throw new ClientError(badRequest(`POST to the base URL needs a Bundle, got ${body.resourceType}`, 'resourceType'));
      }
      const bundle = body as Bundle;
      if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
        throw new ClientError(badRequest(`Bundle.type must be batch or transaction, got ${String(bundle.type)}`, 'Bundle.type'));
      }
      return this.bundle(req, bundle);
    }
    return this.single(req, body);
  }

  // ---------------------------------------------------------------- single resource

  private async single(req: WriteRequest, resource: Resource): Promise<WriteResult> {
    const type = req.type!;
    if (resource.resourceType !== type) {
      throw new ClientError(badRequest(`resourceType '${resource.resourceType}' does not match the URL type '${type}'`, 'resourceType'));
    }
    if (req.ifNoneExist) throw new ClientError(badRequest('Conditional create (If-None-Exist) is not supported'));
    const e: Entry = {
      index: -1,
      method: req.method,
      type,
      id: req.method === 'PUT' ? req.id : undefined,
      ifMatch: req.ifMatch,
      resource,
      root: type,
      entryPath: type,
    };
    if (req.method === 'PUT') {
      if (!resource.id) throw new ClientError(badRequest('Update needs the resource id in the body, equal to the URL id', `${type}.id`));
      if (resource.id !== req.id) {
        throw new ClientError(badRequest(`Resource id '${resource.id}' does not match the URL id '${req.id}'`, `${type}.id`));
      }
    }
    this.authorise(req.principal, e);
    if (e.error) throw new ClientError(e.error);
    this.validate([e], req.validationLevel);
    if (e.error) throw new ValidationError(e.error);
    await this.resolveVersions(req.principal, [e]);
    if (e.error) throw new ClientError(e.error);
    this.assign([e], req);
    const stored = await this.store(req, [e]);
    const isUpdate = e.previous !== undefined;
    return {
      response: [isUpdate ? updated() : created(), this.clientView(e)],
      objectKeys: stored.objectKeys,
      counts: stored.counts,
      interaction: req.method === 'PUT' ? 'update' : 'create',
    };
  }

  // ---------------------------------------------------------------- bundles

  private async bundle(req: WriteRequest, bundle: Bundle): Promise<WriteResult> {
    const isTx = bundle.type === 'transaction';
    const entries: Entry[] = (bundle.entry ?? []).map((be, i) => this.readEntry(be, i));
    // duplicate targets inside one bundle are an error (spec: a transaction SHALL NOT touch one resource twice)
    const seen = new Map<string, number>();
    for (const e of entries) {
      if (e.error || !e.id) continue;
      const k = `${e.type}/${e.id}`;
      if (seen.has(k)) e.error = badRequest(`Entry updates ${k}, already updated by entry ${seen.get(k)}`, e.entryPath);
      else seen.set(k, e.index);
    }
    for (const e of entries) if (!e.error) this.authorise(req.principal, e);
    this.validate(entries.filter((e) => !e.error), req.validationLevel);
    if (isTx) this.failTransactionIfAny(entries);
    await this.resolveVersions(req.principal, entries.filter((e) => !e.error));
    if (isTx) this.failTransactionIfAny(entries);

    const ok = entries.filter((e) => !e.error);
    this.assign(ok, req);
    if (isTx) {
      // urn:uuid (and any fullUrl) references to entries of this transaction now point at the assigned ids
      const map = new Map<string, string>();
      for (const e of ok) if (e.fullUrl) map.set(e.fullUrl, `${e.type}/${e.id}`);
      for (const e of ok) rewriteReferences(e.resource, map);
    }
    const stored = ok.length > 0 ? await this.store(req, ok) : { objectKeys: [], counts: {} };
    const response: Bundle = {
      resourceType: 'Bundle',
      id: req.requestId,
      type: isTx ? 'transaction-response' : 'batch-response',
      entry: entries.map((e) => this.responseEntry(e)),
    };
    const validationFailures = entries
      .filter((e) => e.invalid && e.error)
      .map((e) => ({ index: e.index, method: e.method, type: e.type, id: e.id, resource: e.resource, outcome: e.error! }));
    const nOk = ok.length;
    const summary = outcomeWithIssues(200, [
      {
        severity: 'information',
        code: 'informational',
        diagnostics: `${nOk} of ${entries.length} entries stored`,
      },
    ]);
    return {
      response: [summary, response],
      objectKeys: stored.objectKeys,
      counts: stored.counts,
      interaction: isTx ? 'transaction' : 'batch',
      ...(validationFailures.length > 0 ? { validationFailures } : {}),
    };
  }

  private readEntry(be: BundleEntry, i: number): Entry {
    const entryPath = `Bundle.entry[${i}]`;
    const root = `${entryPath}.resource`;
    const resource = be?.resource as Resource | undefined;
    const base = { index: i, root, entryPath, fullUrl: be?.fullUrl } as Entry;
    const fail = (o: OperationOutcome): Entry => ({ ...base, method: 'POST', type: '', resource: resource as Resource, error: o });
    if (!be || typeof be !== 'object') return fail(badRequest('Entry must be an object', entryPath));
    const method = be.request?.method;
    if (!method || !be.request?.url) return fail(badRequest('Entry needs request.method and request.url', `${entryPath}.request`));
    if (method !== 'POST' && method !== 'PUT') {
      return fail(methodNotAllowed(`${method} is not supported: this API accepts only create (POST) and update (PUT)`));
    }
    if (!resource || typeof resource !== 'object' || typeof resource.resourceType !== 'string') {
      return fail(badRequest('Entry needs a resource with a resourceType', root));
    }
    if (be.request.ifNoneExist || be.request.ifNoneMatch || be.request.ifModifiedSince) {
      return fail(badRequest('Conditional create/read headers are not supported', `${entryPath}.request`));
    }
    const url = parseRequestUrl(be.request.url);
    if (!url) return fail(badRequest(`Cannot read request.url '${be.request.url}'`, `${entryPath}.request.url`));
    if (url.query) return fail(badRequest('Conditional update (search in request.url) is not supported', `${entryPath}.request.url`));
    if (url.type !== resource.resourceType) {
      return fail(badRequest(`resourceType '${resource.resourceType}' does not match request.url type '${url.type}'`, `${root}.resourceType`));
    }
    const e: Entry = { ...base, method, type: url.type, resource, ifMatch: be.request.ifMatch };
    if (method === 'PUT') {
      if (!url.id) return { ...e, error: badRequest('PUT needs request.url Type/id', `${entryPath}.request.url`) };
      if (resource.id !== url.id) {
        return { ...e, error: badRequest(`Resource id '${String(resource.id)}' does not match request.url id '${url.id}'`, `${root}.id`) };
      }
      e.id = url.id;
    } else if (url.id) {
      return { ...e, error: badRequest('POST request.url must be the type only', `${entryPath}.request.url`) };
    }
    return e;
  }

  private failTransactionIfAny(entries: Entry[]): void {
    const bad = entries.filter((e) => e.error);
    if (bad.length === 0) return;
    const status = getStatus(bad[0].error!);
    const issues = bad.flatMap((e) =>
      e.error!.issue.map((i) => ({
        ...i,
        expression: i.expression && i.expression.length > 0 ? i.expression : [e.entryPath],
        diagnostics: `${e.entryPath}: ${i.diagnostics ?? ''}`,
      })),
    );
    const o = outcomeWithIssues(status, issues.map((i) => ({ ...i, details: undefined })));
    throw bad.every((e) => e.invalid) ? new ValidationError(o) : new ClientError(o);
  }

  // ---------------------------------------------------------------- checks

  private authorise(p: Principal, e: Entry): void {
    if (!p.canWrite) return;
    const interaction = e.method === 'POST' ? 'create' : 'update';
    if (!p.canWrite(e.type, interaction)) {
      e.error = forbidden(`Token scopes do not permit ${interaction} of ${e.type}`, e.entryPath);
    }
  }

  private validate(entries: Entry[], level?: string): void {
    for (const e of entries) {
      const issues = this.deps.validate(e.resource, e.root, level);
      const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
      if (errors.length > 0) {
        e.error = outcomeWithIssues(errors.some((i) => i.code === 'processing' || i.code === 'business-rule') ? 422 : 400, issues);
        e.invalid = true;
      }
    }
  }

  private async resolveVersions(p: Principal, entries: Entry[]): Promise<void> {
    const puts = entries.filter((e) => e.method === 'PUT');
    if (puts.length === 0) {
      for (const e of entries) if (e.ifMatch) e.error = preconditionFailed('If-Match on a create', e.entryPath);
      return;
    }
    const current = await this.deps.versions.get(puts.map((e) => `${e.type}/${e.id}`));
    for (const e of entries) {
      if (e.method !== 'PUT') {
        if (e.ifMatch) e.error = preconditionFailed('If-Match on a create', e.entryPath);
        continue;
      }
      const cur = current.get(`${e.type}/${e.id}`);
      if (cur && cur.source !== p.source) {
        e.error = forbidden(`${e.type}/${e.id} belongs to another source system; a source may only update its own resources`, e.entryPath);
        continue;
      }
      if (e.ifMatch !== undefined) {
        const want = parseETag(e.ifMatch);
        if (want === undefined) {
          e.error = badRequest(`If-Match must be an ETag like W/"1", got '${e.ifMatch}'`, e.entryPath);
          continue;
        }
        if (!cur || cur.versionId !== want) {
          e.error = preconditionFailed(
            `If-Match ${e.ifMatch} does not match the current version ${cur ? etag(cur.versionId) : '(none: resource does not exist)'}`,
            e.entryPath,
          );
          continue;
        }
      }
      e.previous = cur?.versionId;
    }
  }

  // ---------------------------------------------------------------- assign + store

  private assign(entries: Entry[], req: WriteRequest): void {
    const now = this.deps.clock.now().toISOString();
    for (const e of entries) {
      if (e.method === 'POST') e.id = this.newId();
      e.versionId = String(e.previous ? Number(e.previous) + 1 : 1);
      const meta = { ...(e.resource.meta ?? {}), versionId: e.versionId, lastUpdated: now };
      e.resource = { ...e.resource, id: e.id, meta } as Resource;
    }
    void req;
  }

  private async store(req: WriteRequest, entries: Entry[]): Promise<{ objectKeys: string[]; counts: Record<string, number> }> {
    const { lake, versions, events, clock } = this.deps;
    const source = req.principal.source;
    const now = clock.now();
    const date = now.toISOString().slice(0, 10);
    const lastUpdated = entries[0].resource.meta!.lastUpdated!;
    // the lake copy: pseudonymised, with provenance (source + request id) in meta.source
    let lakeResources = entries.map((e) => e.resource);
    let identities: TransformResult['identities'] = [];
    let lakeIds: (string | undefined)[] = [];
    if (this.deps.transform) {
      // the engine does not mutate its input: the client's view of each resource stays as it was
      const t = await this.deps.transform.apply(lakeResources, { source, requestId: req.requestId });
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
      g.lines.push(JSON.stringify(lr));
      g.ids.push({ id: lr.id!, versionId: lr.meta!.versionId! });
    });

    // 1. stage: nothing under raw/ yet (one object per type, a few in flight at once)
    const staged = [...byType].map(([type, g]) => {
      const body = g.lines.join('\n') + '\n';
      return {
        type,
        body,
        staging: `staging/${req.requestId}/${type}.ndjson`,
        key: `raw/${type}/source=${source}/date=${date}/${req.requestId}.ndjson`,
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
          metadata: { source, requestid: req.requestId, resourcetype: s.type, count: String(s.count), policyversion: this.deps.transform?.policyVersion ?? 'none' },
        }),
      );
    } catch (err) {
      await lake.delete(staged.map((s) => s.staging)).catch(() => undefined);
      throw err;
    }
    try {
      // 2. identity records (separate bucket, encrypted) before anything becomes visible
      const vault = this.deps.identity;
      if (vault) await mapLimit(identities, IO_CONCURRENCY, (i) => vault.put(i.pseudonym, i.source, i.record));
      // 3. commit: copy staged objects under raw/, then record the versions (the commit point)
      await mapLimit(staged, IO_CONCURRENCY, (s) => lake.copy(s.staging, s.key));
      await versions.commit(
        entries.map((e, i) => ({
          key: `${e.type}/${e.id}`,
          expected: e.previous,
          record: { versionId: e.versionId!, source, lastUpdated, ...(lakeIds[i] ? { lakeId: lakeIds[i] } : {}) },
        })),
      );
    } catch (err) {
      // nothing of the request stays: copies (when some were made) and staged objects; the keys are this request's own
      await lake.delete([...staged.map((s) => s.key), ...staged.map((s) => s.staging)]).catch(() => undefined);
      if (err instanceof VersionConflict) {
        throw new ClientError(conflict('A concurrent request changed this resource; retry with the new version'), { cause: err });
      }
      throw err;
    }
    await lake.delete(staged.map((s) => s.staging)).catch(() => undefined);
    // 4. manifest: the whole request at once, for readers that want transactions atomically
    const manifest = {
      requestId: req.requestId,
      source,
      committedAt: now.toISOString(),
      objects: staged.map((s) => ({ key: s.key, resourceType: s.type, count: s.count, checksumSha256: s.checksum })),
    };
    await lake.put(`commits/date=${date}/${req.requestId}.json`, JSON.stringify(manifest), { contentType: 'application/json' });
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
      ...(this.deps.transform?.policyVersion ? { policyVersion: this.deps.transform.policyVersion } : {}),
    }));
    await events.publish(evs);
    const counts: Record<string, number> = {};
    for (const s of staged) counts[s.type] = s.count;
    return { objectKeys: staged.map((s) => s.key), counts };
  }

  // ---------------------------------------------------------------- responses

  /** What the client sees: its own resource with the server's id and meta (the lake copy is pseudonymised). */
  private clientView(e: Entry): Resource {
    return e.resource;
  }

  private responseEntry(e: Entry): BundleEntry {
    if (e.error) {
      const status = getStatus(e.error);
      return { response: { status: `${status} ${statusText(status)}`, outcome: e.error } };
    }
    const isUpdate = e.previous !== undefined;
    const status = isUpdate ? 200 : 201;
    return {
      fullUrl: `${e.type}/${e.id}`,
      resource: e.resource as FhirResource,
      response: {
        status: `${status} ${statusText(status)}`,
        location: `${e.type}/${e.id}/_history/${e.versionId}`,
        etag: etag(e.versionId!),
        lastModified: e.resource.meta!.lastUpdated,
        outcome: isUpdate ? updated() : created(),
      },
    };
  }
}

/** Reason phrases for the statuses we use. */
export function statusText(status: number): string {
  const t: Record<number, string> = {
    200: 'OK',
    201: 'Created',
    400: 'Bad Request',
    401: 'Unauthorized',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    409: 'Conflict',
    412: 'Precondition Failed',
    413: 'Payload Too Large',
    415: 'Unsupported Media Type',
    422: 'Unprocessable Entity',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
  };
  return t[status] ?? '';
}

export { notFound };

/**
 * `$validate` (https://hl7.org/fhir/R4/resource-operation-validate.html): validates a resource (or the
 * `resource` parameter of a Parameters body) at the given level and stores nothing.
 * @returns 200 with the issues (or "All OK") when there are no errors, 422 with every issue otherwise
 */
export function validateOnly(
  validate: ResourceValidator,
  req: { type?: string; body: unknown; level?: string },
): FhirResponse {
  let resource = req.body as Resource | undefined;
  if (resource && (resource as { resourceType?: string }).resourceType === 'Parameters' && req.type !== 'Parameters') {
    const p = (resource as { parameter?: { name?: string; resource?: Resource }[] }).parameter?.find((x) => x.name === 'resource');
    if (!p?.resource) throw new ClientError(badRequest('Parameters must carry the resource to validate in a parameter named "resource"', 'Parameters.parameter'));
    resource = p.resource;
  }
  if (!resource || typeof resource !== 'object' || Array.isArray(resource) || typeof resource.resourceType !== 'string') {
    throw new ClientError(badRequest('Body must be a FHIR resource (a JSON object with resourceType)', 'resourceType'));
  }
  if (req.type && resource.resourceType !== req.type) {
    throw new ClientError(badRequest(`resourceType '${resource.resourceType}' does not match the URL type '${req.type}'`, 'resourceType'));
  }
  const issues = validate(resource, resource.resourceType, req.level);
  const hasErrors = issues.some((i) => i.severity === 'error' || i.severity === 'fatal');
  if (hasErrors) return [outcomeWithIssues(422, issues)];
  return [
    outcomeWithIssues(200, issues.length > 0 ? issues : [{ severity: 'information', code: 'informational', diagnostics: 'All OK: no errors' }]),
  ];
}
