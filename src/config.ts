/**
 * Typed configuration, read ONCE from the environment at cold start: the only module of `src/` that reads the
 * process environment (a lint rule enforces it). Everything else receives a {@link Config} (or a part of it) from
 * the bootstrap. Unknown values of enumerated settings stop the start with a message naming the variable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ValidationLevel, ValidationOptionsConfig } from './fhir/validation/types';

export type { ValidationLevel, ValidationOptionsConfig };

/** Where adapters come from: `aws` (S3/KMS/Glue/SNS/DynamoDB) or `local` (s3rver, files, DuckDB). */
export type Runtime = 'aws' | 'local';

/** Tributary's configuration. */
export interface Config {
  runtime: Runtime;
  region: string;
  dataDir: string;
  /** S3 endpoint override (the local s3rver); undefined in AWS. */
  s3Endpoint?: string;
  snsEndpoint?: string;
  buckets: { lake: string; identity: string; triage: string; audit: string; marts: string; import: string };
  /** Bulk import (`$import`): key prefix of inputs in the import bucket, lines per chunk, local worker threads, AWS job table. */
  bulkImport: { prefix: string; chunkLines: number; chunkBytes: number; workers: number; workerHeapMb: number; indexOpenFiles: number; jobsPrefix: string };
  kms: { lake?: string; identity?: string; hmac?: string; triage?: string; audit?: string; marts?: string; import?: string };
  ingestTopicArn: string;
  versionsTable: string;
  /** Bucket files the local version index keeps open (`INDEX_OPEN_FILES`; the import runner's workers default higher). */
  indexOpenFiles: number;
  /** `JOBS_TABLE`: the DynamoDB table of ETL job records (AWS; locally files under DATA_DIR/ops/jobs). */
  jobsTable: string;
  /** `ETL_DLQ_ARN`: the ETL dead-letter queue (AWS), whose depth the ops overview shows. */
  etlDlqArn?: string;
  /** `ETL_MAX_RECEIVE_COUNT`: the ETL queue's maxReceiveCount (a failure at that receive is dead-lettered), default 5 (Terraform's etl_max_receive_count). */
  etlMaxReceiveCount: number;
  /** Source system recorded when authentication is off (local development only). */
  defaultSource: string;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
  validationLevel: ValidationLevel;
  /** Allow clients to lower the validation level with the `X-Validation-Level` header. */
  allowLevelOverride: boolean;
  /** Validator options a deployment may choose ({@link ValidationOptionsConfig}); the defaults are the FHIR rules. */
  validation: ValidationOptionsConfig;
  auth: AuthSettings;
  /** Where the authorizer writes refused requests' audit records: `s3` when `AUDIT_BUCKET` is set, else `off`. */
  authorizerAudit: 's3' | 'off';
  /** Folder of the mart ViewDefinitions (`VIEWS_DIR`); undefined: the project's `views/`. */
  viewsDir?: string;
  /** Sources whose refused payloads are kept in the triage area (`*` = all). */
  triageSources: string[];
  glueDatabase: string;
  /** User validation rules file (default: rules/rules.yaml shipped with the code). */
  rulesFile?: string;
  /** Pseudonymisation policy file (default: policy/pseudonymisation.yaml shipped with the code). */
  policyFile?: string;
  /**
   * `LOCAL_ETL`: `on` (default) runs the ETL on every local SNS delivery; `deferred` acknowledges them without
   * work, for bulk loads on a small machine (build the marts afterwards with `npm run etl-replay`). Only the
   * local SNS path reads it: in AWS the ETL is driven by SQS, which this setting never touches.
   */
  localEtl: 'on' | 'deferred';
  /** Safe analysis ({@link AnalysisConfig}). */
  analysis: AnalysisConfig;
  /**
   * `TRIBUTARY_INSTANCE_ID`: set by `npm start` for the local stack it runs, shown in the CapabilityStatement so
   * the start script recognises its own API (not another server on the port); unset in AWS.
   */
  instanceId?: string;
}

/**
 * Safe-analysis settings (docs/safe-analysis.md):
 * - `minThreshold` (`ANALYSIS_MIN_THRESHOLD`, default 8): the deployment's smallest disclosure threshold; counts
 *   from 1 to threshold − 1 are redacted, and no study may set a lower threshold;
 * - `minRounding` (`ANALYSIS_MIN_ROUNDING`, default 5): the smallest rounding base a study may set;
 * - `studyKmsKey` (`STUDY_KMS_KEY_ARN`): the HMAC_256 KMS key behind per-study pseudonyms (AWS; locally a key
 *   file under DATA_DIR/keys);
 * - `dir` (`ANALYSES_DIR`): the analysis registry folder (default `analyses/` of the project);
 * - `workgroupPrefix` (`ANALYSIS_WORKGROUP_PREFIX`): AWS, the study workgroups' name prefix; the workgroup of study
 *   `s` is `<prefix><s>` (Terraform names them `<service>-<stage>-study-<s>`).
 */
export interface AnalysisConfig {
  minThreshold: number;
  minRounding: number;
  studyKmsKey?: string;
  dir?: string;
  workgroupPrefix?: string;
}

/**
 * The process's soft limit on open files (`RLIMIT_NOFILE`, which Node raises to the hard limit at start), from
 * /proc/self/limits on Linux; 1,024 where that cannot be read.
 */
export function openFileLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? 1 << 20 : Number(m[1]);
  } catch {
    /* not Linux */
  }
  return 1024;
}

/** `env[name]` as an integer ≥ `min`, or `fallback` when unset; anything else stops the start. */
function intSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min} (got '${v.slice(0, 40)}')`);
  return n;
}

/**
 * Bearer-token settings (the verifier's options as plain data; the bootstrap builds the verifier):
 * - `AUTH` (`on` | `off`, default on; off is for local experiments only);
 * - `TRIBUTARY_JWT_ISSUER` or `OIDC_ISSUER`: expected `iss` (required when auth is on);
 * - `TRIBUTARY_JWT_AUDIENCE` or `OIDC_AUDIENCE`: expected `aud`, default `tributary`;
 * - `TRIBUTARY_JWKS_URL` or `OIDC_JWKS_URI`: default `{issuer}/.well-known/jwks.json`;
 * - `TRIBUTARY_JWT_ALGORITHMS`: comma-separated allow-list (asymmetric only), default RS256,RS384,ES256,ES384,PS256;
 * - `TRIBUTARY_SOURCE_CLAIM` or `SOURCE_CLAIM` (default `tributary_source`), `TRIBUTARY_SCOPE_CLAIM` (default `scope`);
 * - `TRIBUTARY_JWT_CLOCK_TOLERANCE_SEC` (default 30);
 * - `TRIBUTARY_JWT_MAX_LIFETIME_SEC`: longest accepted `exp - iat` and age since `iat`, seconds (default 3600).
 */
export interface AuthSettings {
  enabled: boolean;
  issuer?: string;
  audience: string;
  /** JWKS URL as configured (undefined: derived from the issuer). */
  jwksUri?: string;
  sourceClaim: string;
  /** Set only when configured (the verifier's defaults apply otherwise). */
  algorithms?: string[];
  scopeClaim?: string;
  clockToleranceSec?: number;
  /** `TRIBUTARY_JWT_MAX_LIFETIME_SEC`, set only when configured (a positive whole number). */
  maxLifetimeSec?: number;
  /** Was the source claim configured explicitly (`TRIBUTARY_SOURCE_CLAIM`/`SOURCE_CLAIM`)? */
  sourceClaimSet: boolean;
}

/** Token verifier options as data (the shape `createTokenVerifier` takes, without functions). */
export interface VerifierSettings {
  issuer: string;
  audience: string;
  jwks: string;
  algorithms?: string[];
  sourceClaim?: string;
  scopeClaim?: string;
  clockToleranceSec?: number;
  maxLifetimeSec?: number;
}

/**
 * The token verifier's settings from {@link AuthSettings}; throws when no issuer is configured.
 * Only explicitly configured optional settings are included, so the verifier's documented defaults apply.
 */
export function verifierSettings(auth: AuthSettings): VerifierSettings {
  const issuer = auth.issuer;
  if (!issuer) throw new Error('OIDC_ISSUER (or TRIBUTARY_JWT_ISSUER) is not set');
  const cfg: VerifierSettings = {
    issuer,
    audience: auth.audience,
    jwks: auth.jwksUri || `${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`,
  };
  if (auth.algorithms) cfg.algorithms = auth.algorithms;
  if (auth.sourceClaimSet) cfg.sourceClaim = auth.sourceClaim;
  if (auth.scopeClaim) cfg.scopeClaim = auth.scopeClaim;
  if (auth.clockToleranceSec !== undefined) cfg.clockToleranceSec = auth.clockToleranceSec;
  if (auth.maxLifetimeSec !== undefined) cfg.maxLifetimeSec = auth.maxLifetimeSec;
  return cfg;
}

/** Reads the bearer-token settings ({@link AuthSettings}) from an environment. */
export function loadAuthSettings(env: NodeJS.ProcessEnv): AuthSettings {
  const sourceClaim = env.TRIBUTARY_SOURCE_CLAIM || env.SOURCE_CLAIM;
  return {
    enabled: (env.AUTH ?? 'on') !== 'off',
    issuer: env.TRIBUTARY_JWT_ISSUER || env.OIDC_ISSUER || undefined,
    audience: env.TRIBUTARY_JWT_AUDIENCE || env.OIDC_AUDIENCE || 'tributary',
    jwksUri: env.TRIBUTARY_JWKS_URL || env.OIDC_JWKS_URI || undefined,
    sourceClaim: sourceClaim || 'tributary_source',
    sourceClaimSet: Boolean(sourceClaim),
    algorithms: env.TRIBUTARY_JWT_ALGORITHMS
      ? env.TRIBUTARY_JWT_ALGORITHMS.split(',').map((x) => x.trim()).filter(Boolean)
      : undefined,
    scopeClaim: env.TRIBUTARY_SCOPE_CLAIM || undefined,
    clockToleranceSec: env.TRIBUTARY_JWT_CLOCK_TOLERANCE_SEC ? Number(env.TRIBUTARY_JWT_CLOCK_TOLERANCE_SEC) : undefined,
    maxLifetimeSec: positiveSeconds(env, 'TRIBUTARY_JWT_MAX_LIFETIME_SEC'),
  };
}

/** `env[name]` as a positive whole number of seconds, `undefined` when unset; anything else stops the start. */
function positiveSeconds(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(v.trim())) throw new Error(`${name} must be a positive whole number of seconds (got '${v.slice(0, 40)}')`);
  return Number(v.trim());
}

/** The token verifier's settings read from an environment (the authorizer's and the API's). */
export function authConfigFromEnv(env: NodeJS.ProcessEnv = process.env): VerifierSettings {
  return verifierSettings(loadAuthSettings(env));
}

/** `env[name]` if it is one of `allowed` (the first is the default); anything else stops the start. */
function choice<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[]): T {
  const v = env[name];
  if (v === undefined || v === '') return allowed[0]!;
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`${name} must be one of ${allowed.join(', ')} (got '${v.slice(0, 40)}')`);
  return v as T;
}

/** Reads the configuration from an environment (default `process.env`). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const runtime: Runtime = (env.TRIBUTARY_RUNTIME as Runtime) ?? (env.AWS_LAMBDA_FUNCTION_NAME && !env.IS_OFFLINE ? 'aws' : 'local');
  const dataDir = path.resolve(env.DATA_DIR ?? '.data');
  const level = (env.VALIDATION_LEVEL ?? 'strict') as Config['validationLevel'];
  return {
    runtime,
    region: env.AWS_REGION ?? 'eu-west-2',
    dataDir,
    s3Endpoint: env.S3_ENDPOINT || (runtime === 'local' ? 'http://127.0.0.1:4569' : undefined),
    snsEndpoint: env.SNS_ENDPOINT || (runtime === 'local' ? 'http://127.0.0.1:4002' : undefined),
    buckets: {
      lake: env.LAKE_BUCKET ?? 'tributary-lake',
      identity: env.IDENTITY_BUCKET ?? 'tributary-identity',
      triage: env.TRIAGE_BUCKET ?? 'tributary-triage',
      audit: env.AUDIT_BUCKET ?? 'tributary-audit',
      marts: env.MARTS_BUCKET ?? 'tributary-marts',
      import: env.IMPORT_BUCKET ?? 'tributary-import',
    },
    bulkImport: {
      prefix: env.IMPORT_PREFIX ?? 'inputs/',
      chunkLines: intSetting(env, 'IMPORT_CHUNK_LINES', 1000, 1),
      chunkBytes: intSetting(env, 'IMPORT_CHUNK_BYTES', 1024 * 1024, 1024),
      workers: intSetting(env, 'IMPORT_WORKERS', 0, 0),
      workerHeapMb: intSetting(env, 'IMPORT_WORKER_HEAP_MB', 144, 64),
      // each import worker touches most of the index's 4,096 bucket files per chunk: keeping them open saves an open
      // per bucket (about a tenth of the import's time), the workers together within half the process's descriptor limit
      indexOpenFiles: intSetting(env, 'IMPORT_INDEX_OPEN_FILES', Math.min(4096, Math.floor(openFileLimit() / 2 / Math.max(1, intSetting(env, 'IMPORT_WORKERS', 0, 0) || os.availableParallelism()))), 1),
      jobsPrefix: 'import-jobs/',
    },
    kms: {
      lake: env.LAKE_KMS_KEY_ARN,
      identity: env.IDENTITY_KMS_KEY_ARN,
      hmac: env.HMAC_KMS_KEY_ARN,
      triage: env.TRIAGE_KMS_KEY_ARN,
      audit: env.AUDIT_KMS_KEY_ARN,
      marts: env.MARTS_KMS_KEY_ARN,
      import: env.IMPORT_KMS_KEY_ARN || undefined,
    },
    ingestTopicArn: env.INGEST_TOPIC_ARN ?? 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest',
    versionsTable: env.VERSIONS_TABLE ?? 'tributary-versions',
    indexOpenFiles: intSetting(env, 'INDEX_OPEN_FILES', 256, 1),
    jobsTable: env.JOBS_TABLE ?? 'tributary-jobs',
    etlDlqArn: env.ETL_DLQ_ARN || undefined,
    etlMaxReceiveCount: intSetting(env, 'ETL_MAX_RECEIVE_COUNT', 5, 1),
    defaultSource: env.SOURCE_SYSTEM ?? 'local-dev',
    maxBodyBytes: Number(env.MAX_BODY_BYTES ?? 5 * 1024 * 1024),
    validationLevel: ['strict', 'structure-only', 'minimal'].includes(level) ? level : 'strict',
    allowLevelOverride: (env.ALLOW_VALIDATION_LEVEL_OVERRIDE ?? 'true') === 'true',
    validation: {
      exampleUrls: choice(env, 'VALIDATION_EXAMPLE_URLS', ['allow', 'error'] as const),
      htmlInMarkdown: choice(env, 'VALIDATION_HTML_IN_MARKDOWN', ['allow', 'error'] as const),
      contained: choice(env, 'VALIDATION_CONTAINED', ['validate', 'ignore'] as const),
      references: choice(env, 'VALIDATION_REFERENCES', ['none', 'local'] as const),
    },
    auth: loadAuthSettings(env),
    authorizerAudit: env.AUDIT_BUCKET ? 's3' : 'off',
    viewsDir: env.VIEWS_DIR ? path.resolve(env.VIEWS_DIR) : undefined,
    triageSources: (env.TRIAGE_SOURCES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    glueDatabase: env.GLUE_DATABASE ?? 'tributary',
    rulesFile: env.RULES_FILE ? path.resolve(env.RULES_FILE) : undefined,
    policyFile: env.POLICY_FILE ? path.resolve(env.POLICY_FILE) : undefined,
    localEtl: choice(env, 'LOCAL_ETL', ['on', 'deferred'] as const),
    analysis: {
      minThreshold: intSetting(env, 'ANALYSIS_MIN_THRESHOLD', 8, 2),
      minRounding: intSetting(env, 'ANALYSIS_MIN_ROUNDING', 5, 1),
      studyKmsKey: env.STUDY_KMS_KEY_ARN || undefined,
      dir: env.ANALYSES_DIR ? path.resolve(env.ANALYSES_DIR) : undefined,
      workgroupPrefix: env.ANALYSIS_WORKGROUP_PREFIX || undefined,
    },
    instanceId: env.TRIBUTARY_INSTANCE_ID || undefined,
  };
}
