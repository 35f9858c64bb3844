/** The API's use cases: writes (with the triage hold), `$validate` (with its scope check), the per-request audit record. */
export { writeResources, type WriteDeps } from './write';
export { validateResource, type ValidateRequest, type ValidatingPrincipal } from './validate';
export { recordRequest, AuditUnavailableError, type RequestRecord } from './record-request';
export { recoverCommits, DEFAULT_LEASE_MS, type RecoveryReport } from './recover-commits';
