/**
 * API Gateway (REST API) Lambda authorizer, `REQUEST` type, identity source `method.request.header.Authorization`.
 *
 * Verifies the bearer token with the same {@link createTokenVerifier} the HTTP handler uses and returns an
 * IAM policy allowing `execute-api:Invoke` on the whole stage (so a cached decision is valid for every route),
 * with `context = { source, clientId, scopes, subject?, tokenId? }` for the integration
 * (`event.requestContext.authorizer`, read back with `principalFromAuthorizerContext`). Any refused token
 * throws `Error('Unauthorized')`, which API Gateway turns into a 401 (`UNAUTHORIZED` gateway response). An
 * unreachable JWKS throws a different error, which API Gateway reports as a 500 (`AUTHORIZER_FAILURE`).
 *
 * A refused token never reaches a handler, so the authorizer writes that request's one audit record itself
 * (status 401, the API Gateway request id as correlation id, no token content). serverless.yml sets the
 * authorizer cache TTL to 0, so every request runs it and every refused request is audited. If the record
 * cannot be written, the request fails closed (500), as the handlers do.
 *
 * Its verifier and audit log come from the bootstrap (`authorizerDeps`), built from the configuration module.
 */
import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { buildAuditEvent, type AuditInteraction } from '../core/audit';
import type { AuditLog } from '../core/ports';
import { authorizerContextOf } from '../core/auth/principal';
import { TokenError, type TokenVerifier } from '../core/auth/verifier';
import { authorizerDeps } from '../bootstrap';
import { createLogger } from '../core/log';

/** `arn:aws:execute-api:region:account:api/stage/GET/Patient` → `arn:aws:execute-api:region:account:api/stage/*`. */
export function stageWildcardArn(methodArn: string): string {
  const parts = methodArn.split('/');
  return parts.length >= 2 ? `${parts[0]}/${parts[1]}/*` : methodArn;
}

/** The `Authorization` header of a REQUEST authorizer event (header names are case-insensitive). */
export function authorizationHeaderOf(event: APIGatewayRequestAuthorizerEvent): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) {
    if (k.toLowerCase() === 'authorization' && typeof v === 'string') return v;
  }
  return undefined;
}

/**
 * The interaction a request was attempting, from its method and path (the body is not available here):
 * `POST /fhir` → transaction (batch or transaction), `POST /fhir/{type}` → create, `PUT` → update,
 * `$validate` → validate, anything else → refused.
 */
export function interactionOfRequest(method: string | undefined, path: string | undefined): AuditInteraction {
  const m = (method ?? '').toUpperCase();
  const segs = (path ?? '').split('/').filter(Boolean);
  if (segs[0] === 'fhir') segs.shift();
  if (segs.at(-1) === '$validate' && m === 'POST') return 'validate';
  if (m === 'POST' && segs.length === 0) return 'transaction';
  if (m === 'POST' && segs.length === 1) return 'create';
  if (m === 'PUT' && segs.length === 2) return 'update';
  return 'refused';
}

const logger = createLogger('tributary-authorizer');

/**
 * Builds the authorizer handler around a verifier and, when given, the audit log that records refused tokens
 * (tests inject both; {@link handler} gets them from the bootstrap).
 */
export function createAuthorizerHandler(
  verifier: TokenVerifier,
  audit?: AuditLog,
): (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult> {
  return async (event) => {
    const requestId = event.requestContext?.requestId;
    let refused: TokenError | undefined;
    try {
      const principal = await verifier.verify(authorizationHeaderOf(event));
      return {
        principalId: principal.clientId,
        policyDocument: {
          Version: '2012-10-17',
          Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: stageWildcardArn(event.methodArn) }],
        },
        context: authorizerContextOf(principal),
      };
    } catch (err) {
      if (!(err instanceof TokenError)) {
        logger.error('authorizer failure', { correlationId: requestId, error: err as Error });
        throw new Error('Authorizer failure');
      }
      refused = err;
    }
    logger.info('token refused', { correlationId: requestId, reason: refused.message, kind: refused.kind });
    if (audit) {
      try {
        await audit.append(
          buildAuditEvent({
            time: new Date(),
            requestId: requestId ?? 'unknown',
            interaction: interactionOfRequest(event.httpMethod, event.path),
            outcomeStatus: 401,
            outcomeCode: 'login',
            sourceIp: event.requestContext?.identity?.sourceIp ?? undefined,
          }),
        );
      } catch (err) {
        // fail closed: a refusal that cannot be audited is reported as a fault, not silently dropped
        logger.error('audit append failed', { correlationId: requestId, error: (err as Error)?.name });
        throw new Error('Authorizer failure');
      }
    }
    throw new Error('Unauthorized');
  };
}

let cached: ((event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>) | undefined;

/** Lambda entry point (`src/handlers/authorizer.handler`). The verifier (and its JWKS cache) lives per container. */
export const handler = (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
  if (!cached) {
    const { verifier, audit } = authorizerDeps();
    cached = createAuthorizerHandler(verifier, audit);
  }
  return cached(event);
};
