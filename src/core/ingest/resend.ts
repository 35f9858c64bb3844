/**
 * Re-sent creates: a POST entry of a batch or transaction with a `urn:uuid:` fullUrl and no `ifNoneExist` is an
 * implicit conditional create (https://hl7.org/fhir/R4/http.html#ccreate) keyed by that fullUrl, so a client that
 * sends the same transaction again (a retry after a timeout, a re-run of a loader) creates nothing new.
 *
 * Safety first (a wrong merge is worse than a duplicate): the identifier-index record of the fullUrl's token
 * (`ident/{Type}/{h}`, `h` the keyed hash of the source, the type and `u:{fullUrl}`) also holds a keyed digest of
 * the resource as the client sent it (lossless JSON text without `id` and `meta`, hashed under the deployment's
 * key). A re-sent entry matches only when the token AND the digest match, and only when every entry of the Bundle it
 * refers to by fullUrl matches too (else it would point at the old targets); otherwise it is a plain create, not
 * indexed under that token (the first resource keeps the token; the new one is never merged with it).
 */
import { stringifyFhirJson } from '../../fhir/json';
import type { IdentifierHasher, IdentifierPlan } from './conditional';
import { eachReference } from './links';
import type { Entry } from './request';

/** The token prefix of a fullUrl (never one of an identifier's, `s:`, `n:`, `a:`). */
const RESEND = 'u:';

/**
 * Is `e` an implicit conditional create by its fullUrl (https://hl7.org/fhir/R4/http.html#ccreate): a POST entry of
 * a batch/transaction (https://hl7.org/fhir/R4/http.html#transaction) with a `urn:uuid:` fullUrl and no condition?
 */
export const isResendCandidate = (e: Entry): boolean =>
  e.method === 'POST' && e.index >= 0 && e.ifNoneExist === undefined && typeof e.fullUrl === 'string' && e.fullUrl.startsWith('urn:uuid:');

/**
 * The keyed digest of a resource as sent: HMAC (the {@link IdentifierHasher}) of the type and the lossless JSON text
 * of the resource without `id` and `meta` (what the server sets or the client may vary on a retry;
 * https://hl7.org/fhir/R4/resource.html#Meta).
 */
export function contentDigest(hasher: IdentifierHasher, source: string, e: Entry): Promise<string> {
  const { id: _id, meta: _meta, ...content } = e.resource as unknown as Record<string, unknown>;
  return hasher.identifierHash(source, `digest\u0000${e.type}\u0000${stringifyFhirJson(content)}`);
}

/**
 * Adds a condition `{ token: u:{fullUrl}, digest }` for every re-send candidate of the request (before the
 * index is read, {@link IdentifierPlan.load}; conditional creates first, https://hl7.org/fhir/R4/http.html#trules).
 */
export async function planResends(plan: IdentifierPlan, hasher: IdentifierHasher, entries: Entry[]): Promise<void> {
  const candidates = entries.filter((e) => !e.error && isResendCandidate(e));
  const digests = await Promise.all(candidates.map((e) => contentDigest(hasher, plan.source, e)));
  candidates.forEach((e, i) => {
    const token = `${RESEND}${e.fullUrl}`;
    plan.conditions.set(e, { token, digest: digests[i] });
    plan.want(e.type, token);
  });
}

/**
 * A re-sent entry that matched stays matched only if every entry it refers to by fullUrl matched too (repeated
 * until nothing changes); the others become plain creates (the match would point at the old targets; references
 * between entries: https://hl7.org/fhir/R4/bundle.html#references).
 */
export function keepConsistentResends(plan: IdentifierPlan, entries: Entry[]): void {
  const byUrl = new Map<string, Entry>();
  for (const e of entries) if (e.fullUrl) byUrl.set(e.fullUrl, e);
  const isResend = (e: Entry): boolean => {
    const c = plan.conditions.get(e);
    return c !== undefined && 'digest' in c && c.digest !== undefined;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const e of entries) {
      if (!e.match || e.error || !isResend(e)) continue;
      let stale = false;
      eachReference(e.resource, e.root, (ref) => {
        const target = byUrl.get(ref);
        if (target && target !== e && (!target.match || target.error)) stale = true;
      });
      if (stale) {
        e.match = undefined;
        changed = true;
      }
    }
  }
}
