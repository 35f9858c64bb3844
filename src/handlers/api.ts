/**
 * API Gateway handlers of the FHIR endpoint. Thin: parse the event, call the core, map the result to HTTP.
 * - `ingest`: POST /fhir (batch/transaction), POST /fhir/{type} (create), PUT /fhir/{type}/{id} (update)
 * - `metadata`: GET /fhir/metadata (CapabilityStatement, no token needed)
 * - `notAllowed`: every other method and path → 405 / 404 OperationOutcome (this API only writes)
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { getApp } from '../bootstrap';
import { capabilityStatement } from '../fhir/capability';
import { ClientError, allOk, methodNotAllowed, notFound } from '../fhir/outcomes';
import { isResourceType, schemaResourceTypes } from '../fhir/validation/schema';
import { baseUrlOf, errorToHttp, preferOf, readJsonBody, requestIdOf, toHttp, header } from './http';
import { logger } from './logger';
import type { Principal } from '../core/ingest';

const VERSION = '0.1.0';

/** Splits `/fhir/Patient/123` into its segments after `fhir`. */
function segments(event: APIGatewayProxyEvent): string[] {
  const p = (event.path ?? '').split('?')[0];
  const parts = p.split('/').filter(Boolean).map(decodeURIComponent);
  const i = parts.indexOf('fhir');
  return i >= 0 ? parts.slice(i + 1) : parts;
}

/** The calling source system. Until tokens are verified, it comes from configuration (SOURCE_SYSTEM). */
function principalOf(event: APIGatewayProxyEvent): Principal {
  const { config } = getApp();
  const ctx = event.requestContext?.authorizer as Record<string, string> | undefined | null;
  if (ctx?.source) return { source: ctx.source, clientId: ctx.clientId ?? ctx.source };
  return { source: config.defaultSource, clientId: config.defaultSource };
}

/** POST /fhir, POST /fhir/{type}, PUT /fhir/{type}/{id}. */
export async function ingest(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const requestId = requestIdOf(event);
  const t0 = Date.now();
  try {
    const app = getApp();
    const method = event.httpMethod.toUpperCase();
    const seg = segments(event);
    const [type, id, more] = seg;
    if (more !== undefined || (method === 'POST' && id !== undefined) || (method === 'PUT' && id === undefined)) {
      throw new ClientError(
        methodNotAllowed(
          method === 'PUT' && id === undefined
            ? 'Conditional update is not supported: PUT /fhir/{type}/{id}'
            : `${method} ${event.path} is not supported: this API accepts create (POST /fhir/{type}), update (PUT /fhir/{type}/{id}) and batch/transaction (POST /fhir)`,
        ),
      );
    }
    if (type !== undefined && !isResourceType(type)) throw new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`));
    if (method !== 'POST' && method !== 'PUT') throw new ClientError(methodNotAllowed(`${method} is not supported`));
    const body = readJsonBody(event, app.config.maxBodyBytes);
    const principal = principalOf(event);
    const result = await app.ingestor.write({
      requestId,
      method,
      type,
      id,
      body,
      ifMatch: header(event, 'if-match'),
      ifNoneExist: header(event, 'if-none-exist'),
      principal,
      validationLevel: app.config.allowLevelOverride ? header(event, 'x-validation-level') : undefined,
    });
    const res = toHttp(result.response, { requestId, baseUrl: baseUrlOf(event), prefer: preferOf(event) });
    logger.info('write', {
      requestId,
      source: principal.source,
      interaction: result.interaction,
      status: res.statusCode,
      counts: result.counts,
      objects: result.objectKeys.length,
      ms: Date.now() - t0,
    });
    return res;
  } catch (err) {
    const res = errorToHttp(err, requestId);
    if (res.statusCode >= 500) logger.error('write failed', { requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    else logger.info('write refused', { requestId, status: res.statusCode, ms: Date.now() - t0 });
    return res;
  }
}

/** GET /fhir/metadata: the CapabilityStatement. */
export async function metadata(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const requestId = requestIdOf(event);
  try {
    const { config } = getApp();
    const cs = capabilityStatement({
      baseUrl: baseUrlOf(event),
      version: VERSION,
      resourceTypes: [...schemaResourceTypes()].sort(),
      maxBodyBytes: config.maxBodyBytes,
      validationLevel: config.validationLevel,
      authEnabled: config.auth.enabled,
      date: new Date().toISOString(),
    });
    return toHttp([allOk, cs], { requestId, baseUrl: baseUrlOf(event) });
  } catch (err) {
    return errorToHttp(err, requestId);
  }
}

/** Everything else: read, search, delete, patch, history, unknown paths. */
export async function notAllowed(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  const requestId = requestIdOf(event);
  const method = (event.httpMethod ?? 'GET').toUpperCase();
  const parts = (event.path ?? '').split('/').filter(Boolean);
  if (parts[0] !== 'fhir') return errorToHttp(new ClientError(notFound(`No such path: the FHIR base is /fhir`)), requestId);
  const seg = parts.slice(1);
  const type = seg[0];
  if (type && !type.startsWith('$') && !type.startsWith('_') && type !== 'metadata' && !isResourceType(type)) {
    return errorToHttp(new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`)), requestId);
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
  return errorToHttp(
    new ClientError(
      methodNotAllowed(
        `${what} is not supported: Tributary only writes (create, update, batch, transaction). Data is read from the analytical marts.`,
      ),
    ),
    requestId,
    { Allow: 'POST, PUT' },
  );
}
