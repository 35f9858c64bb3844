/**
 * What the client gets back from a write: the single resource's outcome, the batch/transaction response Bundle
 * (https://hl7.org/fhir/R4/http.html#transaction-response) and the reason phrases of the statuses we use.
 */
import type { Bundle, BundleEntry, FhirResource, OperationOutcome, Resource } from 'fhir/r4';
import { created, getStatus, outcomeWithIssues, updated, type FhirResponse } from '../../fhir/outcomes';
import { etag } from '../../fhir/bundle';
import type { Entry } from './request';

/** Reason phrases of the statuses we use. */
const REASONS: Readonly<Record<number, string>> = {
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

/** Reason phrases for the statuses we use. */
export function statusText(status: number): string {
  return REASONS[status] ?? '';
}

/** What the client sees of its resource: its own resource with the server's id and meta (the lake copy is pseudonymised). */
export function clientView(e: Entry): Resource {
  return e.resource;
}

/**
 * The response of a single create or update: 201 Created, or 200 Updated when the resource existed
 * (https://hl7.org/fhir/R4/http.html#create, #update), with the stored resource.
 */
export function singleResponse(e: Entry): FhirResponse {
  if (e.match) return [matchedOutcome(e), matchedView(e)];
  return [e.previous !== undefined ? updated() : created(), clientView(e)];
}

/** The outcome of a conditional create that matched an existing resource (https://hl7.org/fhir/R4/http.html#ccreate). */
function matchedOutcome(e: Entry): OperationOutcome {
  return updated(`Conditional create: ${e.type}/${e.match!.id} matches the condition; nothing was written`);
}

/**
 * What a conditional create that matched returns: the existing resource's id and meta (version, last update);
 * the lake holds only a pseudonymised copy, not the client's view of it.
 */
function matchedView(e: Entry): Resource {
  const m = e.match!;
  return { resourceType: e.type, id: m.id, meta: { versionId: m.versionId, ...(m.lastUpdated ? { lastUpdated: m.lastUpdated } : {}) } } as Resource;
}

/**
 * The response entry of one Bundle entry: its error outcome with its status, or `201 Created` / `200 OK` with the
 * resource, `location` (`{type}/{id}/_history/{version}`), `etag` and `lastModified`.
 */
export function responseEntry(e: Entry): BundleEntry {
  if (e.error) {
    const status = getStatus(e.error);
    return { response: { status: `${status} ${statusText(status)}`, outcome: e.error } };
  }
  if (e.match) {
    const m = e.match;
    return {
      fullUrl: `${e.type}/${m.id}`,
      resource: matchedView(e) as FhirResource,
      response: {
        status: `200 ${statusText(200)}`,
        location: `${e.type}/${m.id}/_history/${m.versionId}`,
        etag: etag(m.versionId),
        ...(m.lastUpdated ? { lastModified: m.lastUpdated } : {}),
        outcome: matchedOutcome(e),
      },
    };
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

/**
 * The response of a batch or transaction: a `batch-response` / `transaction-response` Bundle with one entry per
 * request entry in order (https://hl7.org/fhir/R4/http.html#transaction-response), under a 200 summary outcome
 * saying how many entries were stored.
 */
export function bundleResponse(requestId: string, isTx: boolean, entries: Entry[], stored: number): FhirResponse {
  const response: Bundle = {
    resourceType: 'Bundle',
    id: requestId,
    type: isTx ? 'transaction-response' : 'batch-response',
    entry: entries.map((e) => responseEntry(e)),
  };
  const summary: OperationOutcome = outcomeWithIssues(200, [
    {
      severity: 'information',
      code: 'informational',
      diagnostics: `${stored} of ${entries.length} entries stored`,
    },
  ]);
  return [summary, response];
}
