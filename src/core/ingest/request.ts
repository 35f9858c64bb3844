/**
 * Reading a write request: who calls, what the handler hands over, and the entries it holds (one for a single
 * resource, one per `Bundle.entry` for a batch or transaction), each checked for its form (method, url, id, type).
 */
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4';
import { badRequest, forbidden, methodNotAllowed } from '../../fhir/outcomes';
import { ClientError } from '../../fhir/errors';
import { parseRequestUrl } from '../../fhir/bundle';
import { isValidSource } from '../lake-layout';

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
  /** `Idempotency-Key` header: a client-chosen key, scoped per source (a retry answers the first response). */
  idempotencyKey?: string;
  /** SHA-256 (hex) of the body's source text, when the caller has it (the bulk import's lines): see `IndexKeys.digest`. */
  bodyDigest?: string;
  /** Caller's IP address, for the audit record of a committed request. */
  sourceIp?: string;
}

/** One resource to write, as the request states it and as the checks and the commit fill it in. */
export interface Entry {
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
  /** `If-None-Exist` / `request.ifNoneExist` as sent (conditional create, https://hl7.org/fhir/R4/http.html#ccreate). */
  ifNoneExist?: string;
  /** Set by the conditional-create resolution: the existing resource this entry matched (nothing is written for it). */
  match?: { id: string; versionId: string; lastUpdated: string };
}

/** Is `v` a JSON object (not an array, not null)? */
const isObject = (v: unknown): v is Record<string, unknown> & Resource => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a JSON value is, for messages (never the value itself: it may be an identifier). */
export function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return v.length <= 40 && /^[A-Za-z0-9_-]*$/.test(v) ? `'${v}'` : 'a string';
  return `a ${typeof v}`;
}

/** An id for a message: never its value (a client id can be an MRN), only a JSON type other than string. */
const idKind = (id: unknown): string => (typeof id === 'string' ? '' : `(${jsonKind(id)}) `);

/**
 * The element of a resource the write path itself reads before validation (and at every validation level):
 * `meta` (the server sets `meta.versionId` and `meta.lastUpdated` in it), which must be a JSON object.
 * @returns the refusal, or undefined
 */
function metaRefusal(resource: Resource, root: string): OperationOutcome | undefined {
  const meta = (resource as { meta?: unknown }).meta;
  if (meta === undefined || isObject(meta)) return undefined;
  return badRequest(`meta must be a JSON object, got ${jsonKind(meta)}`, `${root}.meta`);
}

/** A request's body once its form is checked: one resource, or a batch/transaction Bundle. */
export type WriteBody = { kind: 'resource'; resource: Resource } | { kind: 'bundle'; bundle: Bundle };

/**
 * Checks the caller's source name and the body's form; for `POST` on the base URL, that the body is a `batch` or
 * `transaction` Bundle (https://hl7.org/fhir/R4/http.html#transaction).
 * @throws ClientError 403 for a source name that cannot be a lake partition, 400 for a body that is not a
 *   resource or not a batch/transaction Bundle, 405 for a `PUT` on the base URL.
 */
export function readWriteBody(req: WriteRequest): WriteBody {
  if (!isValidSource(req.principal.source)) {
    throw new ClientError(forbidden('Source system name is not valid'));
  }
  const body = req.body as Resource | undefined;
  if (!isObject(body) || typeof body.resourceType !== 'string') {
    throw new ClientError(badRequest('Body must be a FHIR resource (a JSON object with resourceType)', 'resourceType'));
  }
  if (req.type !== undefined) {
    const t = (body as { type?: unknown }).type;
    if (req.type === 'Bundle' && body.resourceType === 'Bundle' && (t === 'batch' || t === 'transaction')) {
      // a batch/transaction is processed at the base URL; stored as one Bundle it would never be processed
      throw new ClientError(badRequest(`A ${t} Bundle is processed at the base URL: POST it to [base] (/fhir), not to /fhir/Bundle`, 'Bundle.type'));
    }
    return { kind: 'resource', resource: body };
  }
  if (req.method !== 'POST') throw new ClientError(methodNotAllowed('Only POST is allowed on the base URL'));
  if (body.resourceType !== 'Bundle') {
    throw new ClientError(badRequest(`POST to the base URL needs a Bundle, got ${body.resourceType}`, 'resourceType'));
  }
  const bundle = body as unknown as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw new ClientError(badRequest(`Bundle.type must be batch or transaction, got ${jsonKind(bundle.type).replace(/^'(.*)'$/, '$1')}`, 'Bundle.type'));
  }
  if (bundle.entry !== undefined && !Array.isArray(bundle.entry)) {
    throw new ClientError(badRequest(`Bundle.entry must be a JSON array, got ${jsonKind(bundle.entry)}`, 'Bundle.entry'));
  }
  return { kind: 'bundle', bundle };
}

/**
 * The entry of a single-resource write: `POST /{type}` (https://hl7.org/fhir/R4/http.html#create) or
 * `PUT /{type}/{id}` (https://hl7.org/fhir/R4/http.html#update, the body's id equal to the URL's).
 * @throws ClientError 400 when the body's type differs from the URL's, for `If-None-Exist` on an update, or for an
 *   update whose body id is missing or differs from the URL id.
 */
export function readSingleEntry(req: WriteRequest, resource: Resource): Entry {
  const type = req.type!;
  if (resource.resourceType !== type) {
    throw new ClientError(badRequest(`resourceType '${resource.resourceType}' does not match the URL type '${type}'`, 'resourceType'));
  }
  if (req.ifNoneExist !== undefined && req.method !== 'POST') {
    throw new ClientError(badRequest('If-None-Exist applies to a create (POST) only', `${type}`));
  }
  const badMeta = metaRefusal(resource, type);
  if (badMeta) throw new ClientError(badMeta);
  const e: Entry = {
    index: -1,
    method: req.method,
    type,
    id: req.method === 'PUT' ? req.id : undefined,
    ifMatch: req.ifMatch,
    ...(req.ifNoneExist !== undefined ? { ifNoneExist: req.ifNoneExist } : {}),
    resource,
    root: type,
    entryPath: type,
  };
  if (req.method === 'PUT') {
    if (resource.id === undefined) throw new ClientError(badRequest('Update needs the resource id in the body, equal to the URL id', `${type}.id`));
    if (resource.id !== req.id) {
      throw new ClientError(badRequest(`Resource id ${idKind(resource.id)}does not match the URL id`, `${type}.id`));
    }
  }
  return e;
}

/**
 * The entries of a batch or transaction Bundle (https://hl7.org/fhir/R4/http.html#transaction), each read by
 * {@link readBundleEntry}; an entry that targets a `{type}/{id}` an earlier entry already targets is refused
 * (400): within one Bundle each resource is written once (https://hl7.org/fhir/R4/bundle.html#bundle-unique for
 * the Bundle's entries, and the transaction rule that a transaction SHALL NOT touch one resource twice,
 * https://hl7.org/fhir/R4/http.html#trules). Failed entries carry their `error`; nothing is thrown.
 */
export function readBundleEntries(bundle: Bundle): Entry[] {
  const entries: Entry[] = (bundle.entry ?? []).map((be, i) => readBundleEntry(be, i));
  const seen = new Map<string, number>();
  for (const e of entries) {
    if (e.error || !e.id) continue;
    const k = `${e.type}/${e.id}`;
    if (seen.has(k)) e.error = badRequest(`Entry updates ${k}, already updated by entry ${seen.get(k)}`, e.entryPath);
    else seen.set(k, e.index);
  }
  return entries;
}

/**
 * Reads `Bundle.entry[i]`: `request.method` POST (create) or PUT (update, `request.url` `Type/id` equal to the
 * resource's id), a resource of the `request.url` type, no conditional headers. A refused entry carries an
 * `error` outcome (400, or 405 for another method) with the FHIRPath of what is wrong.
 */
export function readBundleEntry(be: BundleEntry, i: number): Entry {
  const entryPath = `Bundle.entry[${i}]`;
  const root = `${entryPath}.resource`;
  const entry = be as unknown;
  const resource = (isObject(entry) ? entry.resource : undefined) as Resource | undefined;
  const base = { index: i, root, entryPath } as Entry;
  const fail = (o: OperationOutcome): Entry => ({ ...base, method: 'POST', type: '', resource: resource as Resource, error: o });
  if (!isObject(entry)) return fail(badRequest(`Entry must be a JSON object, got ${jsonKind(entry)}`, entryPath));
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') {
    return fail(badRequest(`fullUrl must be a string, got ${jsonKind(entry.fullUrl)}`, `${entryPath}.fullUrl`));
  }
  base.fullUrl = entry.fullUrl as string | undefined;
  const request = entry.request;
  if (request === undefined) return fail(badRequest('Entry needs request.method and request.url', `${entryPath}.request`));
  if (!isObject(request)) return fail(badRequest(`request must be a JSON object, got ${jsonKind(request)}`, `${entryPath}.request`));
  for (const k of ['method', 'url', 'ifMatch', 'ifNoneExist', 'ifNoneMatch', 'ifModifiedSince'] as const) {
    const v = request[k];
    if (v !== undefined && typeof v !== 'string') return fail(badRequest(`request.${k} must be a string, got ${jsonKind(v)}`, `${entryPath}.request.${k}`));
  }
  const { method, url: requestUrl } = request as { method?: string; url?: string };
  if (!method || !requestUrl) return fail(badRequest('Entry needs request.method and request.url', `${entryPath}.request`));
  if (method !== 'POST' && method !== 'PUT') {
    return fail(methodNotAllowed(`${jsonKind(method)} is not supported: this API accepts only create (POST) and update (PUT)`));
  }
  if (!isObject(resource) || typeof resource.resourceType !== 'string') {
    return fail(badRequest('Entry needs a resource (a JSON object) with a resourceType', root));
  }
  if (request.ifNoneMatch || request.ifModifiedSince) {
    return fail(badRequest('request.ifNoneMatch and request.ifModifiedSince (conditional read) are not supported', `${entryPath}.request`));
  }
  if (request.ifNoneExist !== undefined && method !== 'POST') {
    return fail(badRequest('request.ifNoneExist applies to a create (POST) only', `${entryPath}.request.ifNoneExist`));
  }
  const url = parseRequestUrl(requestUrl);
  if (!url) return fail(badRequest(`Cannot read request.url (expected {type} or {type}/{id})`, `${entryPath}.request.url`));
  if (url.query) return fail(badRequest('Conditional update (search in request.url) is not supported', `${entryPath}.request.url`));
  if (url.type !== resource.resourceType) {
    return fail(badRequest(`resourceType ${jsonKind(resource.resourceType)} does not match request.url type ${jsonKind(url.type)}`, `${root}.resourceType`));
  }
  const badMeta = metaRefusal(resource, root);
  if (badMeta) return fail(badMeta);
  // a literal, not `{ ...base, … }`: V8 gives each object made by that spread its own hidden class (adding `id` to it then
  // makes another), so every entry of a chunk had a map of its own (2.9 KB allocated an entry) and every property read of
  // an entry downstream was megamorphic
  const e: Entry = { index: i, root, entryPath, fullUrl: base.fullUrl, method, type: url.type, resource, ifMatch: request.ifMatch as string | undefined };
  if (typeof request.ifNoneExist === 'string') e.ifNoneExist = request.ifNoneExist;
  if (method === 'PUT') {
    if (!url.id) return { ...e, error: badRequest('PUT needs request.url Type/id', `${entryPath}.request.url`) };
    if (resource.id !== url.id) {
      return { ...e, error: badRequest(`Resource id ${idKind(resource.id)}does not match the request.url id`, `${root}.id`) };
    }
    e.id = url.id;
  } else if (url.id) {
    return { ...e, error: badRequest('POST request.url must be the type only', `${entryPath}.request.url`) };
  }
  return e;
}
