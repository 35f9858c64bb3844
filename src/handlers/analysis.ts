/**
 * The ops route of the safe-analysis path: `POST /ops/analyses/{id}/run` (for the console) runs an approved
 * analysis of the registry and releases its checked output, exactly as `npm run analyse -- <id>` does
 * (src/core/analysis/run.ts). The caller needs a token granting `tributary/analysis.run` (analysts) or
 * `tributary/operator` (operators); with AUTH=off (local experiments only) anyone may run.
 *
 * Answers 200 with the release record and where the files went (plus the released table for aggregate outputs;
 * a row-level extract is only written, never returned). A refusal is an OperationOutcome naming the rule: 401 no
 * or bad token, 403 no analyst scope or no valid approval, 404 unknown analysis, 422 the output checker refused.
 * Every run, refusal and release is in the audit trail (refusals of the token too).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { loadConfig, type Config } from '../config';
import { ANALYST_SCOPE, OPERATOR_SCOPE, analysisAuditEvent, canRunAnalyses, runAnalysis } from '../core/analysis';
import { principalFromAuthorizerContext, wwwAuthenticateFor, type Principal, type TokenVerifier } from '../core/auth';
import { createLogger } from '../core/log';
import { AuthError } from '../fhir/errors';
import { forbidden } from '../fhir/outcomes';
import { buildAnalysisApp, buildVerifier, type AnalysisApp } from '../bootstrap';
import { errorToHttp } from './http';
import { parseRequest } from './request';

const logger = createLogger('tributary-analysis');

/** What the handler is built from (tests inject a verifier and the analysis collaborators). */
export interface AnalysisHandlerOptions {
  config: Config;
  /** Verifies bearer tokens when the API Gateway authorizer has not (locally); absent with AUTH=off. */
  verifier?: TokenVerifier;
  app: () => Promise<AnalysisApp>;
}

/** Who the audit trail and the release record name: the token's subject, else its client id. */
function whoOf(p: Principal): string {
  return p.subject ? `${p.subject} (client ${p.clientId})` : p.clientId;
}

/** Builds the `POST /ops/analyses/{id}/run` handler. */
export function createAnalysisHandler(opts: AnalysisHandlerOptions): (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  return async (event) => {
    const req = parseRequest(event);
    const requestId = req.requestId;
    const id = event.pathParameters?.id ?? (req.segments[0] === 'ops' && req.segments[1] === 'analyses' ? (req.segments[2] ?? '') : '');
    let who = 'unauthenticated';
    let app: AnalysisApp | undefined;
    try {
      app = await opts.app();
      const fromAuthorizer = principalFromAuthorizerContext(req.authorizer);
      const principal = fromAuthorizer ?? (opts.verifier ? await opts.verifier.verify(req.header('authorization')) : undefined);
      if (principal) {
        who = whoOf(principal);
        if (!canRunAnalyses(principal.scope)) throw new AuthError(forbidden(`running analyses needs the scope ${ANALYST_SCOPE} (analysts) or ${OPERATOR_SCOPE} (operators)`));
      } else if (opts.config.auth.enabled) {
        throw new AuthError(forbidden('no verified caller'));
      } else {
        who = opts.config.defaultSource;
      }
      const r = await runAnalysis(app.deps, { id, who, requestId, sink: (releaseId) => app!.sink(id, releaseId) });
      const body = { release: r.record, written: r.written, ...(r.record.output === 'aggregate' ? { columns: r.table.columns, rows: r.table.rows } : {}) };
      return { statusCode: 200, headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Request-Id': requestId }, body: JSON.stringify(body) };
    } catch (err) {
      if (err instanceof AuthError && app) {
        // refused before the use case ran: the use case audits everything else
        await app.deps.audit
          .append(analysisAuditEvent({ action: 'run', who, analysis: id.slice(0, 64) || '-', recorded: new Date(), outcome: '4', rule: 'authorisation', requestId }))
          .catch((e: unknown) => logger.error('audit append failed', { correlationId: requestId, error: (e as Error)?.name }));
      }
      const response = errorToHttp(err, requestId, wwwAuthenticateFor(err) ? { 'WWW-Authenticate': wwwAuthenticateFor(err)! } : undefined);
      if (response.statusCode >= 500) logger.error('analysis run failed', { correlationId: requestId, error: (err as Error)?.name, reason: (err as Error)?.message?.slice(0, 300) });
      return response;
    }
  };
}

let handler: ((event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>) | undefined;

/** Lambda entry point of `POST /ops/analyses/{id}/run` (serverless.yml function `analysis`). */
export async function run(event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  if (!handler) {
    const config = loadConfig();
    let built: Promise<AnalysisApp> | undefined;
    handler = createAnalysisHandler({
      config,
      verifier: buildVerifier(config),
      app: () => (built ??= buildAnalysisApp(config)),
    });
  }
  return handler(event);
}
