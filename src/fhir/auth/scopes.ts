/**
 * SMART on FHIR scopes for a system-to-system ingestion API (pure; no I/O).
 *
 * Grammar (SMART App Launch v1 and v2, https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
 *
 *     scope       = context "/" type "." permissions [ "?" query ]
 *     context     = "system" | "user" | "patient"
 *     type        = FHIR resource type | "*"
 *     permissions = "read" | "write" | "*"          (v1)
 *                 | c? r? u? d? s?  (in this order, at least one)   (v2)
 *
 * Decisions (documented here because they are policy, not grammar):
 *
 * - Only `system/` scopes grant anything: Tributary is a backend-services API, so `user/` and `patient/`
 *   scopes (and non-resource scopes such as `openid`, `launch`, `offline_access`) are parsed but ignored.
 * - v1 `write` grants create, update and delete; v1 `read` grants read and search; v1 `*` grants all.
 *   v2 `c` grants create, `u` grants update (and so on for r, d, s).
 * - A v2 scope with a query (`system/Observation.c?category=laboratory`) is a *restricted* grant. Tributary
 *   does not evaluate the query against the resource, so, conservatively, a query-restricted scope grants
 *   nothing at all: not writes and not `$validate`. A client that needs to write must be given an
 *   unrestricted scope for the type.
 * - `$validate` stores and returns nothing from the lake, but it is still a call about one resource type: it
 *   is allowed when an unrestricted system scope on that type (or `*`) grants create, update or read
 *   (`c`, `u` or `r`; v1 `write`, `read` or `*`). A client with only `d` or `s` cannot validate.
 * - Malformed scopes (bad permission order, unknown context, empty type) are ignored, never partially honoured.
 */
import { forbidden } from '../outcomes';
import { AuthError } from '../errors';

/** One SMART permission letter (v2 form; v1 scopes are mapped onto these). */
export type ScopePermission = 'c' | 'r' | 'u' | 'd' | 's';

/** The interactions Tributary authorises with scopes. */
export type ScopedInteraction = 'create' | 'update' | 'validate';

/** A parsed SMART resource scope. */
export interface SmartScope {
  /** The scope exactly as granted. */
  raw: string;
  context: 'system' | 'user' | 'patient';
  /** A resource type, or `*` for all types. */
  resourceType: string;
  /** Permissions granted, after mapping v1 `read`/`write`/`*` to letters. */
  permissions: ReadonlySet<ScopePermission>;
  /** 1 for `read`/`write`/`*`, 2 for `cruds` letters. */
  version: 1 | 2;
  /** The v2 query restriction (without `?`), when present. Such scopes grant nothing here (see module doc). */
  query?: string;
}

/** Anything holding parsed scopes (a `Principal` does). */
export interface ScopeHolder {
  readonly scopes: readonly SmartScope[];
}

/** One Bundle entry (or single resource) to check: `index` is the entry index in `Bundle.entry`. */
export interface EntryScopeCheck {
  resourceType: string;
  interaction: ScopedInteraction;
  index: number;
}

/** A refused entry: its index and the 403 outcome to put in its `response.outcome`. */
export interface EntryRefusal {
  index: number;
  outcome: ReturnType<typeof forbidden>;
}

const SCOPE_RE = /^(system|user|patient)\/(\*|[A-Z][A-Za-z]{0,63})\.([a-z*]+)(?:\?(.+))?$/;
const V2_RE = /^c?r?u?d?s?$/;
const ALL: ScopePermission[] = ['c', 'r', 'u', 'd', 's'];

function permissionsOf(p: string): { perms: ScopePermission[]; version: 1 | 2 } | undefined {
  if (p === 'read') return { perms: ['r', 's'], version: 1 };
  if (p === 'write') return { perms: ['c', 'u', 'd'], version: 1 };
  if (p === '*') return { perms: ALL, version: 1 };
  if (p.length > 0 && V2_RE.test(p)) return { perms: p.split('') as ScopePermission[], version: 2 };
  return undefined;
}

/**
 * Parses a space-delimited scope string (the OAuth `scope` claim) or an array of scopes (e.g. `scp`).
 * Non-resource and malformed scopes are dropped; the result keeps only resource scopes.
 */
export function parseScopes(scope: string | readonly string[] | undefined | null): SmartScope[] {
  if (scope === undefined || scope === null) return [];
  const parts = typeof scope === 'string' ? scope.split(/\s+/) : scope.flatMap((s) => String(s).split(/\s+/));
  const out: SmartScope[] = [];
  for (const raw of parts) {
    if (!raw) continue;
    const m = SCOPE_RE.exec(raw);
    if (!m) continue;
    const perm = permissionsOf(m[3]);
    if (!perm) continue;
    if (m[4] !== undefined && perm.version === 1) continue; // queries are a v2 feature only
    const s: SmartScope = {
      raw,
      context: m[1] as SmartScope['context'],
      resourceType: m[2],
      permissions: new Set(perm.perms),
      version: perm.version,
    };
    if (m[4] !== undefined) s.query = m[4];
    out.push(s);
  }
  return out;
}

/** Unrestricted system scopes that cover `resourceType` (exactly or through `*`). */
function applicable(scopes: readonly SmartScope[], resourceType: string): SmartScope[] {
  return scopes.filter(
    (s) =>
      s.context === 'system' && s.query === undefined && (s.resourceType === '*' || s.resourceType === resourceType),
  );
}

/**
 * True when the scopes allow `interaction` on `resourceType`: create needs `c` (v1 `write`/`*`), update needs
 * `u` (v1 `write`/`*`). Only unrestricted `system/` scopes count.
 */
export function canWrite(scopes: readonly SmartScope[], resourceType: string, interaction: 'create' | 'update'): boolean {
  const need: ScopePermission = interaction === 'create' ? 'c' : 'u';
  return applicable(scopes, resourceType).some((s) => s.permissions.has(need));
}

/** True when the scopes allow `$validate` of `resourceType`: any unrestricted system `c`, `u` or `r` on it. */
export function canValidate(scopes: readonly SmartScope[], resourceType: string): boolean {
  return applicable(scopes, resourceType).some((s) => s.permissions.has('c') || s.permissions.has('u') || s.permissions.has('r'));
}

/** True when the scopes allow `interaction` on `resourceType` (dispatches to {@link canWrite} / {@link canValidate}). */
export function can(scopes: readonly SmartScope[], resourceType: string, interaction: ScopedInteraction): boolean {
  return interaction === 'validate' ? canValidate(scopes, resourceType) : canWrite(scopes, resourceType, interaction);
}

/** The 403 diagnostics for a refused interaction (no scope values, only the type and interaction). */
export function refusalMessage(resourceType: string, interaction: ScopedInteraction): string {
  return `Scope does not permit ${interaction} of ${resourceType}`;
}

/**
 * Checks every entry of a batch/transaction (or a single resource, with `expression` of your choice) against
 * the principal's scopes. Returns one refusal per entry that is not permitted, in input order; an empty array
 * means everything is allowed. Each outcome is `forbidden('Scope does not permit create of Observation', 'Bundle.entry[3]')`.
 */
export function checkEntryScopes(principal: ScopeHolder, entries: readonly EntryScopeCheck[]): EntryRefusal[] {
  const refused: EntryRefusal[] = [];
  for (const e of entries) {
    if (!can(principal.scopes, e.resourceType, e.interaction)) {
      refused.push({ index: e.index, outcome: forbidden(refusalMessage(e.resourceType, e.interaction), `Bundle.entry[${e.index}]`) });
    }
  }
  return refused;
}

/**
 * Throws `AuthError(forbidden(...))` (403) unless the scopes allow `interaction` on `resourceType`.
 * For single-resource requests (`POST /Observation`, `PUT /Observation/x`, `$validate`).
 */
export function requireScope(principal: ScopeHolder, resourceType: string, interaction: ScopedInteraction): void {
  if (!can(principal.scopes, resourceType, interaction)) {
    throw new AuthError(forbidden(refusalMessage(resourceType, interaction), resourceType));
  }
}

/**
 * The `WWW-Authenticate` value for a 403 caused by missing scopes (RFC 6750 §3.1 `insufficient_scope`).
 * `needed` is a suggestion of the scope that would have allowed the call, e.g. `system/Observation.c`.
 */
export function insufficientScopeChallenge(resourceType: string, interaction: ScopedInteraction, realm = 'tributary'): string {
  const letter = interaction === 'update' ? 'u' : 'c';
  return `Bearer realm="${realm}", error="insufficient_scope", scope="system/${resourceType}.${letter}"`;
}

/**
 * The scope that allows starting and following bulk import jobs (`POST /fhir/$import`,
 * https://hl7.org/fhir/R4/async.html). Not a SMART resource scope: read from the token's raw `scope` string. Each
 * imported resource still needs a write scope on its type, checked per entry as for REST.
 */
export const BULK_IMPORT_SCOPE = 'system/$import';

/** True when a space-delimited scope string grants {@link BULK_IMPORT_SCOPE}. */
export function canBulkImport(scope: string | undefined): boolean {
  return (scope ?? '').split(/\s+/).includes(BULK_IMPORT_SCOPE);
}
