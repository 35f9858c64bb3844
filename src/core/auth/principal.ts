/**
 * The authenticated caller of a request, as established from a verified bearer token (and only from it).
 */
import type { SmartScope } from '../../fhir/auth/scopes';
import { parseScopes } from '../../fhir/auth/scopes';

/**
 * Who is calling. Every field comes from verified token claims: the source system in particular is the
 * configured source claim (default `tributary_source`) and nothing else. Handlers must never take the source
 * from the request body, a header or a query parameter.
 */
export interface Principal {
  /** Source system (feed) the client writes for, from the source claim. Safe for keys: `[A-Za-z0-9._-]`. */
  readonly source: string;
  /** OAuth client id: `client_id`, else `azp`, else `sub`. */
  readonly clientId: string;
  /** Parsed SMART resource scopes (see `src/fhir/auth/scopes.ts`). */
  readonly scopes: readonly SmartScope[];
  /** The scopes as granted, space-joined (for the authorizer context and logs: scope names are not PHI). */
  readonly scope: string;
  /** `sub` claim, when present. */
  readonly subject?: string;
  /** `jti` claim, when present. */
  readonly tokenId?: string;
  /** `exp` claim (seconds since the epoch). */
  readonly expiresAt?: number;
}

/** A source name that is safe in object keys, metrics and logs. */
export const SOURCE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The API Gateway Lambda authorizer context for a principal (values must be strings, numbers or booleans).
 * The HTTP handler turns it back into a {@link Principal} with {@link principalFromAuthorizerContext}.
 */
export interface AuthorizerContext {
  source: string;
  clientId: string;
  scopes: string;
  subject?: string;
  tokenId?: string;
  [k: string]: string | number | boolean | undefined;
}

/** Serialises a principal into an authorizer `context` (what API Gateway passes to the integration). */
export function authorizerContextOf(p: Principal): AuthorizerContext {
  const ctx: AuthorizerContext = { source: p.source, clientId: p.clientId, scopes: p.scope };
  if (p.subject !== undefined) ctx.subject = p.subject;
  if (p.tokenId !== undefined) ctx.tokenId = p.tokenId;
  return ctx;
}

/**
 * Rebuilds a principal from `event.requestContext.authorizer` (set by our REQUEST authorizer, so trusted:
 * API Gateway does not let clients set it). Returns `undefined` when the context lacks a valid source or
 * client id, so the handler answers 401 rather than trusting a partial context.
 */
export function principalFromAuthorizerContext(ctx: Record<string, unknown> | null | undefined): Principal | undefined {
  if (!ctx) return undefined;
  const source = ctx.source;
  const clientId = ctx.clientId;
  if (typeof source !== 'string' || !SOURCE_PATTERN.test(source)) return undefined;
  if (typeof clientId !== 'string' || clientId === '') return undefined;
  const scope = typeof ctx.scopes === 'string' ? ctx.scopes : '';
  const p: { -readonly [K in keyof Principal]: Principal[K] } = { source, clientId, scope, scopes: parseScopes(scope) };
  if (typeof ctx.subject === 'string') p.subject = ctx.subject;
  if (typeof ctx.tokenId === 'string') p.tokenId = ctx.tokenId;
  return p;
}
