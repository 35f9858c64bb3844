/** The `$validate` operation: validation of a resource without storing it. */
import type { Resource } from 'fhir/r4';
import { badRequest, outcomeWithIssues, type FhirResponse } from '../../fhir/outcomes';
import { ClientError } from '../../fhir/errors';
import type { ResourceValidator } from './checks';

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
    const params = (resource as { parameter?: unknown }).parameter;
    if (params !== undefined && !Array.isArray(params)) throw new ClientError(badRequest('Parameters.parameter must be a JSON array', 'Parameters.parameter'));
    const p = (params as { name?: unknown; resource?: Resource }[] | undefined)?.find((x) => x !== null && typeof x === 'object' && x.name === 'resource');
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
