/**
 * Bearer-token (JWT access token) verification for every source system.
 *
 * Uses jose's `jwtVerify` (https://github.com/panva/jose): signature against the issuer's JWKS, `iss`, `aud`,
 * `exp`/`nbf` with a small clock tolerance, and an allow-list of *asymmetric* algorithms only. `none` and every
 * HMAC (`HS*`) algorithm are refused before any key is looked up, so a token "signed" with the issuer's public
 * key as an HMAC secret (the classic algorithm-confusion attack) is rejected.
 *
 * Token lifetime (RFC 9068 §2.2 makes `iat` required in JWT access tokens; RFC 7519 §4.1.6): every token must
 * carry `iat`; an `iat` later than now plus the clock tolerance is refused (`Token issued in the future`); a
 * lifetime `exp - iat` above {@link TokenVerifierOptions.maxLifetimeSec} (default {@link DEFAULT_MAX_LIFETIME_SEC},
 * one hour) is refused (`Token lifetime too long`). Together with the `exp` check these bound a token's age:
 * now - iat = (now - exp) + (exp - iat) < tolerance + maxLifetime, so no accepted token is older than the
 * maximum lifetime plus the clock tolerance since `iat`, and a long-lived or pre-dated token cannot be replayed.
 *
 * Failures throw {@link TokenError} (an `AuthError` carrying a 401 OperationOutcome with short, non-leaking
 * diagnostics such as `Token expired`) and a ready `WWW-Authenticate` challenge (RFC 6750 §3). A JWKS that
 * cannot be fetched is the server's problem, not the client's: it throws {@link KeySetUnavailableError} (503).
 *
 * No environment reading here: configuration is passed in by the bootstrap (from src/config.ts).
 */
import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { outcome, unauthorized } from '../../fhir/outcomes';
import { AuthError, OperationOutcomeError } from '../../fhir/errors';
import { parseScopes } from '../../fhir/auth/scopes';
import { SOURCE_PATTERN, type Principal } from './principal';

/** Asymmetric JWS algorithms Tributary can ever accept (RFC 7518 §3, RFC 8037). */
export const ASYMMETRIC_ALGORITHMS: readonly string[] = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA', 'Ed25519',
];

/** Default allow-list. */
export const DEFAULT_ALGORITHMS: readonly string[] = ['RS256', 'RS384', 'ES256', 'ES384', 'PS256'];

/** Default realm in `WWW-Authenticate` challenges. */
export const DEFAULT_REALM = 'tributary';

/** Default maximum token lifetime (`exp - iat`) and age (now - `iat`), seconds: one hour. */
export const DEFAULT_MAX_LIFETIME_SEC = 3600;

/** Default clock skew tolerated on `exp`/`nbf`/`iat`, seconds. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 30;

/** Longest `Authorization` header we try to parse (bytes); longer is refused as malformed. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** Options for {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /** Expected `iss` (exact match; several allowed). */
  issuer: string | string[];
  /** Expected `aud` (the token's `aud` must contain one of these). */
  audience: string | string[];
  /**
   * Where the signing keys come from: the issuer's JWKS URL (fetched and cached by jose's `createRemoteJWKSet`)
   * or a jose key getter (`createLocalJWKSet(jwks)`, or any `JWTVerifyGetKey`).
   */
  jwks: string | URL | JWTVerifyGetKey;
  /** Allowed algorithms; must be a subset of {@link ASYMMETRIC_ALGORITHMS}. Default {@link DEFAULT_ALGORITHMS}. */
  algorithms?: readonly string[];
  /** Clock skew tolerated on `exp`/`nbf`/`iat`, seconds. Default {@link DEFAULT_CLOCK_TOLERANCE_SEC}. */
  clockToleranceSec?: number;
  /** Claim holding the source system. Default `tributary_source`. Required in every token. */
  sourceClaim?: string;
  /** Claim holding the scopes (space-delimited string or array). Default `scope`. */
  scopeClaim?: string;
  /** Expected `typ` header (e.g. `at+jwt`, RFC 9068). Not checked when absent. */
  requiredType?: string;
  /**
   * Longest accepted token lifetime `exp - iat`, seconds, which also bounds the age since `iat` (to this plus the
   * clock tolerance). Default {@link DEFAULT_MAX_LIFETIME_SEC}. A positive whole number.
   */
  maxLifetimeSec?: number;
  /** Realm in challenges. Default `tributary`. */
  realm?: string;
  /** Current time (tests; a `Clock`). Default: system time. */
  now?: () => Date;
  /** Remote JWKS fetch timeout, ms (jose default 5000). */
  jwksTimeoutMs?: number;
  /** Remote JWKS cache max age, ms (jose default 600000). */
  jwksCacheMaxAgeMs?: number;
}

/** Verifies `Authorization` header values. Create one per process and reuse it (the JWKS is cached inside). */
export interface TokenVerifier {
  /** Verifies `Authorization: Bearer <jwt>` and returns the caller, or throws {@link TokenError} / {@link KeySetUnavailableError}. */
  verify(authorizationHeader: string | undefined | null): Promise<Principal>;
}

/** Why a token was refused: `missing` (no credentials, RFC 6750 says: no error code), `invalid_request`, `invalid_token`. */
export type TokenErrorKind = 'missing' | 'invalid_request' | 'invalid_token';

/**
 * A refused token: an `AuthError` whose outcome maps to 401, plus the `WWW-Authenticate` header value the
 * handler must send with it.
 */
export class TokenError extends AuthError {
  override readonly name: string = 'TokenError';
  /** The `WWW-Authenticate` header value for the 401 response. */
  readonly wwwAuthenticate: string;
  constructor(
    readonly kind: TokenErrorKind,
    diagnostics: string,
    options?: { cause?: unknown; realm?: string },
  ) {
    super(unauthorized(diagnostics), options);
    this.wwwAuthenticate = bearerChallenge(kind, diagnostics, options?.realm);
  }
}

/** The issuer's keys could not be fetched or were unusable: 503, the client may retry. */
export class KeySetUnavailableError extends OperationOutcomeError {
  override readonly name: string = 'KeySetUnavailableError';
  constructor(options?: { cause?: unknown }) {
    super(outcome(503, 'transient', 'Token signing keys are temporarily unavailable'), options);
  }
}

/**
 * A `WWW-Authenticate` value (RFC 6750 §3): `Bearer realm="tributary"` when credentials were missing, else
 * with `error="invalid_token"` (or `invalid_request`) and a short description.
 */
export function bearerChallenge(kind: TokenErrorKind, description?: string, realm = DEFAULT_REALM): string {
  const q = (s: string) => s.replace(/["\\]/g, '');
  if (kind === 'missing') return `Bearer realm="${q(realm)}"`;
  const desc = description ? `, error_description="${q(description)}"` : '';
  return `Bearer realm="${q(realm)}", error="${kind}"${desc}`;
}

/** The `WWW-Authenticate` header for any error thrown by {@link TokenVerifier.verify}, or `undefined` when it needs none. */
export function wwwAuthenticateFor(err: unknown): string | undefined {
  return err instanceof TokenError ? err.wwwAuthenticate : undefined;
}

type ErrorLike = { code?: unknown; claim?: unknown; name?: unknown };

/** Maps a jose failure to a short, non-leaking diagnostic; `undefined` = not the client's fault. */
function diagnose(err: unknown): string | undefined {
  const e = (err ?? {}) as ErrorLike;
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return 'Token expired';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      switch (e.claim) {
        case 'nbf':
          return 'Token not yet valid';
        case 'iss':
          return 'Token issuer mismatch';
        case 'aud':
          return 'Token audience mismatch';
        case 'iat':
          return 'Token issued-at missing or invalid';
        case 'exp':
          return 'Token expiry missing or invalid';
        case 'typ':
          return 'Token type not accepted';
        default:
          return 'Token claims invalid';
      }
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return 'Token algorithm not allowed';
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'Token format not supported';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return 'Token signature invalid';
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'Token signing key not recognised';
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return 'Token malformed';
    default:
      return undefined; // JWKS timeout/invalid/HTTP error, fetch failure, bug: not a client error
  }
}

/**
 * The lifetime rules jose leaves to the caller (RFC 7519 §4.1.6 `iat`): refused when issued later than now plus
 * the tolerance, or when `exp - iat` exceeds the maximum lifetime (no clock involved: both are the token's own
 * claims). The age since `iat` needs no check of its own: jose has already refused `exp <= now - tolerance`, so
 * an accepted token is at most `maxLifetime + tolerance` old. Returns the diagnostic, or `undefined`.
 */
function lifetimeProblem(iat: number, exp: number, nowSec: number, toleranceSec: number, maxLifetimeSec: number): string | undefined {
  if (iat > nowSec + toleranceSec) return 'Token issued in the future';
  if (exp - iat > maxLifetimeSec) return 'Token lifetime too long';
  return undefined;
}

function asList(v: string | string[]): string[] {
  return Array.isArray(v) ? v : [v];
}

function stringClaim(payload: JWTPayload, claim: string): string | undefined {
  const v = payload[claim];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Creates a {@link TokenVerifier}. Throws at construction (a configuration bug) when the algorithm list is empty
 * or contains anything outside {@link ASYMMETRIC_ALGORITHMS} (`none`, `HS256`, ...), or issuer/audience are empty.
 */
export function createTokenVerifier(opts: TokenVerifierOptions): TokenVerifier {
  const algorithms = [...(opts.algorithms ?? DEFAULT_ALGORITHMS)];
  if (algorithms.length === 0) throw new TypeError('createTokenVerifier: algorithms must not be empty');
  for (const a of algorithms) {
    if (!ASYMMETRIC_ALGORITHMS.includes(a)) {
      throw new TypeError(`createTokenVerifier: algorithm ${a} is not an allowed asymmetric JWS algorithm`);
    }
  }
  const issuers = asList(opts.issuer).filter((s) => s !== '');
  const audiences = asList(opts.audience).filter((s) => s !== '');
  if (issuers.length === 0) throw new TypeError('createTokenVerifier: issuer is required');
  if (audiences.length === 0) throw new TypeError('createTokenVerifier: audience is required');

  const toleranceSec = opts.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  if (!Number.isFinite(toleranceSec) || toleranceSec < 0) throw new TypeError('createTokenVerifier: clockToleranceSec must be >= 0');
  const maxLifetimeSec = opts.maxLifetimeSec ?? DEFAULT_MAX_LIFETIME_SEC;
  if (!Number.isInteger(maxLifetimeSec) || maxLifetimeSec <= 0) {
    throw new TypeError('createTokenVerifier: maxLifetimeSec must be a positive whole number of seconds');
  }
  const realm = opts.realm ?? DEFAULT_REALM;
  const sourceClaim = opts.sourceClaim ?? 'tributary_source';
  const scopeClaim = opts.scopeClaim ?? 'scope';
  const keys: JWTVerifyGetKey =
    typeof opts.jwks === 'function'
      ? opts.jwks
      : createRemoteJWKSet(new URL(String(opts.jwks)), {
          ...(opts.jwksTimeoutMs !== undefined && { timeoutDuration: opts.jwksTimeoutMs }),
          ...(opts.jwksCacheMaxAgeMs !== undefined && { cacheMaxAge: opts.jwksCacheMaxAgeMs }),
        });
  const fail = (kind: TokenErrorKind, diagnostics: string, cause?: unknown): TokenError =>
    new TokenError(kind, diagnostics, { realm, ...(cause !== undefined && { cause }) });

  return {
    async verify(header) {
      if (header === undefined || header === null || header.trim() === '') throw fail('missing', 'Missing bearer token');
      if (header.length > MAX_TOKEN_LENGTH) throw fail('invalid_request', 'Authorization header too long');
      const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
      if (!m) {
        throw /^Bearer\b/i.test(header)
          ? fail('invalid_request', 'Malformed bearer token')
          : fail('invalid_request', 'Authorization scheme must be Bearer');
      }
      const now = opts.now?.() ?? new Date();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(m[1], keys, {
          issuer: issuers,
          audience: audiences,
          algorithms,
          clockTolerance: toleranceSec,
          requiredClaims: ['exp', 'iat'],
          ...(opts.requiredType !== undefined && { typ: opts.requiredType }),
          currentDate: now,
        }));
      } catch (err) {
        const d = diagnose(err);
        if (d === undefined) throw new KeySetUnavailableError({ cause: err });
        throw fail('invalid_token', d, err);
      }
      // jose has checked that both are NumericDates (requiredClaims above).
      const lifetime = lifetimeProblem(payload.iat as number, payload.exp as number, Math.floor(now.getTime() / 1000), toleranceSec, maxLifetimeSec);
      if (lifetime !== undefined) throw fail('invalid_token', lifetime);

      const source = stringClaim(payload, sourceClaim);
      if (source === undefined || !SOURCE_PATTERN.test(source)) throw fail('invalid_token', 'Token source claim missing or invalid');
      const clientId = stringClaim(payload, 'client_id') ?? stringClaim(payload, 'azp') ?? payload.sub;
      if (typeof clientId !== 'string' || clientId === '') throw fail('invalid_token', 'Token client id missing');

      const rawScope = payload[scopeClaim];
      const scopeList =
        typeof rawScope === 'string'
          ? rawScope.split(/\s+/).filter(Boolean)
          : Array.isArray(rawScope)
            ? rawScope.filter((s): s is string => typeof s === 'string')
            : [];
      const principal: { -readonly [K in keyof Principal]: Principal[K] } = {
        source,
        clientId,
        scopes: parseScopes(scopeList),
        scope: scopeList.join(' '),
      };
      if (typeof payload.sub === 'string') principal.subject = payload.sub;
      if (typeof payload.jti === 'string') principal.tokenId = payload.jti;
      if (typeof payload.exp === 'number') principal.expiresAt = payload.exp;
      return principal;
    },
  };
}
