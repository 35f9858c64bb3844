/**
 * The routes of the bulk import (FHIR asynchronous request pattern, https://hl7.org/fhir/R4/async.html):
 * `POST /fhir/$import` kicks a job off (202 + `Content-Location`), `GET /fhir/$import-jobs/{id}/$status` follows it (202 with
 * `X-Progress` while it runs, 200 with the manifest when done). Both need the bulk-import scope.
 */
import type { Resource } from 'fhir/r4';
import { randomUUID } from 'node:crypto';
import { forbidden, outcome } from '../fhir/outcomes';
import { ClientError } from '../fhir/errors';
import { BULK_IMPORT_SCOPE, canBulkImport } from '../fhir/auth/scopes';
import { importStatus, startImport } from '../core/import';
import { systemClock } from '../core/ports';
import type { ValidatingPrincipal } from '../core/use-cases';
import { getImportApp } from '../bootstrap';
import { readJsonBody } from './http';
import type { FhirResponse } from '../fhir/outcomes';
import type { App } from '../bootstrap';
import type { HttpRequest } from './request';

/** What an import route is given (the route table's RouteContext, structurally). */
interface RouteContext {
  app: App;
  req: HttpRequest;
  params: { id?: string };
  authenticate(): Promise<ValidatingPrincipal>;
}

/** What an import route returns (the route table's Routed, structurally). */
interface Routed {
  result: FhirResponse;
  headers?: Record<string, string>;
}

/** The first path segment of job status URLs: `/fhir/$import-jobs/{id}/$status`. */
export const IMPORT_JOBS = '$import-jobs';

/** The caller, refused (403) without the bulk-import scope when authentication is on. */
async function bulkCaller(ctx: RouteContext): Promise<ValidatingPrincipal> {
  const p = await ctx.authenticate();
  if (ctx.app.config.auth.enabled && !canBulkImport(p.scope)) {
    throw new ClientError(forbidden(`Bulk import needs the ${BULK_IMPORT_SCOPE} scope`));
  }
  return p;
}

/** `POST /fhir/$import`: 202 Accepted with `Content-Location` (https://hl7.org/fhir/R4/async.html#3.1.6.2). */
export async function importKickOff(ctx: RouteContext): Promise<Routed> {
  const { app, req } = ctx;
  const p = await bulkCaller(ctx);
  const im = getImportApp(app.config);
  const job = await startImport(
    { inputs: im.inputs, jobs: im.jobs, launcher: im.launcher, clock: systemClock, newId: randomUUID, prefix: app.config.bulkImport.prefix },
    { source: p.source, clientId: p.clientId, scope: p.scope ?? '' },
    readJsonBody(req, app.config.maxBodyBytes),
  );
  return {
    result: [outcome(202, 'informational', `Import job ${job.id} accepted: follow it at Content-Location`)],
    headers: { 'Content-Location': `${req.baseUrl}/${IMPORT_JOBS}/${job.id}/$status` },
  };
}

/** `GET /fhir/$import-jobs/{id}/$status`: 202 + `X-Progress` while running, 200 + manifest when done (async.html#3.1.6.3). */
export async function importJobStatus(ctx: RouteContext): Promise<Routed> {
  const p = await bulkCaller(ctx);
  const im = getImportApp(ctx.app.config);
  const s = await importStatus({ jobs: im.jobs, launcher: im.launcher, clock: systemClock }, p.source, ctx.params.id ?? '', im.errorUrl);
  if (s.state === 'running') {
    return { result: [outcome(202, 'informational', `Import job in progress: ${s.progress}`)], headers: { 'X-Progress': s.progress, 'Retry-After': '2' } };
  }
  if (s.state === 'failed') return { result: [s.outcome] };
  return { result: [outcome(200, 'informational', 'Import job complete'), s.manifest as unknown as Resource] };
}
