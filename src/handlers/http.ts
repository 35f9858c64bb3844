/**
 * HTTP plumbing of the API handlers: reading a request's JSON body and turning a `[OperationOutcome, Resource?]`
 * into a response with FHIR headers (https://hl7.org/fhir/R4/http.html). Statuses come only from `getStatus`.
 */
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { getStatus, structureError, tooLarge, unsupportedMediaType, type FhirResponse } from '../fhir/outcomes';
import { decodeUtf8, hasRawNumbers, JsonInputError, markRawPath, parseFhirJson, stringifyFhirJson } from '../fhir/json';
import { ClientError, normalizeError } from '../fhir/errors';
import { etag } from '../fhir/bundle';
import type { PreferReturn } from '../core/ingest';
import type { HttpRequest } from './request';

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Charsets that name UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8). */
const UTF8_NAMES = new Set(['utf-8', 'utf8']);

/** The `charset` parameter of a Content-Type (lower case, quotes removed), or undefined. */
function charsetOf(contentType: string): string | undefined {
  for (const part of contentType.split(';').slice(1)) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/** A {@link JsonInputError} as the 400 OperationOutcome a client gets (issue type `structure`, with the element's path). */
function jsonRefusal(err: JsonInputError): ClientError {
  return new ClientError(structureError(`${err.problem === 'empty' ? '' : 'Malformed JSON: '}${err.message}`, err.expression), { cause: err });
}

/**
 * Reads and parses a request's FHIR JSON body (https://hl7.org/fhir/R4/http.html#mime-type,
 * https://hl7.org/fhir/R4/json.html), refusing instead of altering anything:
 * - 415: a missing or other Content-Type, a `charset` other than UTF-8, a `Content-Encoding` (compressed bodies);
 * - 413: a body over `maxBytes` (its decoded size);
 * - 400 (`structure`, with the FHIRPath of the element at fault): bytes that are not UTF-8, malformed JSON, a
 *   property given twice, a control character or lone surrogate in a string, nesting deeper than
 *   MAX_JSON_DEPTH (src/fhir/json), a number beyond a double's range. A UTF-8 byte-order mark is skipped.
 * Decimals keep the text they were sent with (see src/fhir/json).
 */
export function readJsonBody(req: HttpRequest, maxBytes: number): unknown {
  const contentType = req.header('content-type') ?? '';
  const ct = contentType.split(';')[0].trim().toLowerCase();
  if (ct !== 'application/fhir+json' && ct !== 'application/json') {
    throw new ClientError(
      unsupportedMediaType(
        ct ? `Content-Type '${ct.slice(0, 80)}' is not supported; use application/fhir+json` : 'Content-Type is missing; use application/fhir+json',
      ),
    );
  }
  const charset = charsetOf(contentType);
  if (charset !== undefined && !UTF8_NAMES.has(charset)) {
    throw new ClientError(unsupportedMediaType(`charset '${charset.slice(0, 40)}' is not supported: FHIR JSON is UTF-8 (send charset=utf-8 or no charset)`));
  }
  const encoding = (req.header('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    throw new ClientError(unsupportedMediaType(`Content-Encoding '${encoding.slice(0, 40)}' is not supported: send the body uncompressed`));
  }
  const raw = req.body.text;
  const size = req.body.base64 ? Buffer.byteLength(raw, 'base64') : Buffer.byteLength(raw, 'utf8');
  if (size > maxBytes) throw new ClientError(tooLarge(`Request body is ${size} bytes; the limit is ${maxBytes} bytes`));
  let text = raw;
  if (req.body.base64) {
    const decoded = decodeUtf8(Buffer.from(raw, 'base64'));
    if (!decoded.ok) throw new ClientError(structureError(decoded.message));
    text = decoded.text;
  }
  try {
    return parseFhirJson(text);
  } catch (err) {
    if (err instanceof JsonInputError) throw jsonRefusal(err);
    throw err;
  }
}

/** The JSON text of a response body, decimals as the client sent them (a Bundle's entries included). */
function responseText(body: Resource): string {
  const entries = (body as Bundle).resourceType === 'Bundle' ? (body as Bundle).entry : undefined;
  if (Array.isArray(entries)) {
    for (const e of entries) {
      if (e && hasRawNumbers(e.resource)) markRawPath(body, entries, e);
    }
  }
  return stringifyFhirJson(body);
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
  return { statusCode: status, headers, body: body ? responseText(body) : '' };
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
