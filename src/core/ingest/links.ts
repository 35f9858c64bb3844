/**
 * The references between the entries of a request and to resources stored earlier:
 * - `fullUrl` must be unique within a Bundle (bdl-7, https://hl7.org/fhir/R4/bundle.html#invs);
 * - conditional references `Type?identifier=…` (https://hl7.org/fhir/R4/http.html#trules) resolve to the one
 *   matching resource, created by an entry of the request or stored earlier by the same source (through the
 *   identifier index, `./conditional`); no match or several fail the entry (a transaction then fails whole);
 *   `Patient?…` references are left to the pseudonymiser, which turns them into the person's pseudonym;
 * - references to another entry's `fullUrl` (`urn:uuid:…`) become `Type/{id}` of that entry: in a transaction
 *   (https://hl7.org/fhir/R4/http.html#transaction) and, as a documented extension, in a batch, where an entry
 *   whose target entry failed (or that refers to a `urn:` no entry has) fails too, saying to send a transaction.
 */
import { badRequest, preconditionFailed } from '../../fhir/outcomes';
import { rewriteReferences } from '../../fhir/bundle';
import { identifierTokens, parseCondition, SUPPORTED_CONDITIONS, type IdentifierPlan } from './conditional';
import type { Entry } from './request';

/** A conditional reference found in an entry's resource. */
export interface ConditionalRef {
  entry: Entry;
  /** The object holding `reference`. */
  holder: Record<string, unknown>;
  /** FHIRPath of the `reference` element. */
  path: string;
  type: string;
  token: string;
}

/**
 * Every `reference` string of a resource (contained resources and extensions included), with a function giving its
 * FHIRPath. The path is built only when asked for: the walk itself allocates nothing per element, where building
 * every element's path made this walk a tenth of what a bulk import allocated. Call `path()` inside the callback:
 * it gives the path of the reference being visited, and the walk moves on once the callback returns.
 */
export function eachReference(
  node: unknown,
  root: string,
  fn: (ref: string, holder: Record<string, unknown>, path: () => string) => void,
): void {
  const segs: (string | number)[] = [];
  const path = (): string => {
    let out = root;
    for (const s of segs) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
    return `${out}.reference`;
  };
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) {
      for (let i = 0; i < n.length; i++) {
        const x = n[i];
        if (x && typeof x === 'object') {
          segs.push(i);
          walk(x);
          segs.pop();
        }
      }
      return;
    }
    const o = n as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (k === 'reference' && typeof v === 'string') fn(v, o, path);
      else if (v && typeof v === 'object') {
        segs.push(k);
        walk(v);
        segs.pop();
      }
    }
  };
  if (node && typeof node === 'object') walk(node);
}

/**
 * bdl-7: a `fullUrl` appears once in a Bundle (https://hl7.org/fhir/R4/bundle.html#invs). Each later entry that
 * repeats an earlier one's fullUrl fails with a 400 naming both entries (a transaction then fails whole).
 */
export function refuseDuplicateFullUrls(entries: Entry[]): void {
  const seen = new Map<string, Entry>();
  for (const e of entries) {
    if (!e.fullUrl) continue;
    const first = seen.get(e.fullUrl);
    if (!first) {
      seen.set(e.fullUrl, e);
      continue;
    }
    const o = badRequest(`bdl-7: ${e.entryPath}.fullUrl repeats the fullUrl of ${first.entryPath}; a fullUrl must be unique in a Bundle`, [
      `${e.entryPath}.fullUrl`,
      `${first.entryPath}.fullUrl`,
    ]);
    e.error = o;
    if (!first.error) first.error = o;
  }
}

/**
 * Finds the conditional references of the entries (`Type?query`, other than `Patient?…`) and adds their tokens
 * to the plan; a query other than `identifier=…` fails the entry (400 naming what is supported).
 * @param urns when given, the entries found holding a `urn:` reference are added to it ({@link linkEntries} then
 *   walks only those when the request has no fullUrls)
 */
export function findConditionalReferences(entries: Entry[], plan: IdentifierPlan | undefined, urns?: Set<Entry>): ConditionalRef[] {
  const out: ConditionalRef[] = [];
  for (const e of entries) {
    if (e.error) continue;
    eachReference(e.resource, e.root, (ref, holder, pathOf) => {
      if (urns && ref.startsWith('urn:')) urns.add(e);
      const q = ref.indexOf('?');
      if (q <= 0) return;
      const type = ref.slice(0, q);
      if (!/^[A-Z][A-Za-z]+$/.test(type) || type === 'Patient' || e.error) return;
      const c = parseCondition(ref.slice(q + 1));
      const path = pathOf();
      if (!plan) {
        e.error = badRequest('Conditional references need the identifier index, which this deployment does not have', path);
      } else if (!('token' in c)) {
        const why = 'error' in c ? c.error : `supported: ${SUPPORTED_CONDITIONS.replace(', identifier=[value] or _id=[id]', ' or identifier=[value]')}`;
        e.error = badRequest(`Conditional reference: ${why}`, path);
      } else {
        plan.want(type, c.token);
        out.push({ entry: e, holder, path, type, token: c.token });
      }
    });
  }
  return out;
}

/**
 * Resolves conditional references (after ids are assigned): the distinct resources of that type carrying the
 * identifier, among the request's accepted entries and the stored ones of the source. One → the reference becomes
 * `Type/{id}` (the pseudonymiser maps it to that resource's lake id); none or several → 412 for the entry.
 * @returns for each entry, the entries of the request its references resolved to
 */
export function resolveConditionalReferences(refs: ConditionalRef[], entries: Entry[], plan: IdentifierPlan): Map<Entry, Set<Entry>> {
  const deps = new Map<Entry, Set<Entry>>();
  const byToken = new Map<string, Entry[]>();
  for (const e of entries) {
    if (e.error || !e.id) continue;
    for (const t of identifierTokens(e.resource)) {
      const k = `${e.type}\u0000${t}`;
      const l = byToken.get(k);
      if (l) l.push(e);
      else byToken.set(k, [e]);
    }
  }
  for (const r of refs) {
    if (r.entry.error) continue;
    const local = byToken.get(`${r.type}\u0000${r.token}`) ?? [];
    const ids = new Set(local.map((e) => e.id!));
    const stored = plan.stored(r.type, r.token);
    if (stored && stored !== 'several') ids.add(stored);
    if (ids.size !== 1 || stored === 'several') {
      const what = ids.size === 0 && stored !== 'several' ? `no ${r.type} matches it` : `several ${r.type} resources match it`;
      r.entry.error = preconditionFailed(
        `Conditional reference at ${r.path} does not resolve: ${what} (it must match exactly one resource of this source, created earlier or by an entry of this request)`,
        r.path,
      );
      continue;
    }
    r.holder.reference = `${r.type}/${[...ids][0]}`;
    const target = local.find((e) => e.id === [...ids][0]);
    if (target && target !== r.entry) {
      let s = deps.get(r.entry);
      if (!s) deps.set(r.entry, (s = new Set()));
      s.add(target);
    }
  }
  return deps;
}

/** The fullUrls of the entries of Bundles nested in a resource (a document or message sent as one entry). */
function nestedFullUrls(node: unknown, out?: Set<string>): Set<string> | undefined {
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const x = node[i];
      if (x && typeof x === 'object') out = nestedFullUrls(x, out);
    }
  } else if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (k === 'fullUrl' && typeof v === 'string') (out ??= new Set()).add(v);
      else if (v && typeof v === 'object') out = nestedFullUrls(v, out);
    }
  }
  return out;
}

/**
 * Points references to entries' fullUrls at the ids the entries got (https://hl7.org/fhir/R4/http.html#transaction,
 * "resolving references in transactions"; for a batch, the documented extension). In a batch, an entry that
 * refers to a failed entry (directly, or through a conditional reference in `deps`) or to a `urn:` that is no
 * entry's fullUrl fails with a 400 naming the reference and saying to send a transaction.
 */
export function linkEntries(entries: Entry[], isTx: boolean, deps: Map<Entry, Set<Entry>>, urns?: ReadonlySet<Entry>): void {
  const byUrl = new Map<string, Entry>();
  for (const e of entries) if (e.fullUrl) byUrl.set(e.fullUrl, e);
  // without fullUrls only urn: references matter, and `urns` (when given) holds every entry with one: the others
  // (an NDJSON import chunk's, a batch of PUTs) are not walked again
  const walks = (e: Entry): boolean => byUrl.size > 0 || urns === undefined || urns.has(e);
  const fail = (e: Entry, path: string, why: string): void => {
    e.error = badRequest(`${e.entryPath} ${why}; send the Bundle as a transaction to have it written all or nothing`, path);
  };
  const refsOf = new Map<Entry, { target?: Entry; path: string }[]>();
  for (const e of entries) {
    if (e.error) continue;
    const l: { target?: Entry; path: string }[] = [];
    // the fullUrls of Bundles nested in the resource, looked for only when a urn: reference has no entry (a walk of
    // every resource otherwise)
    let nested: Set<string> | undefined | null = null;
    if (walks(e)) eachReference(e.resource, e.root, (ref, _h, path) => {
      const target = byUrl.get(ref);
      if (target && target !== e) l.push({ target, path: path() });
      else if (!target && ref.startsWith('urn:') && /^urn:(uuid|oid):/.test(ref)) {
        if (nested === null) nested = nestedFullUrls(e.resource);
        if (!nested?.has(ref)) l.push({ path: path() });
      }
    });
    for (const t of deps.get(e) ?? []) l.push({ target: t, path: e.root });
    refsOf.set(e, l);
  }
  // an entry of a Bundle referring to a urn no entry has is never stored unlinked
  for (const [e, l] of refsOf) {
    if (e.index < 0) continue;
    const lost = l.find((r) => !r.target);
    if (lost) fail(e, lost.path, `refers to a urn: that is the fullUrl of no entry of this Bundle`);
  }
  if (!isTx) {
    for (let changed = true; changed; ) {
      changed = false;
      for (const [e, l] of refsOf) {
        if (e.error) continue;
        const bad = l.find((r) => r.target?.error);
        if (bad) {
          fail(e, bad.path, `refers to ${bad.target!.entryPath}, which failed; in a batch each entry is written on its own`);
          changed = true;
        }
      }
    }
  }
  const map = new Map<string, string>();
  for (const e of entries) if (e.fullUrl && !e.error && e.id) map.set(e.fullUrl, `${e.type}/${e.id}`);
  for (const e of entries) if (!e.error) rewriteReferences(e.resource, map);
}
