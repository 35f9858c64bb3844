// jose v6 is ESM-only: load the real library with Node's own require (see auth-verifier.test.ts).
jest.mock('jose', () => (process as unknown as { getBuiltinModule(m: string): typeof import('node:module') })
  .getBuiltinModule('node:module')
  .createRequire(__filename)('jose'));

import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import { authorizationHeaderOf, createAuthorizerHandler, interactionOfRequest, stageWildcardArn } from '../../src/handlers/authorizer';
import { authConfigFromEnv, loadConfig } from '../../src/config';
import { authorizerAuditLog } from '../../src/bootstrap/auth';

const auditLogFromEnv = (env: Record<string, string>) => authorizerAuditLog(loadConfig(env));
import { principalFromAuthorizerContext } from '../../src/core/auth/principal';
import { createTokenVerifier } from '../../src/core/auth/verifier';
import { canWrite } from '../../src/fhir/auth/scopes';

const METHOD_ARN = 'arn:aws:execute-api:eu-west-2:123456789012:abcdef1234/prod/POST/Observation';
let key: CryptoKey;
let jwks: JSONWebKeySet;

beforeAll(async () => {
  const kp = await generateKeyPair('ES256');
  key = kp.privateKey;
  jwks = { keys: [{ ...(await exportJWK(kp.publicKey)), kid: 'a', alg: 'ES256' }] };
});

function event(headers: Record<string, string> | null): APIGatewayRequestAuthorizerEvent {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/Observation',
    path: '/Observation',
    httpMethod: 'POST',
    headers,
    multiValueHeaders: null,
    pathParameters: null,
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: { requestId: 'req-1' } as APIGatewayRequestAuthorizerEvent['requestContext'],
  };
}

const handler = () =>
  createAuthorizerHandler(createTokenVerifier({ issuer: 'https://iss', audience: 'tributary', jwks: createLocalJWKSet(jwks) }));

const token = (claims: Record<string, unknown> = {}) =>
  new SignJWT({ tributary_source: 'gp-feed', client_id: 'c1', scope: 'system/Observation.cu', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'a' })
    .setIssuer('https://iss')
    .setAudience('tributary')
    .setIssuedAt()
    .setExpirationTime('10m')
    .setJti('jti-1')
    .sign(key);

describe('REQUEST authorizer', () => {
  it('allows a valid token on the whole stage, with source, clientId and scopes in the context', async () => {
    const r = await handler()(event({ authorization: `Bearer ${await token()}` }));
    expect(r.principalId).toBe('c1');
    expect(r.policyDocument.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: 'arn:aws:execute-api:eu-west-2:123456789012:abcdef1234/prod/*' },
    ]);
    expect(r.context).toEqual({ source: 'gp-feed', clientId: 'c1', scopes: 'system/Observation.cu', tokenId: 'jti-1' });
    const p = principalFromAuthorizerContext(r.context as Record<string, unknown>);
    expect(p?.source).toBe('gp-feed');
    expect(canWrite(p!.scopes, 'Observation', 'update')).toBe(true);
    expect(canWrite(p!.scopes, 'Patient', 'create')).toBe(false);
  });

  it('finds the header case-insensitively', async () => {
    const t = await token();
    expect(authorizationHeaderOf(event({ Authorization: `Bearer ${t}` }))).toBe(`Bearer ${t}`);
    await expect(handler()(event({ AUTHORIZATION: `Bearer ${t}` }))).resolves.toMatchObject({ principalId: 'c1' });
  });

  it('throws "Unauthorized" (API Gateway 401) for a missing or invalid token', async () => {
    await expect(handler()(event(null))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler()(event({ authorization: 'Bearer x.y.z' }))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler()(event({ authorization: `Bearer ${await token({ tributary_source: undefined })}` }))).rejects.toThrow(
      /^Unauthorized$/,
    );
  });

  it('refuses (401) a token issued an hour in the future and one with a 10-year lifetime', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = (times: { iat: number; exp: number }) =>
      new SignJWT({ tributary_source: 'gp-feed', client_id: 'c1', scope: 'system/Observation.cu', iss: 'https://iss', aud: 'tributary', ...times })
        .setProtectedHeader({ alg: 'ES256', kid: 'a' })
        .sign(key);
    const future = await token({ iat: now + 3600, exp: now + 3900 });
    await expect(handler()(event({ authorization: `Bearer ${future}` }))).rejects.toThrow(/^Unauthorized$/);
    const tenYears = await token({ iat: now - 60, exp: now + 10 * 365 * 86400 });
    await expect(handler()(event({ authorization: `Bearer ${tenYears}` }))).rejects.toThrow(/^Unauthorized$/);
    await expect(handler()(event({ authorization: `Bearer ${await token({ iat: now - 60, exp: now + 3540 })}` }))).resolves.toMatchObject({
      principalId: 'c1',
    });
  });

  it('maps the stage wildcard ARN', () => {
    expect(stageWildcardArn(METHOD_ARN)).toBe('arn:aws:execute-api:eu-west-2:123456789012:abcdef1234/prod/*');
  });

  it('reads its configuration from an env object', () => {
    expect(authConfigFromEnv({ TRIBUTARY_JWT_ISSUER: 'http://127.0.0.1:3099/' })).toEqual({
      issuer: 'http://127.0.0.1:3099/',
      audience: 'tributary',
      jwks: 'http://127.0.0.1:3099/.well-known/jwks.json',
    });
    expect(
      authConfigFromEnv({
        TRIBUTARY_JWT_ISSUER: 'https://i',
        TRIBUTARY_JWT_AUDIENCE: 'a',
        TRIBUTARY_JWKS_URL: 'https://i/keys',
        TRIBUTARY_JWT_ALGORITHMS: 'RS256, PS256',
        TRIBUTARY_SOURCE_CLAIM: 'src',
        TRIBUTARY_JWT_CLOCK_TOLERANCE_SEC: '10',
      }),
    ).toEqual({ issuer: 'https://i', audience: 'a', jwks: 'https://i/keys', algorithms: ['RS256', 'PS256'], sourceClaim: 'src', clockToleranceSec: 10 });
    expect(() => authConfigFromEnv({})).toThrow(/TRIBUTARY_JWT_ISSUER/);
    expect(authConfigFromEnv({ OIDC_ISSUER: 'https://i', TRIBUTARY_JWT_MAX_LIFETIME_SEC: '900' }).maxLifetimeSec).toBe(900);
    expect(authConfigFromEnv({ OIDC_ISSUER: 'https://i' }).maxLifetimeSec).toBeUndefined(); // the verifier's default, 3600
    for (const bad of ['0', '-5', '1.5', 'an hour', '1e3']) {
      expect(() => authConfigFromEnv({ OIDC_ISSUER: 'https://i', TRIBUTARY_JWT_MAX_LIFETIME_SEC: bad })).toThrow(/TRIBUTARY_JWT_MAX_LIFETIME_SEC/);
    }
  });

  it('rejects a context without a valid source', () => {
    expect(principalFromAuthorizerContext({ clientId: 'c1', scopes: 'system/*.cu' })).toBeUndefined();
    expect(principalFromAuthorizerContext({ source: '../x', clientId: 'c1' })).toBeUndefined();
    expect(principalFromAuthorizerContext(null)).toBeUndefined();
  });
});

describe('REQUEST authorizer: audit of refused tokens', () => {
  /** An AuditLog that keeps what it is given (the chain itself is tested in audit-chain.test.ts). */
  const memoryAudit = () => {
    const records: unknown[] = [];
    return { records, append: async (e: unknown) => void records.push(e) };
  };
  const withAudit = (audit: { append(e: unknown): Promise<void> }) =>
    createAuthorizerHandler(createTokenVerifier({ issuer: 'https://iss', audience: 'tributary', jwks: createLocalJWKSet(jwks) }), audit as never);
  const fhirEvent = (headers: Record<string, string> | null, method = 'POST', path = '/fhir/Observation') => ({
    ...event(headers),
    httpMethod: method,
    path,
    requestContext: { requestId: 'req-401', identity: { sourceIp: '203.0.113.9' } } as APIGatewayRequestAuthorizerEvent['requestContext'],
  });

  it('writes exactly one 401 record per refused request, with the request id and no token content', async () => {
    const audit = memoryAudit();
    const bad = await token({ tributary_source: undefined, client_id: 'client-someone-else' }); // refused: no source claim
    await expect(withAudit(audit)(fhirEvent({ Authorization: `Bearer ${bad}` }))).rejects.toThrow('Unauthorized');
    await expect(withAudit(audit)(fhirEvent(null, 'PUT', '/fhir/Patient/p1'))).rejects.toThrow('Unauthorized');
    expect(audit.records).toHaveLength(2);
    const [first, second] = audit.records as Record<string, any>[];
    const text = JSON.stringify(first);
    expect(text).toContain('req-401');
    expect(first.outcomeDesc).toBe('401 login');
    expect(first.outcome).toBe('4'); // minor failure: the client's mistake
    expect(text).toContain('203.0.113.9');
    expect(text).not.toContain(bad.split('.')[1]!); // no token payload
    expect(text).not.toContain('someone-else');
    expect(first.resourceType).toBe('AuditEvent');
    expect(JSON.stringify(first.subtype)).toContain('"create"');
    expect(JSON.stringify(second.subtype)).toContain('"update"');
  });

  it('writes nothing for an accepted token (the handler audits that request)', async () => {
    const audit = memoryAudit();
    await withAudit(audit)(fhirEvent({ Authorization: `Bearer ${await token()}` }));
    expect(audit.records).toHaveLength(0);
  });

  it('fails closed when the refusal cannot be audited', async () => {
    const failing = { append: async () => Promise.reject(new Error('audit bucket unreachable')) };
    await expect(withAudit(failing)(fhirEvent(null))).rejects.toThrow('Authorizer failure');
  });

  it.each([
    ['POST', '/fhir', 'transaction'],
    ['POST', '/fhir/Observation', 'create'],
    ['PUT', '/fhir/Observation/o1', 'update'],
    ['POST', '/fhir/Observation/$validate', 'validate'],
    ['POST', '/fhir/$validate', 'validate'],
    ['DELETE', '/fhir/Observation/o1', 'refused'],
    ['GET', '/fhir/Observation', 'refused'],
  ])('%s %s is audited as %s', (method, path, interaction) => {
    expect(interactionOfRequest(method, path)).toBe(interaction);
  });

  it('audits to the S3 audit bucket only when AUDIT_BUCKET is set', () => {
    expect(auditLogFromEnv({})).toBeUndefined();
    expect(typeof auditLogFromEnv({ AUDIT_BUCKET: 'tributary-audit' })?.append).toBe('function');
  });
});
