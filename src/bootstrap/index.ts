/**
 * The bootstrap: the one place that reads the configuration and chooses adapters (`runtime: aws` wires S3,
 * DynamoDB, SNS, KMS, Glue; `runtime: local` wires the same S3/SNS adapters against the local s3rver and SNS
 * endpoint, plus file-backed and DuckDB implementations of the rest). Handlers and scripts get their application
 * from here; nothing else builds an adapter.
 * - `app.ts`: the API (ingest, $validate, metadata);
 * - `etl.ts`: the ETL and the marts tools;
 * - `auth.ts`: the token verifier and the authorizer's audit log;
 * - `analysis.ts`: the safe-analysis path (registry, marts query, study keys, releases);
 * - `ops.ts`: the ops API (job records, audit reader, catalogue);
 * - `adapters.ts`: on-demand adapter modules.
 */
export { getApp, resetApp, recoveryDeps, buildValidator, buildProfileValidator, type App } from './app';
export { getEtlApp, buildEtlApp, resetEtlApp, viewsDir, type EtlApp } from './etl';
export { buildVerifier, authorizerAuditLog, authorizerDeps } from './auth';
export { buildAnalysisApp, localStudyKeyFile, type AnalysisApp } from './analysis';
export { getOpsService, buildAuditReader, catalogueTables } from './ops';
export { getImportApp, chunkDeps, jobPrincipal, resetImportApp, LOCAL_RUNNER, type ImportApp } from './import';
