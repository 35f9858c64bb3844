/**
 * The `$validate` use case (https://hl7.org/fhir/R4/resource-operation-validate.html): the caller's scopes must
 * permit validating the type (or `Parameters`), then the resource is validated and nothing is stored.
 */
import { forbidden, type FhirResponse } from '../../fhir/outcomes';
import { ClientError } from '../../fhir/errors';
import { validateOnly, type Principal, type ResourceValidator } from '../ingest';

/** A caller that may carry a `$validate` scope check (absent when auth is off). */
export type ValidatingPrincipal = Principal & {
  canValidate?: (type: string) => boolean;
  /** The token's scopes as granted (space-joined); absent when authentication is off. */
  scope?: string;
};

/** Input of {@link validateResource}. */
export interface ValidateRequest {
  /** Resource type of the URL (`/fhir/{type}/$validate`); undefined for `/fhir/$validate`. */
  type?: string;
  body: unknown;
  /** Validation level override, if the deployment allows it. */
  level?: string;
  principal: ValidatingPrincipal;
}

/** Checks the `$validate` scope, then validates: 200 with the issues, or 422 when there are errors. */
export function validateResource(validate: ResourceValidator, req: ValidateRequest): FhirResponse {
  const bodyType = (req.body as { resourceType?: unknown } | null)?.resourceType;
  const checkType = req.type ?? (typeof bodyType === 'string' ? bodyType : undefined);
  const can = req.principal.canValidate;
  if (checkType && can && !can(checkType) && !can('Parameters')) {
    throw new ClientError(forbidden(`Token scopes do not permit $validate of ${checkType}`));
  }
  return validateOnly(validate, { type: req.type, body: req.body, level: req.level });
}
