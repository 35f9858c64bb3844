// jose v6 is ESM-only: load the real library with Node's own require (see auth-verifier.test.ts).
jest.mock('jose', () => (process as unknown as { getBuiltinModule(m: string): typeof import('node:module') })
  .getBuiltinModule('node:module')
  .createRequire(__filename)('jose'));

import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader } from 'jose';
import {
  ensureIssuerKey,
  loadLocalJwks,
  mintToken,
  readIssuerInfo,
  startLocalIssuer,
  type LocalIssuer,
} from '../../src/adapters/local/issuer';
import { createTokenVerifier, TokenError } from '../../src/core/auth/verifier';
import { canWrite } from '../../src/fhir/auth/scopes';
import { main as tokenMain } from '../../scripts/token';

let dataDir: string;
let issuer: LocalIssuer;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-issuer-'));
  issuer = await startLocalIssuer({ dataDir, port: 0 });
});

afterAll(async () => {
  await issuer.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('local issuer', () => {
  it('keeps the private key in a 0600 file under {dataDir}/issuer and serves only public keys', async () => {
    const st = await fs.stat(path.join(dataDir, 'issuer', 'signing-key.jwk.json'));
    expect(st.mode & 0o777).toBe(0o600);
    const jwks = (await (await fetch(issuer.jwksUri)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig' });
    expect(typeof jwks.keys[0].kid).toBe('string');
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(jwks.keys[0]).not.toHaveProperty(priv);
  });

  it('binds to 127.0.0.1 and serves the discovery document', async () => {
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const doc = (await (await fetch(`${issuer.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(issuer.issuer);
    expect(doc.jwks_uri).toBe(issuer.jwksUri);
    expect((await fetch(`${issuer.issuer}/nope`)).status).toBe(404);
    expect(await readIssuerInfo(dataDir)).toEqual({ issuer: issuer.issuer, jwksUri: issuer.jwksUri });
  });

  it('reuses the key across restarts and concurrent first starts', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-issuer-race-'));
    try {
      const keys = await Promise.all([ensureIssuerKey(dir), ensureIssuerKey(dir), ensureIssuerKey(dir)]);
      expect(new Set(keys.map((k) => k.kid)).size).toBe(1);
      expect((await loadLocalJwks(dir)).keys[0].kid).toBe(keys[0].kid);
      const again = await startLocalIssuer({ dataDir: dir, port: 0 });
      expect(again.jwks.keys[0].kid).toBe(keys[0].kid);
      await again.close();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('mints tokens that the verifier accepts through the served JWKS', async () => {
    const token = await mintToken({ dataDir, source: 'gp-feed', scope: 'system/Observation.cu', clientId: 'gp-client' });
    expect(decodeProtectedHeader(token)).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: issuer.issuer, aud: 'tributary', tributary_source: 'gp-feed', client_id: 'gp-client' });
    const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: 'tributary', jwks: issuer.jwksUri });
    const p = await verifier.verify(`Bearer ${token}`);
    expect(p).toMatchObject({ source: 'gp-feed', clientId: 'gp-client' });
    expect(canWrite(p.scopes, 'Observation', 'create')).toBe(true);
  });

  it('mints expired tokens (tests) that the verifier refuses', async () => {
    const token = await mintToken({
      dataDir,
      source: 'gp-feed',
      scope: 'system/*.cu',
      now: new Date(Date.now() - 2 * 3600_000),
      expiresIn: 60,
    });
    const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: 'tributary', jwks: createLocalJWKSet(await loadLocalJwks(dataDir)) });
    const err = await verifier.verify(`Bearer ${token}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenError);
    expect((err as TokenError).outcome.issue[0].diagnostics).toBe('Token expired');
  });
});

describe('scripts/token.ts main', () => {
  it('prints the token alone on the last stdout line, comment on stderr', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await tokenMain(['--source', 'lab-feed', '--scope', 'system/*.c', '--client-id', 'lab-1', '--ttl', '120', '--data-dir', dataDir], {
      env: {},
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
    });
    expect(code).toBe(0);
    const token = out[out.length - 1];
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(err.join('\n')).toContain('lab-feed');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: issuer.issuer, tributary_source: 'lab-feed', client_id: 'lab-1', scope: 'system/*.c' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    const verifier = createTokenVerifier({ issuer: issuer.issuer, audience: 'tributary', jwks: issuer.jwksUri });
    await expect(verifier.verify(`Bearer ${token}`)).resolves.toMatchObject({ source: 'lab-feed' });
  });

  it('reads DATA_DIR and the audience from the environment', async () => {
    const out: string[] = [];
    const code = await tokenMain(['--source', 'x'], { env: { DATA_DIR: dataDir, TRIBUTARY_AUDIENCE: 'aud-2' }, stdout: (l) => out.push(l), stderr: () => undefined });
    expect(code).toBe(0);
    expect(decodeJwt(out[out.length - 1]).aud).toBe('aud-2');
  });

  it('fails with usage (exit 2) without --source, on unknown flags or a bad ttl', async () => {
    const quiet = { env: { DATA_DIR: dataDir }, stdout: () => undefined, stderr: () => undefined };
    expect(await tokenMain(['--scope', 'system/*.c'], quiet)).toBe(2);
    expect(await tokenMain(['--source', 'a', '--bogus'], quiet)).toBe(2);
    expect(await tokenMain(['--source', 'a', '--ttl', '-5'], quiet)).toBe(2);
  });
});
