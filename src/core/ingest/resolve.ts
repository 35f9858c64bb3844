/**
 * The conditional steps of a write, in the order of the transaction processing rules
 * (https://hl7.org/fhir/R4/http.html#trules: conditional creates are processed first, then references are
 * resolved): before ids are assigned, conditions are read and matched against the identifier index
 * ({@link resolveConditions}); after, conditional and fullUrl references are resolved ({@link Resolution.link}) and
 * the index entries of the commit computed ({@link Resolution.indexEntries}).
 */
import { badRequest } from '../../fhir/outcomes';
import type { VersionIndex, VersionRecord } from '../ports';
import { IdentifierPlan, indexEntries, planConditions, resolveConditionalCreates, type IdentifierHasher } from './conditional';
import { findConditionalReferences, linkEntries, resolveConditionalReferences, type ConditionalRef } from './links';
import type { Entry } from './request';
import { keepConsistentResends, planResends } from './resend';

/** What the conditional steps need. */
export interface ResolveDeps {
  versions: VersionIndex;
  /** The identifier index's keyed hashing; without it conditional create and conditional references are refused. */
  identifiers?: IdentifierHasher;
  /** The version-index key of a resource (keyed hash of `type/id`, `./index-keys`). */
  resourceKey: (type: string, id: string) => string;
}

/** The state of the conditional steps of one request. */
export class Resolution {
  constructor(
    private readonly plan: IdentifierPlan | undefined,
    private readonly refs: ConditionalRef[],
    private readonly sameAs: Map<Entry, Entry>,
    /** The entries found holding a `urn:` reference (see {@link linkEntries}). */
    private readonly urns: ReadonlySet<Entry>,
  ) {}

  /** Does the commit of this request write index entries (so a lost race on one is worth a re-run)? */
  get indexes(): boolean {
    return this.plan !== undefined && this.plan.keyOf.size > 0;
  }

  /** The entries that get an id and a version: accepted, not answered by an existing resource. */
  toAssign(entries: Entry[]): Entry[] {
    return entries.filter((e) => !e.error && !e.match && !this.sameAs.has(e));
  }

  /**
   * After ids are assigned: a repeated condition takes the id of the entry it repeats; conditional references are
   * resolved; references to fullUrls rewritten (batch: failures cascade, see {@link linkEntries}).
   */
  link(entries: Entry[], isTx: boolean): void {
    for (const [later, first] of this.sameAs) {
      if (later.error || first.error || !first.id) continue;
      later.id = first.id;
      later.match = first.match ?? { id: first.id, versionId: first.versionId!, lastUpdated: first.resource.meta?.lastUpdated ?? '' };
    }
    for (const e of entries) if (e.match && !e.error) e.id = e.match.id;
    const deps = this.plan ? resolveConditionalReferences(this.refs, entries, this.plan) : new Map<Entry, Set<Entry>>();
    for (const [later, first] of this.sameAs) {
      let s = deps.get(later);
      if (!s) deps.set(later, (s = new Set()));
      s.add(first);
    }
    linkEntries(entries, isTx, deps, this.urns);
  }

  /** The identifier-index entries to commit with the versions of `written` (see {@link indexEntries}). */
  indexEntries(written: Entry[], lastUpdated: string): { key: string; expected?: string; record: VersionRecord }[] {
    return this.plan ? indexEntries(this.plan, written, lastUpdated) : [];
  }
}

/**
 * Before ids are assigned: reads every conditional create's condition and every conditional reference, looks the
 * identifiers up in the index (one read), and answers the conditional creates that match (`e.match`) or fail.
 */
export async function resolveConditions(deps: ResolveDeps, source: string, entries: Entry[]): Promise<Resolution> {
  const ok = entries.filter((e) => !e.error);
  const plan = deps.identifiers ? new IdentifierPlan(deps.identifiers, source) : undefined;
  if (plan) {
    planConditions(plan, ok);
    // a POST with a urn:uuid fullUrl and no condition: matched by fullUrl AND content digest (re-sent creates)
    await planResends(plan, deps.identifiers!, ok);
  } else {
    for (const e of ok) {
      if (e.ifNoneExist !== undefined) e.error = badRequest('Conditional create is not available in this deployment (no identifier index)', e.entryPath);
    }
  }
  const urns = new Set<Entry>();
  const refs = findConditionalReferences(ok, plan, urns);
  let sameAs = new Map<Entry, Entry>();
  if (plan) {
    await plan.load(deps.versions);
    sameAs = await resolveConditionalCreates(plan, deps.versions, ok, deps.resourceKey);
    keepConsistentResends(plan, ok);
  }
  return new Resolution(plan, refs, sameAs, urns);
}
