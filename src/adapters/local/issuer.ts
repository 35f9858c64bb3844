/**
 * Local development token issuer: one signing key pair kept under `{dataDir}/issuer/`, an OpenID discovery
 * document and a JWKS served on 127.0.0.1, and {@link mintToken} to sign access tokens for `npm run token`.
 *
 * Files (created on first use, never overwritten):
 * - `issuer/signing-key.jwk.json` (mode 0600): the private JWK, with `kid` (RFC 7638 thumbprint) and `alg`.
 * - `issuer/jwks.json`: the public JWKS.
 * - `issuer/issuer.json`: `{ issuer, jwksUri }` of the last started server, so `npm run token` and the API
 *   agree on the issuer URL.
 *
 * Development login (for the web console, docs/console.md): `GET /authorize` shows a login page, `POST /authorize`
 * answers the OAuth 2.0 authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, S256 only) by redirecting to a
 * loopback `redirect_uri` with a one-time code, and `POST /token` exchanges the code and its verifier for an access
 * token. The role picked on the page decides the scope: `operator` → `tributary/operator`, `writer` → `system/*.cu`
 * (a source's write-only token, to see the console refuse it). There is no password: anyone who can reach the
 * loopback port can sign in, which is what a development issuer is for.
 *
 * This is for local development and tests only.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { createDevLogin } from './issuer-login';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';

/** Default issuer port. */
export const DEFAULT_ISSUER_PORT = 3099;
/** Default issuer URL (when no `issuer.json` has been written yet). */
export const DEFAULT_ISSUER = `http://127.0.0.1:${DEFAULT_ISSUER_PORT}`;
/** Default audience of local tokens. */
export const DEFAULT_AUDIENCE = 'tributary';
/** Default token lifetime, seconds. */
export const DEFAULT_TTL_SEC = 3600;

/** Signing algorithms the local issuer can generate keys for. */
export type LocalIssuerAlgorithm = 'RS256' | 'ES256';

/** What a started issuer (or `issuer.json`) tells clients. */
export interface IssuerInfo {
  issuer: string;
  jwksUri: string;
}

/** A running local issuer. */
export interface LocalIssuer extends IssuerInfo {
  port: number;
  /** The public key set (also served at `jwksUri`). */
  jwks: JSONWebKeySet;
  /** Stops the HTTP server. */
  close(): Promise<void>;
}

/** Options for {@link startLocalIssuer}. */
export interface LocalIssuerOptions {
  /** Root data directory (e.g. `.data`); keys go under `{dataDir}/issuer/`. */
  dataDir: string;
  /** TCP port; 0 picks a free one (tests). Default {@link DEFAULT_ISSUER_PORT}. */
  port?: number;
  /** Interface to bind. Default `127.0.0.1` (never bind a dev issuer to a public interface). */
  host?: string;
  /** Key type to generate on first start. Default RS256. */
  alg?: LocalIssuerAlgorithm;
}

/** Options for {@link mintToken}. */
export interface MintTokenOptions {
  dataDir: string;
  /** `tributary_source` claim (or {@link MintTokenOptions.sourceClaim}). */
  source: string;
  /** Space-delimited scopes, e.g. `system/*.cu`. */
  scope: string;
  /** `iss`; default: `issuer.json` under the data dir, else {@link DEFAULT_ISSUER}. */
  issuer?: string;
  /** `aud`; default {@link DEFAULT_AUDIENCE}. */
  audience?: string;
  /** `client_id` and `sub`; default `local-{source}`. */
  clientId?: string;
  /** `sub` when it differs from the client id (a user signed in through the development login). */
  subject?: string;
  /** Lifetime in seconds; default {@link DEFAULT_TTL_SEC}. */
  expiresIn?: number;
  /** Name of the source claim; default `tributary_source`. */
  sourceClaim?: string;
  /** Issue time (tests: mint expired or future tokens). Default now. */
  now?: Date;
  /** `nbf` offset from issue time, seconds (tests). Not set when absent. */
  notBeforeIn?: number;
}

interface StoredKey {
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
  alg: LocalIssuerAlgorithm;
}

const issuerDir = (dataDir: string) => path.join(dataDir, 'issuer');
const keyFile = (dataDir: string) => path.join(issuerDir(dataDir), 'signing-key.jwk.json');
const jwksFile = (dataDir: string) => path.join(issuerDir(dataDir), 'jwks.json');
const infoFile = (dataDir: string) => path.join(issuerDir(dataDir), 'issuer.json');

function publicOf(jwk: JWK): JWK {
  // Keep only public members (RSA: n, e; EC: crv, x, y) plus metadata.
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk as JWK & { oth?: unknown };
  return pub;
}

/** Writes `content` to `file` only if it does not exist yet, atomically (temp file + link); false if it existed. */
async function createExclusive(file: string, content: string, mode: number): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
  await fs.writeFile(tmp, content, { mode, flag: 'wx' });
  try {
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Loads the issuer's signing key, generating it on first use (safe if several processes start at once: the
 * first writer wins and everyone uses its key).
 */
export async function ensureIssuerKey(dataDir: string, alg: LocalIssuerAlgorithm = 'RS256'): Promise<StoredKey> {
  await fs.mkdir(issuerDir(dataDir), { recursive: true, mode: 0o700 });
  const existing = await readKey(dataDir);
  if (existing) return existing;
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  const priv = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(publicOf(priv));
  const privateJwk: JWK = { ...priv, kid, alg, use: 'sig' };
  await createExclusive(keyFile(dataDir), JSON.stringify(privateJwk, null, 2) + '\n', 0o600);
  const stored = await readKey(dataDir);
  if (!stored) throw new Error('local issuer: signing key could not be created');
  await fs.writeFile(jwksFile(dataDir), JSON.stringify({ keys: [stored.publicJwk] }, null, 2) + '\n');
  return stored;
}

async function readKey(dataDir: string): Promise<StoredKey | undefined> {
  let text: string;
  try {
    text = await fs.readFile(keyFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const privateJwk = JSON.parse(text) as JWK;
  if (typeof privateJwk.kid !== 'string' || (privateJwk.alg !== 'RS256' && privateJwk.alg !== 'ES256')) {
    throw new Error(`local issuer: ${keyFile(dataDir)} is not a signing key written by Tributary`);
  }
  return { privateJwk, publicJwk: publicOf(privateJwk), kid: privateJwk.kid, alg: privateJwk.alg as LocalIssuerAlgorithm };
}

/** The public JWKS of the local issuer (generating the key on first use), e.g. for `createLocalJWKSet`. */
export async function loadLocalJwks(dataDir: string): Promise<JSONWebKeySet> {
  const k = await ensureIssuerKey(dataDir);
  return { keys: [k.publicJwk] };
}

/** The `{ issuer, jwksUri }` written by the last {@link startLocalIssuer}, or `undefined`. */
export async function readIssuerInfo(dataDir: string): Promise<IssuerInfo | undefined> {
  try {
    const info = JSON.parse(await fs.readFile(infoFile(dataDir), 'utf8')) as Partial<IssuerInfo>;
    return typeof info.issuer === 'string' && typeof info.jwksUri === 'string'
      ? { issuer: info.issuer, jwksUri: info.jwksUri }
      : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Starts the local issuer: ensures the key, serves `GET /.well-known/openid-configuration` and
 * `GET /jwks.json` on `host:port`, and records `{ issuer, jwksUri }` in `{dataDir}/issuer/issuer.json`.
 */
export async function startLocalIssuer(opts: LocalIssuerOptions): Promise<LocalIssuer> {
  const host = opts.host ?? '127.0.0.1';
  const key = await ensureIssuerKey(opts.dataDir, opts.alg);
  const jwks: JSONWebKeySet = { keys: [key.publicJwk] };
  let info: IssuerInfo = { issuer: '', jwksUri: '' };

  const login = createDevLogin((o) => mintToken({ ...o, dataDir: opts.dataDir, issuer: info.issuer }));
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, cache = 'no-store') => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': cache });
      res.end(JSON.stringify(body));
    };
    if (url === '/authorize' || url === '/token') {
      login(req, res).catch(() => send(500, { error: 'server_error' }));
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { error: 'method not allowed' });
    if (url === '/jwks.json' || url === '/.well-known/jwks.json') return send(200, jwks, 'max-age=60');
    if (url === '/.well-known/openid-configuration' || url === '/.well-known/oauth-authorization-server') {
      return send(200, {
        issuer: info.issuer,
        jwks_uri: info.jwksUri,
        authorization_endpoint: `${info.issuer}/authorize`,
        token_endpoint: `${info.issuer}/token`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: [key.alg],
        token_endpoint_auth_methods_supported: ['none'],
        grant_types_supported: ['authorization_code'],
        code_challenge_methods_supported: ['S256'],
        scopes_supported: ['tributary/operator', 'system/*.cu', 'system/*.cruds', 'system/*.write', 'system/*.read'],
      });
    }
    return send(404, { error: 'not found' });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? DEFAULT_ISSUER_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  info = { issuer: `http://${hostPart}:${port}`, jwksUri: `http://${hostPart}:${port}/jwks.json` };
  await fs.writeFile(infoFile(opts.dataDir), JSON.stringify(info, null, 2) + '\n');

  return {
    ...info,
    port,
    jwks,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Signs an access token with the local issuer's key (generating the key on first use). */
export async function mintToken(opts: MintTokenOptions): Promise<string> {
  const key = await ensureIssuerKey(opts.dataDir);
  const signingKey = await importJWK(key.privateJwk, key.alg);
  const issuer = opts.issuer ?? (await readIssuerInfo(opts.dataDir))?.issuer ?? DEFAULT_ISSUER;
  const clientId = opts.clientId ?? `local-${opts.source}`;
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const jwt = new SignJWT({
    [opts.sourceClaim ?? 'tributary_source']: opts.source,
    scope: opts.scope,
    client_id: clientId,
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setAudience(opts.audience ?? DEFAULT_AUDIENCE)
    .setSubject(opts.subject ?? clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (opts.expiresIn ?? DEFAULT_TTL_SEC))
    .setJti(randomUUID());
  if (opts.notBeforeIn !== undefined) jwt.setNotBefore(iat + opts.notBeforeIn);
  return jwt.sign(signingKey);
}
