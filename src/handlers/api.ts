/**
 * API Gateway handlers of the FHIR endpoint, thin: parse the event once ({@link parseRequest}), find the route
 * (src/handlers/routes.ts), let it call the core, and map `[OperationOutcome, Resource?]` to HTTP through `getStatus`.
 * - `ingest`: POST /fhir (batch/transaction), POST /fhir/{type} (create), PUT /fhir/{type}/{id} (update)
 * - `validate`: POST /fhir/$validate and POST /fhir/{type}/$validate (nothing stored)
 * - `metadata`: GET /fhir/metadata (CapabilityStatement, no token needed)
 * - `notAllowed`: every other method and path → 405 / 404 OperationOutcome (this API only writes)
 *
 * Every request, accepted or refused, writes exactly one hash-chained audit record (the core's `recordRequest`,
 * fail closed before a commit; a committed write's record is part of its commit, docs/commit-protocol.md) and one log line, all three (response header `X-Request-Id`, audit record, log) sharing the request id.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { getApp, type App } from '../bootstrap';
import { canValidate, canWrite } from '../fhir/auth/scopes';
import { principalFromAuthorizerContext, wwwAuthenticateFor, type Principal as AuthPrincipal } from '../core/auth';
import type { AuditInteraction } from '../core/audit';
import { createLogger, requestLogger } from '../core/log';
import { systemClock } from '../core/ports';
import { recordRequest, type ValidatingPrincipal } from '../core/use-cases';
import { errorToHttp, toHttp } from './http';
import { parseRequest, type HttpRequest } from './request';
import { fallbackInteraction, findRoute, refusal, type FunctionName, type Routed } from './routes';

const baseLogger = createLogger('tributary');

/** Turns a verified token principal into the core's principal (source + scope checks). */
function corePrincipal(p: AuthPrincipal): ValidatingPrincipal {
  return {
    source: p.source,
    clientId: p.clientId,
    canWrite: (type, interaction) => canWrite(p.scopes, type, interaction),
    canValidate: (type) => canValidate(p.scopes, type),
    scope: p.scope,
  };
}

/**
 * The caller. In AWS the API Gateway authorizer has verified the token and put the principal in the request
 * context (clients cannot set it). Locally (serverless-offline runs with --noAuth) the handler verifies the
 * bearer token itself with the same verifier. With AUTH=off, the configured SOURCE_SYSTEM is used.
 */
async function authenticate(app: App, req: HttpRequest): Promise<ValidatingPrincipal> {
  const fromAuthorizer = principalFromAuthorizerContext(req.authorizer);
  if (fromAuthorizer) return corePrincipal(fromAuthorizer);
  if (!app.verifier) return { source: app.config.defaultSource, clientId: app.config.defaultSource };
  return corePrincipal(await app.verifier.verify(req.header('authorization')));
}

/** The first issue code of a refusal's OperationOutcome body (for the audit record). */
function outcomeCodeOf(response: APIGatewayProxyResult): string | undefined {
  if (response.statusCode < 400) return undefined;
  try {
    return JSON.parse(response.body)?.issue?.[0]?.code;
  } catch {
    return undefined;
  }
}

/** Serves one request with `fn`'s routes: route, run, map to HTTP, then the audit record and the log line. */
async function serve(fn: FunctionName, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const t0 = Date.now();
  const req = parseRequest(event);
  let app: App;
  try {
    app = getApp();
  } catch (err) {
    baseLogger.error('start-up failed', { correlationId: req.requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    return errorToHttp(err, req.requestId);
  }
  let principal: ValidatingPrincipal | undefined;
  let interaction: AuditInteraction = fallbackInteraction(fn, req);
  let routed: Routed | undefined;
  let response: APIGatewayProxyResult;
  try {
    const found = findRoute(fn, req);
    if (!found) {
      const { error, headers } = refusal(fn, req);
      response = errorToHttp(error, req.requestId, headers);
    } else {
      interaction = found.route.interaction;
      routed = await found.route.run({ app, req, params: found.params, authenticate: async () => (principal = await authenticate(app, req)) });
      interaction = routed.interaction ?? interaction;
      response = toHttp(routed.result, { requestId: req.requestId, baseUrl: req.baseUrl, prefer: routed.prefer, bundleResponse: routed.bundleResponse, extraHeaders: routed.headers });
    }
  } catch (err) {
    const challenge = wwwAuthenticateFor(err);
    response = errorToHttp(err, req.requestId, challenge ? { 'WWW-Authenticate': challenge } : undefined);
    if (response.statusCode >= 500) {
      baseLogger.error('request failed', { correlationId: req.requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    }
  }
  const log = requestLogger(baseLogger, req.requestId, principal);
  const status = response.statusCode;
  try {
    // a committed write's audit record belongs to its commit (outbox): written there, or by recovery, never twice
    if (!routed?.audited) await recordRequest(app.audit, systemClock, {
      requestId: req.requestId,
      principal,
      interaction,
      counts: routed?.counts,
      objectKeys: routed?.objectKeys,
      status,
      outcomeCode: outcomeCodeOf(response),
      sourceIp: req.sourceIp,
    });
  } catch (err) {
    // fail closed: a request whose audit record cannot be written is reported as a server fault
    log.error('audit append failed', { error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    return errorToHttp(err, req.requestId);
  }
  log.info('request', { method: req.method, interaction, status, counts: routed?.counts, objects: routed?.objectKeys?.length ?? 0, ms: Date.now() - t0 });
  return response;
}

/** POST /fhir, POST /fhir/{type}, PUT /fhir/{type}/{id}. */
export const ingest = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => serve('ingest', event);
/** POST /fhir/$validate and POST /fhir/{type}/$validate: the OperationOutcome, nothing stored. */
export const validate = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => serve('validate', event);
/** GET /fhir/metadata: the CapabilityStatement (open, as FHIR servers do). */
export const metadata = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => serve('metadata', event);
/** Everything else: read, search, delete, patch, history, unknown paths. */
export const notAllowed = (event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> => serve('notAllowed', event);
