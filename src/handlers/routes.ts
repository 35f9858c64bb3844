/**
 * The route table of the FHIR endpoint (in the spirit of Medplum's fhir-router): each route names the Lambda function
 * that serves it (serverless.yml maps paths to functions; a function answers only its own routes), the method, the
 * path pattern under `/fhir`, the audit interaction, and a body that calls one core use case and returns
 * `[OperationOutcome, Resource?]`. A `:type` segment must be a known R4 resource type (404 otherwise), checked here once
 * for every route. Requests that match no route of their function are refused by the function's fallback.
 */
import { capabilityStatement } from '../fhir/capability';
import { allOk, methodNotAllowed, notFound, type FhirResponse } from '../fhir/outcomes';
import { ClientError } from '../fhir/errors';
import { isResourceType, R4_RESOURCE_TYPES } from '../fhir/resource-types';
import type { AuditInteraction } from '../core/audit';
import type { PreferReturn } from '../core/ingest';
import { validateResource, writeResources, type ValidatingPrincipal } from '../core/use-cases';
import type { App } from '../bootstrap';
import { readJsonBody } from './http';
import type { HttpRequest } from './request';
import { importJobStatus, importKickOff, IMPORT_JOBS } from './import-routes';

const VERSION = '0.1.0';

/** The Lambda functions of the API (serverless.yml). */
export type FunctionName = 'ingest' | 'validate' | 'metadata' | 'notAllowed';

/** What a route returns: the FHIR result, how to present it, and what the audit record counts. */
export interface Routed {
  result: FhirResponse;
  /** The resource is a batch-/transaction-response to `POST /fhir` (not a Bundle stored by a create). */
  bundleResponse?: boolean;
  prefer?: PreferReturn;
  /** The interaction as it turned out (a `POST /fhir` is a batch or a transaction). */
  interaction?: AuditInteraction;
  counts?: Record<string, number>;
  objectKeys?: string[];
  /** The write's commit wrote its audit record (or left it to recovery): the handler must not write another. */
  audited?: boolean;
  /** Extra response headers (`Content-Location`, `X-Progress` of an asynchronous job). */
  headers?: Record<string, string>;
}

/** What a route body is given. */
export interface RouteContext {
  app: App;
  req: HttpRequest;
  /** Path parameters of the pattern (`type`, `id`). */
  params: { type?: string; id?: string };
  /** Authenticates the caller (401 when refused). */
  authenticate(): Promise<ValidatingPrincipal>;
}

/** One route. */
export interface Route {
  fn: FunctionName;
  method: string;
  /** Segments under `/fhir`: literals, `:type` (a resource type) or `:id`. */
  pattern: readonly string[];
  interaction: AuditInteraction;
  run(ctx: RouteContext): Promise<Routed>;
}

async function write(ctx: RouteContext): Promise<Routed> {
  const { app, req, params } = ctx;
  const principal = await ctx.authenticate();
  const result = await writeResources(app, {
    requestId: req.requestId,
    method: req.method as 'POST' | 'PUT',
    type: params.type,
    id: params.id,
    body: readJsonBody(req, app.config.maxBodyBytes),
    ifMatch: req.header('if-match'),
    ifNoneExist: req.header('if-none-exist'),
    principal,
    validationLevel: app.config.allowLevelOverride ? req.header('x-validation-level') : undefined,
    idempotencyKey: req.header('idempotency-key'),
    sourceIp: req.sourceIp,
  });
  return {
    result: result.response,
    bundleResponse: result.interaction === 'batch' || result.interaction === 'transaction',
    prefer: req.prefer,
    interaction: result.interaction,
    counts: result.counts,
    objectKeys: result.objectKeys,
    audited: result.audited,
  };
}

async function validate(ctx: RouteContext): Promise<Routed> {
  const { app, req, params } = ctx;
  const principal = await ctx.authenticate();
  const body = readJsonBody(req, app.config.maxBodyBytes);
  const level = app.config.allowLevelOverride ? req.header('x-validation-level') : undefined;
  return { result: validateResource(app.validate, { type: params.type, body, level, principal }) };
}

async function metadata({ app, req }: RouteContext): Promise<Routed> {
  const cs = capabilityStatement({
    baseUrl: req.baseUrl,
    version: VERSION,
    resourceTypes: [...R4_RESOURCE_TYPES],
    maxBodyBytes: app.config.maxBodyBytes,
    validationLevel: app.config.validationLevel,
    authEnabled: app.config.auth.enabled,
    date: new Date().toISOString(),
    instanceId: app.config.instanceId,
  });
  return { result: [allOk, cs] };
}

/** `POST /fhir/metadata`, `PUT /fhir/metadata/{id}`: the CapabilityStatement is only read. */
async function metadataIsRead(): Promise<Routed> {
  throw new ClientError(methodNotAllowed('The CapabilityStatement is read with GET /fhir/metadata'));
}

/** The routes (http.html: create, update, batch/transaction; $validate; capabilities), literal patterns first. */
export const ROUTES: readonly Route[] = [
  { fn: 'ingest', method: 'POST', pattern: ['$import'], interaction: 'import', run: importKickOff },
  { fn: 'ingest', method: 'GET', pattern: [IMPORT_JOBS, ':id', '$status'], interaction: 'import', run: importJobStatus },
  { fn: 'ingest', method: 'POST', pattern: ['metadata'], interaction: 'create', run: metadataIsRead },
  { fn: 'ingest', method: 'PUT', pattern: ['metadata', ':id'], interaction: 'update', run: metadataIsRead },
  { fn: 'ingest', method: 'POST', pattern: [], interaction: 'transaction', run: write },
  { fn: 'ingest', method: 'POST', pattern: [':type'], interaction: 'create', run: write },
  { fn: 'ingest', method: 'PUT', pattern: [':type', ':id'], interaction: 'update', run: write },
  { fn: 'validate', method: 'POST', pattern: ['$validate'], interaction: 'validate', run: validate },
  { fn: 'validate', method: 'POST', pattern: [':type', '$validate'], interaction: 'validate', run: validate },
  { fn: 'metadata', method: 'GET', pattern: ['metadata'], interaction: 'capabilities', run: metadata },
];

/** `segments` against `pattern`: the path parameters, or undefined when it does not match. */
function match(pattern: readonly string[], segments: readonly string[]): RouteContext['params'] | undefined {
  if (pattern.length !== segments.length) return undefined;
  const params: RouteContext['params'] = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const s = segments[i]!;
    if (p === ':type') params.type = s;
    else if (p === ':id') params.id = s;
    else if (p !== s) return undefined;
  }
  return params;
}

/** The unknown-type refusal, the one place it is spelled. */
export function unknownType(type: string): ClientError {
  return new ClientError(notFound(`Unknown resource type '${type.slice(0, 64)}'`));
}

/** The route of `req` among `fn`'s routes, with its parameters; throws 404 for an unknown `:type`. */
export function findRoute(fn: FunctionName, req: HttpRequest): { route: Route; params: RouteContext['params'] } | undefined {
  for (const route of ROUTES) {
    if (route.fn !== fn || route.method !== req.method) continue;
    const params = match(route.pattern, req.segments);
    if (!params) continue;
    if (params.type !== undefined && !isResourceType(params.type)) throw unknownType(params.type);
    return { route, params };
  }
  return undefined;
}

/** What the interaction of a refused write would have been (for the audit record). */
export function fallbackInteraction(fn: FunctionName, req: HttpRequest): AuditInteraction {
  if (fn === 'ingest') return req.segments.length === 0 ? 'transaction' : req.method === 'PUT' ? 'update' : 'create';
  if (fn === 'validate') return 'validate';
  if (fn === 'metadata') return 'capabilities';
  return 'refused';
}

/**
 * The refusal of a request no route of its function serves: 405 for a method/shape Tributary does not support
 * (it only writes; data is read from the marts), 404 for paths outside the FHIR base or unknown types.
 */
export function refusal(fn: FunctionName, req: HttpRequest): { error: ClientError; headers?: Record<string, string> } {
  const { method, segments } = req;
  if (fn === 'ingest') {
    const id = segments[1];
    if (method === 'PUT' && id === undefined) return { error: new ClientError(methodNotAllowed('Conditional update is not supported: PUT /fhir/{type}/{id}')) };
    return {
      error: new ClientError(
        methodNotAllowed(
          `${method} ${req.path} is not supported: this API accepts create (POST /fhir/{type}), update (PUT /fhir/{type}/{id}) and batch/transaction (POST /fhir)`,
        ),
      ),
    };
  }
  if (!req.onFhirBase) return { error: new ClientError(notFound('No such path: the FHIR base is /fhir')) };
  const type = segments[0];
  if (type && !type.startsWith('$') && !type.startsWith('_') && type !== 'metadata' && !isResourceType(type)) return { error: unknownType(type) };
  const what =
    method === 'GET' || method === 'HEAD'
      ? segments.includes('_history')
        ? 'history'
        : segments.length >= 2
          ? 'read'
          : 'search'
      : method === 'DELETE'
        ? 'delete'
        : method === 'PATCH'
          ? 'patch'
          : method;
  return {
    error: new ClientError(
      methodNotAllowed(`${what} is not supported: Tributary only writes (create, update, batch, transaction). Data is read from the analytical marts.`),
    ),
    headers: { Allow: 'POST, PUT' },
  };
}
