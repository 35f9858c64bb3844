/**
 * The bulk import's application (`$import`): the import bucket, the job store (files under DATA_DIR locally, S3 in
 * AWS), the launcher (a detached runner process locally, a start marker for the state machine in AWS), and the
 * chunk dependencies built over the API's application (the same Ingestor, validator, pseudonymiser, triage, audit).
 */
import path from 'node:path';
import type { Config } from '../config';
import type { ChunkDeps, ImportLauncher } from '../core/import';
import type { Principal } from '../core/ingest';
import type { ImportJobStore, ObjectStore } from '../core/ports';
import { systemClock } from '../core/ports';
import { canWrite, parseScopes } from '../fhir/auth/scopes';
import { createS3Client, S3ObjectStore } from '../adapters/aws/s3-object-store';
import { S3ImportJobStore } from '../adapters/aws/s3-import-job-store';
import { S3ImportLauncher } from '../adapters/aws/s3-import-launcher';
import { FileImportJobStore } from '../adapters/local/import-job-store';
import { ProcessImportLauncher } from '../adapters/local/import-launcher';
import type { App } from './app';

/** The job API's and the runner's stores. */
export interface ImportApp {
  inputs: ObjectStore;
  jobs: ImportJobStore;
  launcher: ImportLauncher;
  /** The import bucket and prefix as `s3://` URL root, for the error output URL. */
  errorUrl(key: string): string;
}

let importApp: ImportApp | undefined;

/** The runner script a local launch starts (dist/scripts/import-runner.js next to dist/src). */
export const LOCAL_RUNNER = path.resolve(__dirname, '../../scripts/import-runner.js');

/** Builds (once) the import application for a configuration. */
export function getImportApp(config: Config): ImportApp {
  if (importApp) return importApp;
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const bucket = config.buckets.import;
  const aws = config.runtime === 'aws';
  importApp = {
    inputs: new S3ObjectStore(s3, bucket, { kmsKeyId: config.kms.import }),
    jobs: aws ? new S3ImportJobStore(s3, bucket, config.bulkImport.jobsPrefix, config.kms.import) : new FileImportJobStore(path.join(config.dataDir, 'imports')),
    launcher: aws ? new S3ImportLauncher(s3, bucket, config.bulkImport.jobsPrefix) : new ProcessImportLauncher(LOCAL_RUNNER, path.join(config.dataDir, 'logs')),
    errorUrl: (key) => `s3://${bucket}/${key}`,
  };
  return importApp;
}

/** The core principal of a job's token: its source, and its scopes checked per entry as for REST. */
export function jobPrincipal(p: { source: string; clientId: string; scope: string }, authEnabled: boolean): Principal {
  const scopes = parseScopes(p.scope);
  return { source: p.source, clientId: p.clientId, ...(authEnabled ? { canWrite: (type, interaction) => canWrite(scopes, type, interaction) } : {}) };
}

/** What a chunk needs, over the API's application. */
export function chunkDeps(app: App): ChunkDeps {
  return {
    ingestor: app.ingestor,
    triage: app.triage,
    triageEnabled: app.triageEnabled,
    lake: app.lake,
    audit: app.audit,
    clock: systemClock,
    validate: app.validate,
    maxLineBytes: app.config.maxBodyBytes,
    principalOf: (p) => jobPrincipal(p, app.config.auth.enabled),
  };
}

/** Test hook. */
export function resetImportApp(): void {
  importApp = undefined;
}
