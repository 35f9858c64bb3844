/**
 * HTTP plumbing of the API handlers: reading a request's JSON body and turning a `[OperationOutcome, Resource?]`
 * into a response with FHIR headers (https://hl7.org/fhir/R4/http.html). Statuses come only from `getStatus`.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { badRequest, getStatus, tooLarge, unsupportedMediaType, type FhirResponse } from '../fhir/outcomes';
import { ClientError, normalizeError } from '../fhir/errors';
import { etag } from '../fhir/bundle';
import type { PreferReturn } from '../core/ingest';
import type { HttpRequest } from './request';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/**
 * Reads and parses a JSON body: 415 for a wrong or missing content type, 413 over the limit, 400 for malformed JSON.
 */
export function readJsonBody(req: HttpRequest, maxBytes: number): unknown {
  const ct = (req.header('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (ct !== 'application/fhir+json' && ct !== 'application/json') {
    throw new ClientError(
      unsupportedMediaType(
        ct ? `Content-Type '${ct.slice(0, 80)}' is not supported; use application/fhir+json` : 'Content-Type is missing; use application/fhir+json',
      ),
    );
  }
  const raw = req.body.text;
  const size = req.body.base64 ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8');
  if (size > maxBytes) throw new ClientError(tooLarge(`Request body is ${size} bytes; the limit is ${maxBytes} bytes`));
  const text = req.body.base64 ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (text.trim() === '') throw new ClientError(badRequest('Request body is empty'));
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message.replace(/"[^"]*"/g, '…').slice(0, 200) : 'invalid JSON';
    throw new ClientError(badRequest(`Malformed JSON: ${msg}`), { cause: err });
  }
}

/** Applies `Prefer` to a batch/transaction response Bundle's entries. */
function preferBundle(bundle: Bundle, prefer: PreferReturn): Bundle {
  return {
    ...bundle,
    entry: bundle.entry?.map((e) => {
      const failed = e.response && !/^2/.test(e.response.status);
      if (failed) return e;
      const { resource, ...rest } = e;
      if (prefer === 'representation') return { ...rest, resource, response: e.response && { ...e.response, outcome: undefined } };
      if (prefer === 'OperationOutcome') return rest;
      return { ...rest, response: e.response && { ...e.response, outcome: undefined } };
    }),
  };
}

/** Maps a use case's `[outcome, resource?]` to an HTTP response, with Location/ETag/Last-Modified for stored resources. */
export function toHttp(
  [outcome, resource]: FhirResponse,
  opts: {
    requestId: string;
    baseUrl: string;
    prefer?: PreferReturn;
    extraHeaders?: Record<string, string>;
    /** The resource is a batch-/transaction-response to `POST /fhir` (not a Bundle stored by a create). */
    bundleResponse?: boolean;
  },
): APIGatewayProxyResult {
  const status = getStatus(outcome);
  const headers: Record<string, string> = { 'Content-Type': FHIR_JSON, 'X-Request-Id': opts.requestId, ...opts.extraHeaders };
  let body: Resource | undefined = resource ?? outcome;
  if (resource && opts.bundleResponse && resource.resourceType === 'Bundle') {
    body = preferBundle(resource as Bundle, opts.prefer ?? 'representation');
  } else if (resource && resource.id && resource.meta?.versionId && (status === 200 || status === 201)) {
    const vid = resource.meta.versionId;
    headers.Location = `${opts.baseUrl}/${resource.resourceType}/${resource.id}/_history/${vid}`;
    headers.ETag = etag(vid);
    if (resource.meta.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (opts.prefer === 'minimal') body = undefined;
    else if (opts.prefer === 'OperationOutcome') body = outcome;
  }
  return { statusCode: status, headers, body: body ? JSON.stringify(body) : '' };
}

/** Any thrown error → OperationOutcome response. Client errors keep their status; anything else is a 500 with no detail. */
export function errorToHttp(err: unknown, requestId: string, extraHeaders?: Record<string, string>): APIGatewayProxyResult {
  const o: OperationOutcome = normalizeError(err);
  return {
    statusCode: getStatus(o),
    headers: { 'Content-Type': FHIR_JSON, 'X-Request-Id': requestId, ...extraHeaders },
    body: JSON.stringify(o),
  };
}
