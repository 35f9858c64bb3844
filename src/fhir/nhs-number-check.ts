/**
 * NHS numbers are checked during validation, before anything is written: a Patient (top-level or contained)
 * whose `https://fhir.nhs.uk/Id/nhs-number` identifier fails the Modulus 11 check is refused with a located
 * issue (422, business-rule), per entry in a batch. The pseudonymiser would refuse it too; checking here keeps
 * batch semantics (only that entry fails) and the error's expression exact.
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { NHS_NUMBER_SYSTEM, isValidNhsNumber, normaliseNhsNumber } from './pseudo/nhs-number';

interface Json {
  [k: string]: unknown;
}

/**
 * Issues for invalid NHS numbers on the Patients of `resource` (itself, contained, or nested Bundle entries): the
 * UK Core NHS number identifier (https://simplifier.net/hl7fhirukcorer4, system `https://fhir.nhs.uk/Id/nhs-number`)
 * with the NHS Data Dictionary's Modulus 11 check (https://www.datadictionary.nhs.uk/attributes/nhs_number.html).
 * @param resource the parsed resource
 * @param root FHIRPath of the resource in the request, the prefix of every expression
 */
export function nhsNumberIssues(resource: unknown, root: string): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const visit = (r: Json | undefined, at: string): void => {
    if (!r || typeof r !== 'object') return;
    if (r.resourceType === 'Patient' && Array.isArray(r.identifier)) {
      (r.identifier as Json[]).forEach((id, i) => {
        if (id?.system === NHS_NUMBER_SYSTEM && typeof id.value === 'string' && !isValidNhsNumber(normaliseNhsNumber(id.value))) {
          issues.push({
            severity: 'error',
            code: 'business-rule',
            diagnostics: 'NHS number is not valid (10 digits with a Modulus 11 check digit)',
            expression: [`${at}.identifier[${i}].value`],
          });
        }
      });
    }
    if (Array.isArray(r.contained)) (r.contained as Json[]).forEach((c, i) => visit(c, `${at}.contained[${i}]`));
    if (r.resourceType === 'Bundle' && Array.isArray(r.entry)) {
      (r.entry as Json[]).forEach((e, i) => visit(e?.resource as Json | undefined, `${at}.entry[${i}].resource`));
    }
  };
  visit(resource as Json, root);
  return issues;
}
