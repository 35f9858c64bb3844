/**
 * The operations API (`/ops/...`, issue 16): read-only JSON for the web console, plus three audited POSTs.
 * Thin: parse the event once, check the operator scope, route to one {@link OpsService} call, answer JSON (errors
 * as OperationOutcomes through `errorToHttp`). Answers hold ids, counts, statuses, names and expressions only.
 *
 * Auth: a bearer token granting `tributary/operator` (the API Gateway authorizer verifies it in AWS; locally the
 * handler verifies it with the same verifier). No token → 401; a token without the operator scope (e.g. a source's
 * write-only token) → 403. Every ops request, accepted or refused, GET or POST, leaves exactly one audit record
 * (fail closed: no record, no answer), so the three actions each leave one.
 * (`POST /ops/analyses/{id}/run` is served by src/handlers/analysis.ts.)
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { loadConfig, type Config } from '../config';
import { principalFromAuthorizerContext, wwwAuthenticateFor, type TokenVerifier } from '../core/auth';
import { createLogger } from '../core/log';
import { canOperate, opsAuditEvent, OpsConflict, OpsNotFound, OPS_SCOPE, type OpsAction, type OpsService } from '../core/ops/service';
import type { JobFilter } from '../core/ops/jobs';
import type { AuditLog } from '../core/ports';
import { AuthError, ClientError } from '../fhir/errors';
import { conflict, forbidden, methodNotAllowed, notFound, unauthorized } from '../fhir/outcomes';
import { buildVerifier, getApp, getOpsService } from '../bootstrap';
import { errorToHttp } from './http';
import { parseRequest } from './request';

const logger = createLogger('tributary-ops');

/** One ops route: method, path segments after `ops` (`:id` matches one segment), and what it runs. */
interface OpsRoute {
  method: 'GET' | 'POST';
  pattern: readonly string[];
  /** The audited action of a POST. */
  action?: OpsAction;
  run(ops: OpsService, a: { id: string; query: Record<string, string> }): Promise<unknown>;
}

const jobFilter = (q: Record<string, string>): JobFilter => {
  const f: JobFilter = {};
  if (q.status === 'succeeded' || q.status === 'failed' || q.status === 'dead-lettered') f.status = q.status;
  if (q.source) f.source = q.source;
  if (q.view) f.view = q.view;
  if (q.requestId) f.requestId = q.requestId;
  if (q.since) f.since = q.since;
  if (q.until) f.until = q.until;
  return f;
};

/** The ops route table. */
export const OPS_ROUTES: readonly OpsRoute[] = [
  { method: 'GET', pattern: ['overview'], run: (ops) => ops.overview() },
  { method: 'GET', pattern: ['etl', 'jobs'], run: (ops, a) => ops.jobs(jobFilter(a.query), Math.min(Number(a.query.limit) || 500, 5000)) },
  { method: 'GET', pattern: ['etl', 'jobs', ':id'], run: (ops, a) => ops.job(a.id) },
  { method: 'POST', pattern: ['etl', 'jobs', ':id', 'retry'], action: 'etl-retry', run: (ops, a) => ops.retry(a.id) },
  { method: 'GET', pattern: ['triage'], run: (ops) => ops.triage() },
  { method: 'POST', pattern: ['triage', ':id', 'recheck'], action: 'triage-recheck', run: (ops, a) => ops.recheck(a.id) },
  { method: 'GET', pattern: ['quality'], run: (ops) => ops.quality() },
  { method: 'GET', pattern: ['catalogue'], run: (ops, a) => ops.catalogue(a.query.q) },
  { method: 'GET', pattern: ['audit'], run: (ops) => ops.auditStatus() },
  { method: 'POST', pattern: ['audit', 'verify'], action: 'audit-verify', run: (ops) => ops.verifyAudit() },
];

function match(segments: readonly string[], method: string): { route?: OpsRoute; id: string; pathKnown: boolean } {
  let pathKnown = false;
  for (const route of OPS_ROUTES) {
    if (route.pattern.length !== segments.length) continue;
    let id = '';
    const ok = route.pattern.every((p, i) => (p === ':id' ? ((id = segments[i]!), true) : p === segments[i]));
    if (!ok) continue;
    pathKnown = true;
    if (route.method === method) return { route, id, pathKnown };
  }
  return { id: '', pathKnown };
}

/** What the handler is built from (tests inject a verifier, the service and the audit log). */
export interface OpsHandlerOptions {
  config: Config;
  verifier?: TokenVerifier;
  ops: () => OpsService;
  audit: () => AuditLog;
}

const json = (status: number, body: unknown, requestId: string): APIGatewayProxyResult => ({
  statusCode: status,
  headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Request-Id': requestId, 'Cache-Control': 'no-store' },
  body: JSON.stringify(body),
});

/** Builds the ops handler. */
export function createOpsHandler(opts: OpsHandlerOptions): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  return async (event) => {
    const req = parseRequest(event);
    const requestId = req.requestId;
    const segments = req.segments[0] === 'ops' ? req.segments.slice(1) : req.segments;
    const { route, id, pathKnown } = match(segments, req.method);
    let who = 'unauthenticated';
    let response: APIGatewayProxyResult;
    try {
      if (!route) throw new ClientError(pathKnown ? methodNotAllowed(`${req.method} is not supported on ${req.path}`) : notFound('No such ops route'));
      const fromAuthorizer = principalFromAuthorizerContext(req.authorizer);
      const principal = fromAuthorizer ?? (opts.verifier ? await opts.verifier.verify(req.header('authorization')) : undefined);
      if (principal) {
        who = principal.subject ?? principal.clientId;
        if (!canOperate(principal.scope)) throw new AuthError(forbidden(`the ops API needs the scope ${OPS_SCOPE}`));
      } else if (opts.config.auth.enabled) {
        throw new AuthError(unauthorized('no verified caller'));
      } else {
        who = opts.config.defaultSource;
      }
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) if (typeof v === 'string') query[k] = v.slice(0, 200);
      const body = await route.run(opts.ops(), { id, query });
      response = json(route.action === 'etl-retry' ? 202 : 200, body, requestId);
    } catch (err) {
      let e = err;
      if (err instanceof OpsNotFound) e = new ClientError(notFound(err.message));
      if (err instanceof OpsConflict) e = new ClientError(conflict(err.message));
      const challenge = wwwAuthenticateFor(e);
      response = errorToHttp(e, requestId, challenge ? { 'WWW-Authenticate': challenge } : undefined);
      if (response.statusCode >= 500) logger.error('ops request failed', { correlationId: requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
    }
    const status = response.statusCode;
    try {
      // one record per request; the target names the route and the job/item id (ids only, no values)
      const target = route ? [route.method, ...route.pattern.map((p) => (p === ':id' ? id.slice(0, 128) : p))].join(' ') : `${req.method} (no route)`;
      await opts.audit().append(
        opsAuditEvent({ action: route?.action ?? 'read', who, target, outcome: status < 400 ? '0' : status < 500 ? '4' : '8', requestId, recorded: new Date(), detail: String(status) }),
      );
    } catch (err) {
      logger.error('audit append failed', { correlationId: requestId, error: (err as Error)?.name });
      return errorToHttp(err, requestId);
    }
    logger.info('ops request', { correlationId: requestId, method: req.method, action: route?.action ?? 'read', status });
    return response;
  };
}

let handler: ((event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>) | undefined;

/** Lambda entry point of `/ops/{proxy+}` (serverless.yml function `ops`). */
export async function run(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  if (!handler) {
    const config = loadConfig();
    handler = createOpsHandler({ config, verifier: buildVerifier(config), ops: () => getOpsService(config), audit: () => getApp(config).audit });
  }
  return handler(event);
}
