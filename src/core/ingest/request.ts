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
  if (!body || typeof body !== 'object' || Array.isArray(body) || typeof body.resourceType !== 'string') {
    throw new ClientError(badRequest('Body must be a FHIR resource (a JSON object with resourceType)', 'resourceType'));
  }
  if (req.type !== undefined) return { kind: 'resource', resource: body };
  if (req.method !== 'POST') throw new ClientError(methodNotAllowed('Only POST is allowed on the base URL'));
  if (body.resourceType !== 'Bundle') {
    throw new ClientError(badRequest(`POST to the base URL needs a Bundle, got ${body.resourceType}`, 'resourceType'));
  }
  const bundle = body as Bundle;
  if (bundle.type !== 'batch' && bundle.type !== 'transaction') {
    throw new ClientError(badRequest(`Bundle.type must be batch or transaction, got ${String(bundle.type)}`, 'Bundle.type'));
  }
  return { kind: 'bundle', bundle };
}

/**
 * The entry of a single-resource write: `POST /{type}` (https://hl7.org/fhir/R4/http.html#create) or
 * `PUT /{type}/{id}` (https://hl7.org/fhir/R4/http.html#update, the body's id equal to the URL's).
 * @throws ClientError 400 when the body's type differs from the URL's, for `If-None-Exist` (conditional create is
 *   not supported), or for an update whose body id is missing or differs from the URL id.
 */
export function readSingleEntry(req: WriteRequest, resource: Resource): Entry {
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
