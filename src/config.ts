/**
 * Typed configuration, read ONCE from the environment at cold start. The only module besides the handlers'
 * entry points and scripts that reads `process.env`.
 */
import path from 'node:path';

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
  buckets: { lake: string; identity: string; triage: string; audit: string; marts: string };
  kms: { lake?: string; identity?: string; hmac?: string; triage?: string; audit?: string; marts?: string };
  ingestTopicArn: string;
  versionsTable: string;
  /** Source system recorded when authentication is off (local development only). */
  defaultSource: string;
  /** Largest accepted request body, bytes. */
  maxBodyBytes: number;
  validationLevel: 'strict' | 'structure-only' | 'minimal';
  /** Allow clients to lower the validation level with the `X-Validation-Level` header. */
  allowLevelOverride: boolean;
  /** Validator options a deployment may choose ({@link ValidationOptionsConfig}); the defaults are the FHIR rules. */
  validation: ValidationOptionsConfig;
  auth: { enabled: boolean; issuer?: string; audience: string; jwksUri?: string; sourceClaim: string };
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
}

/**
 * Safe-analysis settings (docs/safe-analysis.md):
 * - `minThreshold` (`ANALYSIS_MIN_THRESHOLD`, default 8): the deployment's smallest disclosure threshold; counts
 *   from 1 to threshold − 1 are redacted, and no study may set a lower threshold;
 * - `minRounding` (`ANALYSIS_MIN_ROUNDING`, default 5): the smallest rounding base a study may set;
 * - `studyKmsKey` (`STUDY_KMS_KEY_ARN`): the HMAC_256 KMS key behind per-study pseudonyms (AWS; locally a key
 *   file under DATA_DIR/keys);
 * - `dir` (`ANALYSES_DIR`): the analysis registry folder (default `analyses/` of the project).
 */
export interface AnalysisConfig {
  minThreshold: number;
  minRounding: number;
  studyKmsKey?: string;
  dir?: string;
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
 * Validator options a deployment may choose, each the counterpart of a setting of the HL7 reference validator:
 * - `exampleUrls` (`VALIDATION_EXAMPLE_URLS`): `allow` (default) or `error` for example.org/example.com/acme.com
 *   URLs in uri/url/canonical values (`-allow-example-urls false`; the test manifest's `examples: false`);
 * - `htmlInMarkdown` (`VALIDATION_HTML_IN_MARKDOWN`): `allow` (default) or `error` for HTML tags in markdown
 *   (`HtmlInMarkdownCheck.ERROR`; the manifest's `noHtmlInMarkdown`);
 * - `contained` (`VALIDATION_CONTAINED`): `validate` (default) or `ignore` (contained resources only need a known
 *   resourceType; the manifest's `validateContains: IGNORE`);
 * - `references` (`VALIDATION_REFERENCES`): `none` (default) or `local` (relative references inside a Parameters
 *   resource must resolve to a resource in it; the manifest's `validateReference: CHECK_EXISTS`).
 */
export interface ValidationOptionsConfig {
  exampleUrls: 'allow' | 'error';
  htmlInMarkdown: 'allow' | 'error';
  contained: 'validate' | 'ignore';
  references: 'none' | 'local';
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
    },
    kms: {
      lake: env.LAKE_KMS_KEY_ARN,
      identity: env.IDENTITY_KMS_KEY_ARN,
      hmac: env.HMAC_KMS_KEY_ARN,
      triage: env.TRIAGE_KMS_KEY_ARN,
      audit: env.AUDIT_KMS_KEY_ARN,
      marts: env.MARTS_KMS_KEY_ARN,
    },
    ingestTopicArn: env.INGEST_TOPIC_ARN ?? 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest',
    versionsTable: env.VERSIONS_TABLE ?? 'tributary-versions',
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
    auth: {
      enabled: (env.AUTH ?? 'on') !== 'off',
      issuer: env.OIDC_ISSUER,
      audience: env.OIDC_AUDIENCE ?? 'tributary',
      jwksUri: env.OIDC_JWKS_URI,
      sourceClaim: env.SOURCE_CLAIM ?? 'tributary_source',
    },
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
    },
  };
}
