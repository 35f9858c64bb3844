// jose v6 is ESM-only; Jest's CommonJS runtime cannot load it, so load the real library with Node's own
// require (Node >= 20.19 supports require(esm)). No behaviour is mocked.
jest.mock('jose', () => (process as unknown as { getBuiltinModule(m: string): typeof import('node:module') })
  .getBuiltinModule('node:module')
  .createRequire(__filename)('jose'));

import { createHmac, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLocalJWKSet, exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import {
  createTokenVerifier,
  KeySetUnavailableError,
  TokenError,
  wwwAuthenticateFor,
  type TokenVerifierOptions,
} from '../../src/core/auth/verifier';
import { getStatus } from '../../src/fhir/outcomes';
import { AuthError, normalizeError } from '../../src/fhir/errors';
import { canWrite } from '../../src/fhir/auth/scopes';

const ISSUER = 'https://issuer.test';
const AUDIENCE = 'tributary';
const NOW = new Date('2030-01-01T12:00:00Z');
const nowSec = Math.floor(NOW.getTime() / 1000);

let privateKey: CryptoKey;
let publicJwk: JWK;
let publicPem: string;
let otherKey: CryptoKey;
let server: http.Server;
let jwksUrl: string;
let jwksHits = 0;

beforeAll(async () => {
  const kp = await generateKeyPair('RS256', { extractable: true });
  privateKey = kp.privateKey;
  publicJwk = { ...(await exportJWK(kp.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  publicPem = await exportSPKI(kp.publicKey);
  otherKey = (await generateKeyPair('RS256')).privateKey;
  server = http.createServer((req, res) => {
    jwksHits++;
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function verifier(over: Partial<TokenVerifierOptions> = {}) {
  return createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: jwksUrl, now: () => NOW, ...over });
}

const baseClaims = (): JWTPayload => ({
  iss: ISSUER,
  aud: AUDIENCE,
  iat: nowSec - 60,
  exp: nowSec + 3540, // a lifetime of exactly the default maximum (3600 s)
  tributary_source: 'gp-feed',
  client_id: 'client-123',
  sub: 'svc-account-9',
  jti: randomUUID(),
  scope: 'system/Observation.cu system/Patient.write openid',
});

async function sign(claims: JWTPayload, key: CryptoKey = privateKey, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'at+jwt', ...header }).sign(key);
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** Asserts `p` rejects with a TokenError whose outcome maps to 401, and returns it. */
async function refused(p: Promise<unknown>): Promise<TokenError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  expect(err).toBeInstanceOf(TokenError);
  const te = err as TokenError;
  expect(getStatus(te.outcome)).toBe(401);
  expect(getStatus(normalizeError(te))).toBe(401);
  return te;
}

describe('createTokenVerifier with a real remote JWKS', () => {
  it('accepts a valid token and yields the principal from the claims only', async () => {
    const claims = baseClaims();
    const p = await verifier().verify(`Bearer ${await sign(claims)}`);
    expect(p.source).toBe('gp-feed');
    expect(p.clientId).toBe('client-123');
    expect(p.subject).toBe('svc-account-9');
    expect(p.tokenId).toBe(claims.jti);
    expect(p.expiresAt).toBe(nowSec + 3540);
    expect(p.scope).toBe('system/Observation.cu system/Patient.write openid');
    expect(p.scopes.map((s) => s.raw)).toEqual(['system/Observation.cu', 'system/Patient.write']);
    expect(canWrite(p.scopes, 'Observation', 'update')).toBe(true);
    expect(jwksHits).toBeGreaterThan(0);
  });

  it('accepts the scheme case-insensitively', async () => {
    await expect(verifier().verify(`bearer ${await sign(baseClaims())}`)).resolves.toMatchObject({ source: 'gp-feed' });
  });

  it('refuses a missing token with a challenge without error code (RFC 6750 §3.1)', async () => {
    for (const h of [undefined, null, '', '   ']) {
      const e = await refused(verifier().verify(h));
      expect(e.kind).toBe('missing');
      expect(e.outcome.issue[0].diagnostics).toBe('Missing bearer token');
      expect(wwwAuthenticateFor(e)).toBe('Bearer realm="tributary"');
    }
  });

  it('refuses other schemes and malformed bearer values', async () => {
    const basic = await refused(verifier().verify('Basic dXNlcjpwYXNz'));
    expect(basic.outcome.issue[0].diagnostics).toBe('Authorization scheme must be Bearer');
    expect(basic.wwwAuthenticate).toContain('error="invalid_request"');
    const bad = await refused(verifier().verify('Bearer a b c'));
    expect(bad.outcome.issue[0].diagnostics).toBe('Malformed bearer token');
    const garbage = await refused(verifier().verify('Bearer not-a-jwt'));
    expect(garbage.outcome.issue[0].diagnostics).toBe('Token malformed');
  });

  it('refuses an expired token beyond the clock tolerance', async () => {
    const token = await sign({ ...baseClaims(), iat: nowSec - 7200, exp: nowSec - 31 });
    const e = await refused(verifier().verify(`Bearer ${token}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token expired');
    expect(e.wwwAuthenticate).toBe('Bearer realm="tributary", error="invalid_token", error_description="Token expired"');
    expect(e.message).not.toContain(token);
    expect(JSON.stringify(e.outcome)).not.toContain(token);
  });

  it('tolerates a small clock skew on exp (default 30 s)', async () => {
    const token = await sign({ ...baseClaims(), exp: nowSec - 20 });
    await expect(verifier().verify(`Bearer ${token}`)).resolves.toMatchObject({ source: 'gp-feed' });
    await refused(verifier({ clockToleranceSec: 0 }).verify(`Bearer ${token}`));
  });

  it('refuses a not-yet-valid token', async () => {
    const e = await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), nbf: nowSec + 300 })}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token not yet valid');
  });

  it('refuses a token without exp', async () => {
    const { exp: _exp, ...noExp } = baseClaims();
    const e = await refused(verifier().verify(`Bearer ${await sign(noExp)}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token expiry missing or invalid');
  });

  it('refuses the wrong issuer', async () => {
    const e = await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), iss: 'https://evil.test' })}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token issuer mismatch');
  });

  it('refuses the wrong audience', async () => {
    const e = await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), aud: 'another-api' })}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token audience mismatch');
  });

  it('refuses a token signed by another key under the same kid', async () => {
    const e = await refused(verifier().verify(`Bearer ${await sign(baseClaims(), otherKey)}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token signature invalid');
  });

  it('refuses a token whose kid is unknown', async () => {
    const e = await refused(verifier().verify(`Bearer ${await sign(baseClaims(), otherKey, { kid: 'intruder' })}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token signing key not recognised');
  });

  it('refuses a tampered payload', async () => {
    const [h, , s] = (await sign(baseClaims())).split('.');
    const forged = `${h}.${b64url(JSON.stringify({ ...baseClaims(), tributary_source: 'other-feed' }))}.${s}`;
    const e = await refused(verifier().verify(`Bearer ${forged}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token signature invalid');
  });

  it('refuses alg "none" (unsigned token)', async () => {
    const unsigned = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(baseClaims()))}.`;
    const e = await refused(verifier().verify(`Bearer ${unsigned}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token algorithm not allowed');
  });

  it('refuses HS256 signed with the public key as the HMAC secret (algorithm confusion)', async () => {
    const secrets = [publicPem, JSON.stringify(publicJwk), Buffer.from(publicJwk.n!, 'base64url')];
    for (const secret of secrets) {
      const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: 'k1' }))}.${b64url(JSON.stringify(baseClaims()))}`;
      const sig = createHmac('sha256', secret).update(signingInput).digest('base64url');
      const e = await refused(verifier().verify(`Bearer ${signingInput}.${sig}`));
      expect(e.outcome.issue[0].diagnostics).toBe('Token algorithm not allowed');
    }
  });

  it('refuses an allowed-by-key but not-allowed-by-config algorithm', async () => {
    const e = await refused(verifier({ algorithms: ['ES256'] }).verify(`Bearer ${await sign(baseClaims())}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token algorithm not allowed');
  });

  it('refuses to be configured with symmetric or none algorithms', () => {
    for (const algorithms of [['HS256'], ['none'], ['RS256', 'HS512'], []]) {
      expect(() => verifier({ algorithms })).toThrow(TypeError);
    }
    expect(() => verifier({ issuer: '' })).toThrow(TypeError);
    expect(() => verifier({ audience: [] })).toThrow(TypeError);
  });

  it('requires the source claim, and a key-safe value', async () => {
    const { tributary_source: _s, ...noSource } = baseClaims();
    const e = await refused(verifier().verify(`Bearer ${await sign(noSource)}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token source claim missing or invalid');
    await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), tributary_source: '../lake' })}`));
    await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), tributary_source: ['gp-feed'] })}`));
  });

  it('uses a configurable source claim and never falls back to client_id', async () => {
    const claims = { ...baseClaims(), 'https://nhs.example/source': 'lab-feed' };
    const p = await verifier({ sourceClaim: 'https://nhs.example/source' }).verify(`Bearer ${await sign(claims)}`);
    expect(p.source).toBe('lab-feed');
    const { tributary_source: _s, ...onlyClient } = baseClaims();
    await refused(verifier().verify(`Bearer ${await sign(onlyClient)}`));
  });

  it('takes the client id from client_id, else azp, else sub', async () => {
    const { client_id: _c, ...noClient } = baseClaims();
    expect((await verifier().verify(`Bearer ${await sign({ ...noClient, azp: 'azp-1' })}`)).clientId).toBe('azp-1');
    expect((await verifier().verify(`Bearer ${await sign(noClient)}`)).clientId).toBe('svc-account-9');
    const { sub: _sub, ...nothing } = noClient;
    const e = await refused(verifier().verify(`Bearer ${await sign(nothing)}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token client id missing');
  });

  it('reads array scopes from a configurable claim', async () => {
    const p = await verifier({ scopeClaim: 'scp' }).verify(`Bearer ${await sign({ ...baseClaims(), scp: ['system/*.c'] })}`);
    expect(p.scope).toBe('system/*.c');
    expect(canWrite(p.scopes, 'Encounter', 'create')).toBe(true);
  });

  it('checks typ when asked (RFC 9068 at+jwt)', async () => {
    await expect(verifier({ requiredType: 'at+jwt' }).verify(`Bearer ${await sign(baseClaims())}`)).resolves.toBeDefined();
    const e = await refused(verifier({ requiredType: 'at+jwt' }).verify(`Bearer ${await sign(baseClaims(), privateKey, { typ: 'JWT' })}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token type not accepted');
  });

  it('refuses a token issued an hour in the future, with a short diagnostic', async () => {
    const token = await sign({ ...baseClaims(), iat: nowSec + 3600, exp: nowSec + 3900 });
    const e = await refused(verifier().verify(`Bearer ${token}`));
    expect(e.kind).toBe('invalid_token');
    expect(e.outcome.issue[0].diagnostics).toBe('Token issued in the future');
    expect(e.wwwAuthenticate).toBe('Bearer realm="tributary", error="invalid_token", error_description="Token issued in the future"');
  });

  it('accepts iat up to now plus the clock tolerance, and refuses one second later', async () => {
    const at = (iat: number, o: Partial<TokenVerifierOptions> = {}) =>
      sign({ ...baseClaims(), iat, exp: iat + 600 }).then((t) => verifier(o).verify(`Bearer ${t}`));
    await expect(at(nowSec + 30)).resolves.toMatchObject({ source: 'gp-feed' }); // default tolerance 30 s
    expect((await refused(at(nowSec + 31))).outcome.issue[0].diagnostics).toBe('Token issued in the future');
    await expect(at(nowSec, { clockToleranceSec: 0 })).resolves.toMatchObject({ source: 'gp-feed' });
    expect((await refused(at(nowSec + 1, { clockToleranceSec: 0 }))).outcome.issue[0].diagnostics).toBe('Token issued in the future');
  });

  it('refuses a token without iat (RFC 9068 §2.2)', async () => {
    const { iat: _iat, ...noIat } = baseClaims();
    const e = await refused(verifier().verify(`Bearer ${await sign(noIat)}`));
    expect(e.outcome.issue[0].diagnostics).toBe('Token issued-at missing or invalid');
    const bad = await refused(verifier().verify(`Bearer ${await sign({ ...baseClaims(), iat: '2030-01-01' as unknown as number })}`));
    expect(bad.outcome.issue[0].diagnostics).toBe('Token issued-at missing or invalid');
  });

  it('refuses a 10-year lifetime', async () => {
    const token = await sign({ ...baseClaims(), iat: nowSec - 60, exp: nowSec - 60 + 10 * 365 * 86400 });
    const e = await refused(verifier().verify(`Bearer ${token}`));
    expect(e.kind).toBe('invalid_token');
    expect(e.outcome.issue[0].diagnostics).toBe('Token lifetime too long');
    expect(e.wwwAuthenticate).toContain('error="invalid_token"');
  });

  it('enforces the maximum lifetime exp - iat at its boundary (default 3600 s, configurable)', async () => {
    const life = (seconds: number, o: Partial<TokenVerifierOptions> = {}) =>
      sign({ ...baseClaims(), iat: nowSec - 10, exp: nowSec - 10 + seconds }).then((t) => verifier(o).verify(`Bearer ${t}`));
    await expect(life(3600)).resolves.toMatchObject({ source: 'gp-feed' });
    expect((await refused(life(3601))).outcome.issue[0].diagnostics).toBe('Token lifetime too long');
    await expect(life(7200, { maxLifetimeSec: 7200 })).resolves.toMatchObject({ source: 'gp-feed' });
    expect((await refused(life(7201, { maxLifetimeSec: 7200 }))).outcome.issue[0].diagnostics).toBe('Token lifetime too long');
    await expect(life(300, { maxLifetimeSec: 300 })).resolves.toMatchObject({ source: 'gp-feed' });
    await refused(life(301, { maxLifetimeSec: 300 }));
  });

  it('bounds the age since iat to the maximum lifetime plus the clock tolerance', async () => {
    // A token of the maximum lifetime, issued maxLifetime + 10 s ago: expired 10 s ago, inside the 30 s tolerance.
    const young = await sign({ ...baseClaims(), iat: nowSec - 3610, exp: nowSec - 10 });
    await expect(verifier().verify(`Bearer ${young}`)).resolves.toMatchObject({ source: 'gp-feed' });
    // Issued maxLifetime + 31 s ago: with an allowed lifetime it has expired beyond the tolerance; with a later
    // exp its lifetime is over the maximum. No accepted token is older than maxLifetime + tolerance.
    const old = await sign({ ...baseClaims(), iat: nowSec - 3631, exp: nowSec - 31 });
    expect((await refused(verifier().verify(`Bearer ${old}`))).outcome.issue[0].diagnostics).toBe('Token expired');
    const oldLongLived = await sign({ ...baseClaims(), iat: nowSec - 3631, exp: nowSec + 3600 });
    expect((await refused(verifier().verify(`Bearer ${oldLongLived}`))).outcome.issue[0].diagnostics).toBe('Token lifetime too long');
  });

  it('refuses to be configured with a non-positive maximum lifetime or a negative tolerance', () => {
    for (const maxLifetimeSec of [0, -1, 1.5, Number.NaN]) expect(() => verifier({ maxLifetimeSec })).toThrow(/maxLifetimeSec/);
    expect(() => verifier({ clockToleranceSec: -1 })).toThrow(/clockToleranceSec/);
  });

  it('reports an unreachable JWKS as 503, not as the client\'s fault', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    const err = await verifier({ jwks: `http://127.0.0.1:${port}/jwks.json` })
      .verify(`Bearer ${await sign(baseClaims())}`)
      .then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(KeySetUnavailableError);
    expect(err).not.toBeInstanceOf(AuthError);
    expect(getStatus(normalizeError(err))).toBe(503);
  });
});

describe('createTokenVerifier with a local key set', () => {
  it('verifies against createLocalJWKSet', async () => {
    const v = verifier({ jwks: createLocalJWKSet({ keys: [publicJwk] }) });
    await expect(v.verify(`Bearer ${await sign(baseClaims())}`)).resolves.toMatchObject({ source: 'gp-feed' });
    await refused(v.verify(`Bearer ${await sign(baseClaims(), otherKey)}`));
  });

  it('works with ES256 keys too', async () => {
    const kp = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(kp.publicKey)), kid: 'ec1', alg: 'ES256' };
    const v = verifier({ jwks: createLocalJWKSet({ keys: [jwk] }) });
    const token = await new SignJWT(baseClaims()).setProtectedHeader({ alg: 'ES256', kid: 'ec1' }).sign(kp.privateKey);
    await expect(v.verify(`Bearer ${token}`)).resolves.toMatchObject({ clientId: 'client-123' });
  });
});
