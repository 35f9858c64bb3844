/**
 * The checks of a write's entries before anything is stored: token scopes, validation, versions (update,
 * If-Match, source ownership), and the all-or-nothing rule of a transaction. A failed check sets the entry's
 * `error`; only {@link failTransactionIfAny} throws.
 */
import { badRequest, forbidden, getStatus, outcomeWithIssues, preconditionFailed } from '../../fhir/outcomes';
import { ClientError, ValidationError } from '../../fhir/errors';
import { etag, parseETag } from '../../fhir/bundle';
import type { ResourceValidator } from '../../fhir/validation/types';
import type { VersionIndex } from '../ports';
import type { Entry, Principal } from './request';
import type { IndexKeys } from './index-keys';

/** Validates one resource (the type lives with the validation, in src/fhir/validation/types.ts). */
export type { ResourceValidator };

/** Refuses (403) an entry whose interaction the principal's token scopes do not permit. */
export function authorise(p: Principal, e: Entry): void {
  if (!p.canWrite) return;
  const interaction = e.method === 'POST' ? 'create' : 'update';
  if (!p.canWrite(e.type, interaction)) {
    e.error = forbidden(`Token scopes do not permit ${interaction} of ${e.type}`, e.entryPath);
  }
}

/**
 * Validates each entry's resource; an entry with errors (or fatals) is refused with every issue: 422 when an
 * error is a `processing` or `business-rule` issue, 400 otherwise, and marked `invalid` (a content failure).
 */
export function validateEntries(validate: ResourceValidator, entries: Entry[], level?: string): void {
  for (const e of entries) {
    const issues = validate(e.resource, e.root, level);
    const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
    if (errors.length > 0) {
      e.error = outcomeWithIssues(errors.some((i) => i.code === 'processing' || i.code === 'business-rule') ? 422 : 400, issues);
      e.invalid = true;
    }
  }
}

/**
 * Looks up the current version of every updated resource (https://hl7.org/fhir/R4/http.html#update) and sets the
 * entry's `previous` version. Refuses: an update of a resource another source created (403); `If-Match` that is
 * not an ETag (400) or does not match the current version, also when the resource does not exist (412,
 * https://hl7.org/fhir/R4/http.html#concurrency); `If-Match` on a create (412).
 */
export async function resolveVersions(versions: VersionIndex, keys: IndexKeys, p: Principal, entries: Entry[]): Promise<void> {
  const puts = entries.filter((e) => e.method === 'PUT');
  if (puts.length === 0) {
    for (const e of entries) if (e.ifMatch) e.error = preconditionFailed('If-Match on a create', e.entryPath);
    return;
  }
  const current = await versions.get(puts.map((e) => keys.resource(e.type, e.id!)));
  for (const e of entries) {
    if (e.method !== 'PUT') {
      if (e.ifMatch) e.error = preconditionFailed('If-Match on a create', e.entryPath);
      continue;
    }
    const cur = current.get(keys.resource(e.type, e.id!));
    if (cur && cur.source !== p.source) {
      e.error = forbidden(`${e.type}/${e.id} belongs to another source system; a source may only update its own resources`, e.entryPath);
      continue;
    }
    if (e.ifMatch !== undefined) {
      const want = parseETag(e.ifMatch);
      if (want === undefined) {
        e.error = badRequest(`If-Match must be an ETag like W/"1", got '${e.ifMatch}'`, e.entryPath);
        continue;
      }
      if (!cur || cur.versionId !== want) {
        e.error = preconditionFailed(
          `If-Match ${e.ifMatch} does not match the current version ${cur ? etag(cur.versionId) : '(none: resource does not exist)'}`,
          e.entryPath,
        );
        continue;
      }
    }
    e.previous = cur?.versionId;
  }
}

/**
 * A transaction succeeds or fails as a whole (https://hl7.org/fhir/R4/http.html#transaction): when any entry
 * failed, throws one outcome with the status of the first failure and every failed entry's issues, each prefixed
 * with the entry's FHIRPath.
 * @throws ValidationError when every failure is a validation failure, ClientError otherwise.
 */
export function failTransactionIfAny(entries: Entry[]): void {
  const bad = entries.filter((e) => e.error);
  if (bad.length === 0) return;
  const status = getStatus(bad[0].error!);
  const issues = bad.flatMap((e) =>
    e.error!.issue.map((i) => ({
      ...i,
      expression: i.expression && i.expression.length > 0 ? i.expression : [e.entryPath],
      diagnostics: `${e.entryPath}: ${i.diagnostics ?? ''}`,
    })),
  );
  const o = outcomeWithIssues(status, issues.map((i) => ({ ...i, details: undefined })));
  throw bad.every((e) => e.invalid) ? new ValidationError(o) : new ClientError(o);
}
