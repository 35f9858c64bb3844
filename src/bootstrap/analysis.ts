/**
 * Adapters of the safe-analysis path (`npm run analyse`, `npm run analysis:approve`, `POST /ops/analyses/{id}/run`),
 * chosen by runtime as the rest of the bootstrap does:
 * - `local`: the registry files under `analyses/` (or ANALYSES_DIR), DuckDB over the local marts, the study key
 *   in `{DATA_DIR}/keys/study-hmac.key` (created on first use, 0600, separate from the lake's pseudonym key), the
 *   local audit trail, released files under `{DATA_DIR}/releases/`;
 * - `aws`: the study key is the KMS HMAC key STUDY_KMS_KEY_ARN, the audit trail is the audit bucket, releases go
 *   to `releases/` in the marts bucket; the marts are read with Athena in the workgroup of the analysis's study
 *   (`<ANALYSIS_WORKGROUP_PREFIX><study>`, as Terraform names them) over the Glue database GLUE_DATABASE.
 */
import path from 'node:path';
import type { Config } from '../config';
import type { AnalysisDeps, MartQuery, ReleaseSink } from '../core/analysis';
import { StoreReleaseSink } from '../core/analysis/release';
import type { AuditLog, KeyService } from '../core/ports';
import { ServerFault } from '../fhir/errors';
import { projectFile } from '../paths';
import { FileAnalysisRegistry, FolderReleaseSink } from '../adapters/local/analysis-files';
import { createS3Client, S3ObjectStore } from '../adapters/aws/s3-object-store';

/** The analysis use cases' collaborators, and where a run's files go. */
export interface AnalysisApp {
  config: Config;
  deps: AnalysisDeps;
  /** Where the files of a release go: `out` when given (local), else `releases/<analysis>/<release id>/`. */
  sink(analysis: string, releaseId: string, out?: string): ReleaseSink;
}

/** File of the local study key. */
export function localStudyKeyFile(dataDir: string): string {
  return path.join(dataDir, 'keys', 'study-hmac.key');
}

/* eslint-disable @typescript-eslint/no-require-imports -- adapters are loaded on demand, per runtime */
async function studyKeys(config: Config): Promise<KeyService> {
  if (config.runtime === 'aws') {
    if (!config.analysis.studyKmsKey) throw new ServerFault('STUDY_KMS_KEY_ARN is not set');
    const { KMSClient } = require('@aws-sdk/client-kms') as typeof import('@aws-sdk/client-kms');
    const { KmsKeyService } = require('../adapters/aws/kms-key-service') as typeof import('../adapters/aws/kms-key-service');
    return new KmsKeyService({ client: new KMSClient({ region: config.region }), keyId: config.analysis.studyKmsKey });
  }
  const { LocalKeyService, loadOrCreateKeyFile } = require('../adapters/local/key-service') as typeof import('../adapters/local/key-service');
  return new LocalKeyService(await loadOrCreateKeyFile(localStudyKeyFile(config.dataDir)));
}

function auditLog(config: Config): AuditLog {
  if (config.runtime === 'aws') {
    const { createS3AuditLog } = require('../adapters/aws/s3-audit-log') as typeof import('../adapters/aws/s3-audit-log');
    return createS3AuditLog({ client: createS3Client({ region: config.region }), bucket: config.buckets.audit, label: 'analysis' });
  }
  const { createLocalAuditLog } = require('../adapters/local/audit-log') as typeof import('../adapters/local/audit-log');
  return createLocalAuditLog(config.dataDir, { label: 'analysis' });
}

/** Longest an Athena query of a run may take: a run's two queries (the analysis, the lake-pseudonym scan) fit in 29 s. */
export const ATHENA_QUERY_TIMEOUT_MS = 12_000;

function martQuery(config: Config): MartQuery {
  if (config.runtime === 'aws') {
    const prefix = config.analysis.workgroupPrefix;
    if (!prefix) throw new ServerFault('ANALYSIS_WORKGROUP_PREFIX is not set');
    const { AthenaClient } = require('@aws-sdk/client-athena') as typeof import('@aws-sdk/client-athena');
    const { AthenaMartQuery } = require('../adapters/aws/athena-mart-query') as typeof import('../adapters/aws/athena-mart-query');
    return new AthenaMartQuery({
      client: new AthenaClient({ region: config.region }),
      database: config.glueDatabase,
      workgroup: (study) => `${prefix}${study}`,
      timeoutMs: ATHENA_QUERY_TIMEOUT_MS,
    });
  }
  const { DuckDbMartQuery } = require('../adapters/local/duckdb-query') as typeof import('../adapters/local/duckdb-query');
  const { localCatalogFile } = require('../adapters/local/duckdb-catalog') as typeof import('../adapters/local/duckdb-catalog');
  return new DuckDbMartQuery(localCatalogFile(config.dataDir));
}
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Builds the analysis collaborators for a configuration.
 * @param overrides - replace any collaborator (tests; the CLI passes none).
 */
export async function buildAnalysisApp(config: Config, overrides: Partial<AnalysisDeps> = {}): Promise<AnalysisApp> {
  const deps: AnalysisDeps = {
    registry: overrides.registry ?? new FileAnalysisRegistry(config.analysis.dir ?? projectFile('analyses')),
    marts: overrides.marts ?? martQuery(config),
    studyKeys: overrides.studyKeys ?? (await studyKeys(config)),
    audit: overrides.audit ?? auditLog(config),
    floors: overrides.floors ?? { minThreshold: config.analysis.minThreshold, minRounding: config.analysis.minRounding },
    ...(overrides.clock ? { clock: overrides.clock } : {}),
  };
  const sink = (analysis: string, releaseId: string, out?: string): ReleaseSink => {
    if (out) return new FolderReleaseSink(path.resolve(out));
    if (config.runtime === 'aws') {
      const marts = new S3ObjectStore(createS3Client({ region: config.region }), config.buckets.marts, { kmsKeyId: config.kms.marts });
      return new StoreReleaseSink(marts, `releases/${analysis}/${releaseId}/`);
    }
    return new FolderReleaseSink(path.join(config.dataDir, 'releases', analysis, releaseId));
  };
  return { config, deps, sink };
}
