/**
 * API Gateway handlers of the FHIR endpoint. Thin: parse the event, call the core, map the result to HTTP.
 * - `ingest`: POST /fhir (batch/transaction), POST /fhir/{type} (create), PUT /fhir/{type}/{id} (update)
 * - `validate`: POST /fhir/$validate and POST /fhir/{type}/$validate (nothing stored)
 * - `metadata`: GET /fhir/metadata (CapabilityStatement, no token needed)
 * - `notAllowed`: every other method and path → 405 / 404 OperationOutcome (this API only writes)
 *
 * Every request, accepted or refused, writes exactly one hash-chained audit record and one log line, all three
 * (response header `X-Request-Id`, audit record, log) sharing the request id as correlation id.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { getApp } from '../bootstrap';
import { capabilityStatement } from '../fhir/capability';
import { allOk, forbidden, methodNotAllowed, notFound, type FhirResponse } from '../fhir/outcomes';
import { ClientError, ValidationError } from '../fhir/errors';
import { isResourceType, R4_RESOURCE_TYPES } from '../fhir/resource-types';
import { canValidate, canWrite } from '../fhir/auth/scopes';
import { principalFromAuthorizerContext, wwwAuthenticateFor, type Principal as AuthPrincipal } from '../core/auth';
import { buildAuditEvent, type AuditInteraction } from '../core/audit';
import { createLogger, requestLogger } from '../core/log';
import { baseUrlOf, errorToHttp, header, preferOf, readJsonBody, requestIdOf, toHttp } from './http';
import { validateOnly, type Principal } from '../core/ingest';

const VERSION = '0.1.0';
const baseLogger = createLogger('tributary');

/** What one request handler produces, for the response, the audit record and the log line. */
interface Handled {
  response: APIGatewayProxyResult;
  interaction: AuditInteraction;
  principal?: Principal;
  counts?: Record<string, number>;
  objectKeys?: string[];
}

/** Context handed to a route's body. */
interface RouteContext {
  requestId: string;
  /** Authenticates the caller (token or authorizer context); throws AuthError (401). */
  authenticate(): Promise<CallerPrincipal>;
}

/** Splits `/fhir/Patient/123` into its segments after `fhir`. */
function segments(event: APIGatewayProxyEvent): string[] {
  const p = (event.path ?? '').split('?')[0];
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  const i = parts.indexOf('fhir');
  return i >= 0 ? parts.slice(i + 1) : parts;
}

/** The core's principal plus the validate-scope check. */
type CallerPrincipal = Principal & { canValidate?: (type: string) => boolean };

/** Turns a verified token principal into the core's principal (source + scope checks). */
function corePrincipal(p: AuthPrincipal): CallerPrincipal {
  return {
    source: p.source,
    clientId: p.clientId,
    canWrite: (type, interaction) => canWrite(p.scopes, type, interaction),
    canValidate: (type) => canValidate(p.scopes, type),
  };
}

/**
 * The caller. In AWS the API Gateway authorizer has verified the token and put the principal in the request
 * context (clients cannot set it). Locally (serverless-offline runs with --noAuth) the handler verifies the
 * bearer token itself with the same verifier. With AUTH=off, the configured SOURCE_SYSTEM is used.
 */
async function authenticate(event: APIGatewayProxyEvent): Promise<CallerPrincipal> {
  const app = getApp();
  const fromAuthorizer = principalFromAuthorizerContext(event.requestContext?.authorizer as Record<string, unknown> | undefined);
  if (fromAuthorizer) return corePrincipal(fromAuthorizer);
  if (!app.verifier) return { source: app.config.defaultSource, clientId: app.config.defaultSource };
  return corePrincipal(await app.verifier.verify(header(event, 'authorization')));
}

/** Runs a route: errors become OperationOutcomes, then one audit record and one log line are written. */
async function handle(
  event: APIGatewayProxyEvent,
  defaultInteraction: AuditInteraction,
  route: (ctx: RouteContext) => Promise<Omit<Handled, 'interaction'> & { interaction?: AuditInteraction }>,
): Promise<APIGatewayProxyResult> {
  const requestId = requestIdOf(event);
  const t0 = Date.now();
  let principal: CallerPrincipal | undefined;
  let out: Handled;
  try {
    const r = await route({
      requestId,
      authenticate: async () => (principal = await authenticate(event)),
    });
    out = { ...r, interaction: r.interaction ?? defaultInteraction, principal: r.principal ?? principal };
  } catch (err) {
    const challenge = wwwAuthenticateFor(err);
    out = {
      response: errorToHttp(err, requestId, challenge ? { 'WWW-Authenticate': challenge } : undefined),
      interaction: defaultInteraction,
      principal,
    };
    if (out.response.statusCode >= 500) {
      baseLogger.error('request failed', { correlationId: requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    }
  }
  const log = requestLogger(baseLogger, requestId, out.principal);
  const status = out.response.statusCode;
  let outcomeCode: string | undefined;
  if (status >= 400) {
    try {
      outcomeCode = JSON.parse(out.response.body)?.issue?.[0]?.code;
    } catch {
      outcomeCode = undefined;
    }
  }
  try {
    await getApp().audit.append(
      buildAuditEvent({
        time: new Date(),
        requestId,
        source: out.principal?.source,
        clientId: out.principal?.clientId,
        interaction: out.interaction,
        resourceTypes: out.counts,
        objectKeys: out.objectKeys,
        outcomeStatus: status,
        outcomeCode,
        sourceIp: event.requestContext?.identity?.sourceIp ?? undefined,
      }),
    );
  } catch (err) {
    // fail closed: a request whose audit record cannot be written is reported as a server fault
    log.error('audit append failed', { error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    return errorToHttp(err, requestId);
  }
  log.info('request', {
    method: event.httpMethod,
    interaction: out.interaction,
    status,
    counts: out.counts,
    objects: out.objectKeys?.length ?? 0,
    ms: Date.now() - t0,
  });
  return out.response;
}

/** POST /fhir, POST /fhir/{type}, PUT /fhir/{type}/{id}. */
export function ingest(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const method = (event.httpMethod ?? '').toUpperCase();
  const [type, id, more] = segments(event);
  const interaction: AuditInteraction = type === undefined ? 'transaction' : method === 'PUT' ? 'update' : 'create';
  return handle(event, interaction, async ({ requestId, authenticate: auth }) => {
    const app = getApp();
    if (more !== undefined || (method === 'POST' && id !== undefined) || (method === 'PUT' && id === undefined)) {
      throw new ClientError(
        methodNotAllowed(
          method === 'PUT' && id === undefined
            ? 'Conditional update is not supported: PUT /fhir/{type}/{id}'
            : `${method} ${event.path} is not supported: this API accepts create (POST /fhir/{type}), update (PUT /fhir/{type}/{id}) and batch/transaction (POST /fhir)`,
        ),
      );
    }
    if (method !== 'POST' && method !== 'PUT') throw new ClientError(methodNotAllowed(`${method} is not supported`));
    if (type === 'metadata') throw new ClientError(methodNotAllowed('The CapabilityStatement is read with GET /fhir/metadata'));
    const principal = await auth();
    if (type !== undefined && !isResourceType(type)) throw new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`));
    const body = readJsonBody(event, app.config.maxBodyBytes);
    const ifMatch = header(event, 'if-match');
    const triage = app.triageEnabled(principal.source);
    let result;
    try {
      result = await app.ingestor.write({
        requestId,
        method,
        type,
        id,
        body,
        ifMatch,
        ifNoneExist: header(event, 'if-none-exist'),
        principal,
        validationLevel: app.config.allowLevelOverride ? header(event, 'x-validation-level') : undefined,
      });
    } catch (err) {
      // still refused, but kept (encrypted) in the triage area for a later recheck
      if (triage && err instanceof ValidationError) await app.triage.hold(requestId, principal, { method, type, id, body, ifMatch }, err.outcome);
      throw err;
    }
    if (triage && result.validationFailures) {
      for (const f of result.validationFailures) {
        await app.triage.hold(`${requestId}-${f.index}`, principal, { method: f.method, type: f.type, id: f.id, body: f.resource }, f.outcome);
      }
    }
    return {
      response: toHttp(result.response, {
        requestId,
        baseUrl: baseUrlOf(event),
        prefer: preferOf(event),
        bundleResponse: result.interaction === 'batch' || result.interaction === 'transaction',
      }),
      interaction: result.interaction,
      counts: result.counts,
      objectKeys: result.objectKeys,
    };
  });
}

/** POST /fhir/$validate and POST /fhir/{type}/$validate: the OperationOutcome, nothing stored. */
export function validate(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return handle(event, 'validate', async ({ requestId, authenticate: auth }) => {
    const app = getApp();
    const seg = segments(event);
    const type = seg[0] === '$validate' ? undefined : seg[0];
    if (type !== undefined && !isResourceType(type)) throw new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`));
    const principal = await auth();
    const body = readJsonBody(event, app.config.maxBodyBytes);
    const bodyType = (body as { resourceType?: unknown })?.resourceType;
    const checkType = type ?? (typeof bodyType === 'string' ? bodyType : undefined);
    if (checkType && principal.canValidate && !principal.canValidate(checkType) && !principal.canValidate('Parameters')) {
      throw new ClientError(forbidden(`Token scopes do not permit $validate of ${checkType}`));
    }
    const level = app.config.allowLevelOverride ? header(event, 'x-validation-level') : undefined;
    const res = validateOnly(app.validate, { type, body, level });
    return { response: toHttp(res, { requestId, baseUrl: baseUrlOf(event) }) };
  });
}

/** GET /fhir/metadata: the CapabilityStatement (open, as FHIR servers do). */
export function metadata(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return handle(event, 'capabilities', async ({ requestId }) => {
    const { config } = getApp();
    const cs = capabilityStatement({
      baseUrl: baseUrlOf(event),
      version: VERSION,
      resourceTypes: [...R4_RESOURCE_TYPES],
      maxBodyBytes: config.maxBodyBytes,
      validationLevel: config.validationLevel,
      authEnabled: config.auth.enabled,
      date: new Date().toISOString(),
    });
    const res: FhirResponse = [allOk, cs];
    return { response: toHttp(res, { requestId, baseUrl: baseUrlOf(event) }) };
  });
}

/** Everything else: read, search, delete, patch, history, unknown paths. */
export function notAllowed(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  return handle(event, 'refused', async ({ requestId }) => {
    const method = (event.httpMethod ?? 'GET').toUpperCase();
    const parts = (event.path ?? '').split('/').filter(Boolean);
    if (parts[0] !== 'fhir') throw new ClientError(notFound(`No such path: the FHIR base is /fhir`));
    const seg = parts.slice(1);
    const type = seg[0];
    if (type && !type.startsWith('$') && !type.startsWith('_') && type !== 'metadata' && !isResourceType(type)) {
      throw new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`));
    }
    const what =
      method === 'GET' || method === 'HEAD'
        ? seg.includes('_history')
          ? 'history'
          : seg.length >= 2
            ? 'read'
            : 'search'
        : method === 'DELETE'
          ? 'delete'
          : method === 'PATCH'
            ? 'patch'
            : `${method}`;
    return {
      response: errorToHttp(
        new ClientError(
          methodNotAllowed(
            `${what} is not supported: Tributary only writes (create, update, batch, transaction). Data is read from the analytical marts.`,
          ),
        ),
        requestId,
        { Allow: 'POST, PUT' },
      ),
    };
  });
}
