/**
 * OperationOutcome constants, factories, the error class that carries one, and the single
 * mapping from an outcome to an HTTP status (after Medplum's `packages/core/src/outcomes.ts`).
 *
 * Every error Tributary returns is an OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html);
 * handlers never choose a status themselves: they call {@link getStatus}.
 *
 * This module imports nothing but types.
 */
import type { OperationOutcome, OperationOutcomeIssue, Resource } from 'fhir/r4';

/** `[outcome, resource?]`: what every use case returns to a handler (Medplum's FhirResponse). */
export type FhirResponse = [OperationOutcome, Resource?];

/**
 * Issue codes we use, from https://hl7.org/fhir/R4/valueset-issue-type.html, each tied to its HTTP status.
 * The status is carried as a `details.coding` of our own system so {@link getStatus} can read it back
 * from any outcome, including ones built elsewhere (e.g. the validator).
 */
export const STATUS_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/http-status';

function coding(status: number): OperationOutcomeIssue['details'] {
  return { coding: [{ system: STATUS_SYSTEM, code: String(status) }] };
}

/** Builds an outcome with one issue. */
export function outcome(
  status: number,
  code: OperationOutcomeIssue['code'],
  diagnostics: string,
  expression?: string | string[],
  severity: OperationOutcomeIssue['severity'] = status < 400 ? 'information' : 'error',
): OperationOutcome {
  const issue: OperationOutcomeIssue = { severity, code, details: coding(status), diagnostics };
  if (expression !== undefined) issue.expression = Array.isArray(expression) ? expression : [expression];
  return { resourceType: 'OperationOutcome', issue: [issue] };
}

/** Builds an outcome from several issues, all mapped to one status. */
export function outcomeWithIssues(status: number, issues: OperationOutcomeIssue[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({ ...i, details: i.details ?? coding(status) })),
  };
}

export const allOk: OperationOutcome = outcome(200, 'informational', 'All OK');
export const created = (diagnostics = 'Created'): OperationOutcome => outcome(201, 'informational', diagnostics);
export const updated = (diagnostics = 'Updated'): OperationOutcome => outcome(200, 'informational', diagnostics);
export const badRequest = (diagnostics: string, expression?: string | string[]): OperationOutcome =>
  outcome(400, 'invalid', diagnostics, expression);
export const structureError = (diagnostics: string, expression?: string | string[]): OperationOutcome =>
  outcome(400, 'structure', diagnostics, expression);
export const processingError = (diagnostics: string, expression?: string | string[]): OperationOutcome =>
  outcome(422, 'processing', diagnostics, expression);
export const unauthorized = (diagnostics = 'Unauthorized'): OperationOutcome => outcome(401, 'login', diagnostics);
export const forbidden = (diagnostics = 'Forbidden', expression?: string | string[]): OperationOutcome =>
  outcome(403, 'forbidden', diagnostics, expression);
export const notFound = (diagnostics = 'Not found'): OperationOutcome => outcome(404, 'not-found', diagnostics);
export const methodNotAllowed = (diagnostics: string): OperationOutcome => outcome(405, 'not-supported', diagnostics);
export const conflict = (diagnostics: string, expression?: string | string[]): OperationOutcome =>
  outcome(409, 'conflict', diagnostics, expression);
export const preconditionFailed = (diagnostics: string, expression?: string | string[]): OperationOutcome =>
  outcome(412, 'conflict', diagnostics, expression);
export const tooLarge = (diagnostics: string): OperationOutcome => outcome(413, 'too-costly', diagnostics);
export const unsupportedMediaType = (diagnostics: string): OperationOutcome => outcome(415, 'not-supported', diagnostics);
export const tooManyRequests = (diagnostics = 'Too many requests'): OperationOutcome => outcome(429, 'throttled', diagnostics);
export const serverError = (diagnostics = 'Internal server error'): OperationOutcome => outcome(500, 'exception', diagnostics);

/** Fallback statuses by issue code, for outcomes that carry no status coding (e.g. from a library). */
const CODE_STATUS: Record<string, number> = {
  informational: 200,
  invalid: 400,
  structure: 400,
  required: 400,
  value: 400,
  invariant: 400,
  'code-invalid': 400,
  login: 401,
  unknown: 401,
  security: 403,
  forbidden: 403,
  suppressed: 403,
  'not-found': 404,
  deleted: 404,
  'not-supported': 405,
  duplicate: 409,
  conflict: 409,
  'too-costly': 413,
  'too-long': 413,
  throttled: 429,
  processing: 422,
  'business-rule': 422,
  exception: 500,
  timeout: 500,
  transient: 500,
};

/**
 * The one mapping from an OperationOutcome to an HTTP status code.
 * Uses the status coding Tributary puts on each issue; otherwise maps the first error's issue code.
 */
export function getStatus(o: OperationOutcome): number {
  for (const issue of o.issue ?? []) {
    const c = issue.details?.coding?.find((x) => x.system === STATUS_SYSTEM);
    if (c?.code) return Number(c.code);
  }
  const first = o.issue?.find((i) => i.severity === 'error' || i.severity === 'fatal') ?? o.issue?.[0];
  if (!first) return 200;
  if (first.severity === 'information' || first.severity === 'warning') return 200;
  return CODE_STATUS[first.code] ?? 400;
}

/** True when the outcome is a success (2xx). */
export function isOk(o: OperationOutcome): boolean {
  const s = getStatus(o);
  return s >= 200 && s < 300;
}

/** Prefixes every issue expression, e.g. to place a resource's issues under `Bundle.entry[3].resource`. */
export function prefixExpressions(o: OperationOutcome, prefix: string, rootType?: string): OperationOutcome {
  return {
    ...o,
    issue: o.issue.map((i) => ({
      ...i,
      expression: i.expression?.map((e) => {
        if (rootType && (e === rootType || e.startsWith(rootType + '.') || e.startsWith(rootType + '['))) {
          return prefix + e.slice(rootType.length);
        }
        return prefix + (e.startsWith('.') || e.startsWith('[') || e === '' ? e : '.' + e);
      }),
    })),
  };
}
