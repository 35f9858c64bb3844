/**
 * Conditional create (https://hl7.org/fhir/R4/http.html#ccreate) and the identifier index behind it and behind
 * conditional references (https://hl7.org/fhir/R4/http.html#trules).
 *
 * The identifier index lives in the version index, as extra keys committed in the SAME atomic
 * {@link VersionIndex.commit} as the resource versions of the request that creates them:
 * `ident/{Type}/{h}` where `h` is the keyed hash (HMAC under the deployment's key, through the pseudonymiser's
 * {@link IdentifierHasher}) of the source, the type and one identifier token; no identifier value is stored in
 * clear. The record's `lakeId` holds the server-assigned id of the one resource that carries the identifier, or
 * `*` when several do. A conditional create expects its condition's key to be absent: two concurrent creates of
 * the same identifier cannot both commit (the loser gets a {@link VersionConflictError} on the `ident/` key, and
 * the ingestor re-runs the request, which now matches the winner).
 *
 * Matches are per source: a source's conditions and conditional references see only the resources that source
 * created (docs/pseudonymisation.md, "The identifier index", says why).
 *
 * Indexed: the identifiers of every resource created by POST (plain or conditional). Resources created by PUT (ids
 * the client chose, which may be identifiers) are not indexed; `_id=[id]` finds them.
 */
import { badRequest, preconditionFailed } from '../../fhir/outcomes';
import type { VersionIndex, VersionRecord } from '../ports';
import type { Entry } from './request';

/** Keyed hashing of identifier tokens (HMAC under the deployment's key; the pseudonymiser implements it). */
export interface IdentifierHasher {
  /** Keyed hash of `text` namespaced by `source`: same inputs, same hash; nothing of `text` recoverable. */
  identifierHash(source: string, text: string): Promise<string>;
}

/** A condition of a conditional create, or what is wrong with it. */
export type Condition = { token: string; digest?: string } | { id: string } | { error: string };

/** What conditional create and conditional references support, for messages. */
export const SUPPORTED_CONDITIONS = 'identifier=[system]|[value], identifier=[value] or _id=[id]';

/** The index key prefix (lower case: never a resource type). */
export const IDENT_PREFIX = 'ident/';

/** The record value of an index key that several resources share. */
const SEVERAL = '*';

/**
 * The token of a search on `identifier` (https://hl7.org/fhir/R4/search.html#token): `system|value` → `s:`,
 * `|value` (no system) → `n:`, `value` (any system) → `a:`. A system alone (`system|`) is not supported.
 */
export function identifierToken(v: string): string | undefined {
  const bar = v.indexOf('|');
  if (bar < 0) return v ? `a:${v}` : undefined;
  const system = v.slice(0, bar);
  const value = v.slice(bar + 1);
  if (!value) return undefined;
  return system ? `s:${system}|${value}` : `n:${value}`;
}

/**
 * Reads a search query (`identifier=…` or `_id=…`, optionally after `Type?` or `?`) into a {@link Condition}.
 * Exactly one parameter is supported.
 */
export function parseCondition(query: string): Condition {
  const q = query.includes('?') ? query.slice(query.indexOf('?') + 1) : query;
  const parts = q.split('&').filter(Boolean);
  if (parts.length !== 1) return { error: `supported: one search parameter, ${SUPPORTED_CONDITIONS}` };
  const eq = parts[0].indexOf('=');
  const name = eq > 0 ? parts[0].slice(0, eq) : parts[0];
  let value: string;
  try {
    value = decodeURIComponent(eq > 0 ? parts[0].slice(eq + 1) : '');
  } catch {
    return { error: `the search value is not valid URL encoding; supported: ${SUPPORTED_CONDITIONS}` };
  }
  if (name === '_id') return value ? { id: value } : { error: `_id needs a value; supported: ${SUPPORTED_CONDITIONS}` };
  if (name !== 'identifier') {
    const shown = /^[A-Za-z_][A-Za-z0-9_.:-]{0,40}$/.test(name) ? `'${name}'` : 'this parameter';
    return { error: `search on ${shown} is not supported; supported: ${SUPPORTED_CONDITIONS}` };
  }
  const token = identifierToken(value);
  return token ? { token } : { error: `identifier needs a value; supported: ${SUPPORTED_CONDITIONS}` };
}

/** Every identifier token a resource can be found by (system|value and any-system for each identifier). */
export function identifierTokens(resource: unknown): string[] {
  const ids = (resource as { identifier?: unknown }).identifier;
  if (!Array.isArray(ids)) return [];
  const out = new Set<string>();
  for (const i of ids) {
    if (!i || typeof i !== 'object') continue;
    const { system, value } = i as { system?: unknown; value?: unknown };
    if (typeof value !== 'string' || value === '') continue;
    out.add(typeof system === 'string' && system ? `s:${system}|${value}` : `n:${value}`);
    out.add(`a:${value}`);
  }
  return [...out];
}

/** The index lookups of one request: keys by `{type}\0{token}` and their current records. */
export class IdentifierPlan {
  readonly keyOf = new Map<string, string>();
  current = new Map<string, VersionRecord>();
  /** The condition of each conditional-create entry. */
  readonly conditions = new Map<Entry, Condition>();

  constructor(
    private readonly hasher: IdentifierHasher,
    readonly source: string,
  ) {}

  /** Adds `{type}\0{token}` to the lookups. */
  want(type: string, token: string): void {
    this.keyOf.set(`${type}\u0000${token}`, '');
  }

  /** Hashes every wanted token and reads their index records (one version-index read). */
  async load(versions: VersionIndex): Promise<void> {
    const names = [...this.keyOf.keys()];
    const hashes = await Promise.all(names.map((n) => this.hasher.identifierHash(this.source, n)));
    names.forEach((n, i) => this.keyOf.set(n, `${IDENT_PREFIX}${n.slice(0, n.indexOf('\u0000'))}/${hashes[i]}`));
    this.current = names.length > 0 ? await versions.get([...this.keyOf.values()]) : new Map();
  }

  /**
   * The stored match of `{type}\0{token}`: an id, `several`, or undefined. With `digest` (a re-sent create,
   * `./resend`), only a record of that same content digest matches.
   */
  stored(type: string, token: string, digest?: string): string | 'several' | undefined {
    const r = this.current.get(this.keyOf.get(`${type}\u0000${token}`) ?? '');
    if (!r || !r.lakeId || r.source !== this.source) return undefined;
    if (digest !== undefined && r.digest !== digest) return undefined;
    return r.lakeId === SEVERAL ? 'several' : r.lakeId;
  }
}

/**
 * Reads each entry's `If-None-Exist` into the plan; an unsupported condition fails the entry (400 naming what is
 * supported). The identifier tokens of the created (POST) entries are added to the plan's lookups.
 */
export function planConditions(plan: IdentifierPlan, entries: Entry[]): void {
  for (const e of entries) {
    if (e.method !== 'POST') continue;
    for (const t of identifierTokens(e.resource)) plan.want(e.type, t);
    if (e.ifNoneExist === undefined) continue;
    const c = parseCondition(e.ifNoneExist);
    if ('error' in c) {
      const at = e.index < 0 ? e.entryPath : `${e.entryPath}.request.ifNoneExist`;
      e.error = badRequest(`Conditional create: ${c.error}`, at);
      continue;
    }
    plan.conditions.set(e, c);
    if ('token' in c) plan.want(e.type, c.token);
  }
}

/**
 * Resolves the conditional creates of a request against the index (https://hl7.org/fhir/R4/http.html#ccreate):
 * no match → the entry is created; one match → `e.match` is set (answered 200, nothing written); several → 412.
 * A second entry of the request with the same condition as an earlier one is answered with the earlier one's
 * resource (`sameAs`).
 * @returns the later entries that repeat an earlier entry's condition, with that entry
 */
export async function resolveConditionalCreates(
  plan: IdentifierPlan,
  versions: VersionIndex,
  entries: Entry[],
  resourceKey: (type: string, id: string) => string,
): Promise<Map<Entry, Entry>> {
  const sameAs = new Map<Entry, Entry>();
  const first = new Map<string, Entry>();
  const matched: { e: Entry; id: string }[] = [];
  for (const [e, c] of plan.conditions) {
    if (e.error) continue;
    const at = e.index < 0 ? e.entryPath : `${e.entryPath}.request.ifNoneExist`;
    const k = 'token' in c ? `${e.type}\u0000t\u0000${c.token}` : `${e.type}\u0000i\u0000${'id' in c ? c.id : ''}`;
    const earlier = first.get(k);
    if (earlier) {
      sameAs.set(e, earlier);
      continue;
    }
    first.set(k, e);
    if ('token' in c) {
      const hit = plan.stored(e.type, c.token, c.digest);
      if (hit === 'several') e.error = preconditionFailed(`Conditional create: several ${e.type} resources match the condition`, at);
      else if (hit) matched.push({ e, id: hit });
    } else if ('id' in c) {
      matched.push({ e, id: c.id });
    }
  }
  if (matched.length === 0) return sameAs;
  const found = await versions.get(matched.map((m) => resourceKey(m.e.type, m.id)));
  for (const { e, id } of matched) {
    const r = found.get(resourceKey(e.type, id));
    // `_id` of a resource another source owns is no match for this source (matches are per source)
    if (r && r.source === plan.source) e.match = { id, versionId: r.versionId, lastUpdated: r.lastUpdated };
  }
  for (const [later, e] of sameAs) if (e.match) later.match = e.match;
  return sameAs;
}

/**
 * The index entries of a commit: for every identifier token of the created entries (and each conditional
 * create's condition), its key expecting the version read at resolution (absent for a new identifier: the race
 * guard), recording the one resource that carries it, or `*` when several do.
 */
export function indexEntries(
  plan: IdentifierPlan,
  created: Entry[],
  lastUpdated: string,
): { key: string; expected?: string; record: VersionRecord }[] {
  const targets = new Map<string, Set<string>>();
  const digests = new Map<string, string>();
  const add = (type: string, token: string, id: string): void => {
    const key = plan.keyOf.get(`${type}\u0000${token}`);
    if (!key) return;
    let s = targets.get(key);
    if (!s) targets.set(key, (s = new Set()));
    s.add(id);
  };
  for (const e of created) {
    if (e.method !== 'POST' || !e.id) continue;
    for (const t of identifierTokens(e.resource)) add(e.type, t, e.id);
    const c = plan.conditions.get(e);
    if (!c || !('token' in c)) continue;
    if (c.digest === undefined) add(e.type, c.token, e.id);
    else {
      // a re-sent create's token is indexed once, by the first content sent under it (never merged: ./resend)
      const key = plan.keyOf.get(`${e.type}\u0000${c.token}`);
      if (!key || plan.current.has(key)) continue;
      digests.set(key, c.digest);
      add(e.type, c.token, e.id);
    }
  }
  const out: { key: string; expected?: string; record: VersionRecord }[] = [];
  for (const [key, ids] of targets) {
    const cur = plan.current.get(key);
    if (cur?.lakeId === SEVERAL) continue;
    const all = new Set(ids);
    if (cur?.lakeId) all.add(cur.lakeId);
    const record: VersionRecord = {
      versionId: String(Number(cur?.versionId ?? 0) + 1),
      source: plan.source,
      lastUpdated,
      lakeId: all.size === 1 ? [...all][0] : SEVERAL,
      ...(digests.has(key) ? { digest: digests.get(key) } : {}),
    };
    out.push({ key, expected: cur?.versionId, record });
  }
  return out;
}

/** Is `err` (or its cause) a lost race on an identifier-index key (a concurrent create of the same identifier)? */
export function isIdentifierRace(err: unknown): boolean {
  for (let e: unknown = err, i = 0; e && i < 3; e = (e as { cause?: unknown }).cause, i++) {
    const key = (e as { key?: unknown }).key;
    if ((e as Error).name === 'VersionConflictError' && typeof key === 'string' && key.startsWith(IDENT_PREFIX)) return true;
  }
  return false;
}
