// jose v6 is ESM-only: load the real library with Node's own require (see auth-verifier.test.ts).
jest.mock('jose', () => (process as unknown as { getBuiltinModule(m: string): typeof import('node:module') })
  .getBuiltinModule('node:module')
  .createRequire(__filename)('jose'));

import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet } from 'jose';
import {
  authConfigFromEnv,
  authorizationHeaderOf,
  createAuthorizerHandler,
  stageWildcardArn,
} from '../../src/handlers/authorizer';
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
  });

  it('rejects a context without a valid source', () => {
    expect(principalFromAuthorizerContext({ clientId: 'c1', scopes: 'system/*.cu' })).toBeUndefined();
    expect(principalFromAuthorizerContext({ source: '../x', clientId: 'c1' })).toBeUndefined();
    expect(principalFromAuthorizerContext(null)).toBeUndefined();
  });
});
