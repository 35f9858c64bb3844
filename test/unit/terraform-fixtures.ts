/**
 * The configurations the test/unit/terraform-*.test.ts files check, loaded once per test file, and what they are
 * checked against: the SSM names serverless.yml needs, the functions, the resources of a bucket, and each bucket and
 * KMS key exactly as its own blocks declared it before they came from maps. (The roles are in terraform-roles.ts.)
 */
import { BOOTSTRAP_DIR, MODULE_DIR, TF_DIR, loadConfig } from './terraform-config';
import type { Json, Obj, TfConfig } from './terraform-config';
import { expandConfig } from './terraform-expand';

// ---------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
export interface TerraformConfigs {
  modSource: TfConfig;
  mod: TfConfig;
  root: TfConfig;
  bootstrap: TfConfig;
}

let loading: Promise<TerraformConfigs> | undefined;

/**
 * The module (as written and expanded), the root and the bootstrap, loaded once per test file: Jest gives each test
 * file a module registry of its own, so no file sees another's copy. A test that changes one works on a clone().
 */
export function loadTerraform(): Promise<TerraformConfigs> {
  loading ??= (async () => {
    const modSource = await loadConfig(MODULE_DIR);
    const mod = await expandConfig(modSource);
    const root = await loadConfig(TF_DIR);
    const bootstrap = await loadConfig(BOOTSTRAP_DIR);
    return { modSource, mod, root, bootstrap };
  })();
  return loading;
}

// ---------------------------------------------------------------------------------------------------------
// Expectations
// ---------------------------------------------------------------------------------------------------------

export const REQUIRED_SSM = [
  'lake_bucket',
  'marts_bucket',
  'identity_bucket',
  'triage_bucket',
  'audit_bucket',
  'lake_kms_key_arn',
  'identity_kms_key_arn',
  'audit_kms_key_arn',
  'triage_kms_key_arn',
  'hmac_kms_key_arn',
  'glue_database',
  'ingest_topic_arn',
  'etl_queue_arn',
  'etl_dlq_arn',
  'versions_table',
  'ingest_role_arn',
  'etl_role_arn',
  'metadata_role_arn',
  'validate_role_arn',
  'not_allowed_role_arn',
  'authorizer_role_arn',
  'triage_role_arn',
  'reidentify_role_arn',
  'analysis_role_arn',
  'study_kms_key_arn',
  'oidc_issuer',
  'oidc_audience',
  'api_endpoint_type',
  'import_bucket',
  'import_kms_key_arn',
  'import_plan_role_arn',
  'import_chunk_role_arn',
  'import_finish_role_arn',
  'import_state_machine_arn',
];

/** local.functions of the module: every Lambda function (serverless.yml's keys), one role and log group each. */
export const FUNCTIONS = ['ingest', 'metadata', 'validate', 'notAllowed', 'authorizer', 'etl', 'triage', 'reidentify', 'analysis', 'recovery', 'ops', 'importPlan', 'importChunk', 'importFinish'];
/** The functions whose role may only write their logs and append to the audit trail. */
export const AUDIT_ONLY_FUNCTIONS = ['metadata', 'validate', 'notAllowed', 'authorizer'];

/** The resources of each bucket (s3.tf): one for_each over local.buckets each (Object Lock: the locked buckets only). */
export const BUCKET_TYPES = [
  'aws_s3_bucket',
  'aws_s3_bucket_ownership_controls',
  'aws_s3_bucket_public_access_block',
  'aws_s3_bucket_versioning',
  'aws_s3_bucket_server_side_encryption_configuration',
  'aws_s3_bucket_policy',
  'aws_s3_bucket_lifecycle_configuration',
  'aws_s3_bucket_object_lock_configuration',
];

interface BucketExpectation {
  /** The bucket name in dev (<prefix>-<name>-<account>-<region>): changing it replaces the bucket. */
  name: string;
  forceDestroy: Json;
  /** Object Lock default retention (COMPLIANCE), for a bucket created with Object Lock (which forces a new bucket too). */
  objectLockDays?: string;
  /** S3 Bucket Key on the SSE-KMS default encryption. */
  bucketKey: boolean;
  /** The lifecycle rules, in order, as the configuration renders them. */
  lifecycle: Obj[];
  /** The statements the bucket policy adds after the TLS-only pair. */
  extraPolicy: Obj[];
}

/** Denies of everything to everyone on the bucket and its objects without TLS, or with TLS older than 1.2. */
export const tlsOnly = (arn: string): Obj[] =>
  [
    ['DenyInsecureTransport', 'Bool', 'aws:SecureTransport', 'false'],
    ['DenyOldTls', 'NumericLessThan', 's3:TlsVersion', '1.2'],
  ].map(([sid, test, variable, value]) => ({
    sid,
    effect: 'Deny',
    actions: ['s3:*'],
    resources: [arn, `${arn}/*`],
    principals: [{ type: '*', identifiers: ['*'] }],
    condition: [{ test, variable, values: [value] }],
  }));

/**
 * Each bucket exactly as its own blocks declared it before the buckets came from local.buckets: the per-bucket
 * test checks every resource of the bucket against this, attribute by attribute.
 */
export const BUCKETS: Record<string, BucketExpectation> = {
  lake: {
    name: 'tributary-dev-raw-lake-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'intelligent-tiering',
        status: 'Enabled',
        filter: [{}],
        transition: [{ days: '${var.lake_intelligent_tiering_days}', storage_class: 'INTELLIGENT_TIERING' }],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        expiration: [{ expired_object_delete_marker: true }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }],
      },
    ],
    extraPolicy: [],
  },
  marts: {
    name: 'tributary-dev-marts-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'athena-results',
        status: 'Enabled',
        filter: [{ prefix: 'athena-results/' }],
        expiration: [{ days: '${var.athena_results_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 1 }],
      },
      {
        id: 'noncurrent-versions',
        status: 'Enabled',
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }],
      },
    ],
    extraPolicy: [],
  },
  identity: {
    name: 'tributary-dev-identity-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: false,
    lifecycle: [
      {
        id: 'superseded-identity-records',
        status: 'Enabled',
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [
      {
        sid: 'DenyReadsToAllButReidentify',
        effect: 'Deny',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: ['${aws_s3_bucket.this["identity"].arn}/*'],
        principals: [{ type: '*', identifiers: ['*'] }],
        condition: [{ test: 'StringNotEquals', variable: 'aws:PrincipalArn', values: ['${aws_iam_role.function["reidentify"].arn}'] }],
      },
      {
        sid: 'DenyOtherKmsKeys',
        effect: 'Deny',
        actions: ['s3:PutObject'],
        resources: ['${aws_s3_bucket.this["identity"].arn}/*'],
        principals: [{ type: '*', identifiers: ['*'] }],
        condition: [{ test: 'StringNotEqualsIfExists', variable: 's3:x-amz-server-side-encryption-aws-kms-key-id', values: ['${aws_kms_key.this["identity"].arn}'] }],
      },
    ],
  },
  triage: {
    name: 'tributary-dev-triage-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'expire-triage',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ days: '${var.triage_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 7 }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
  // new with the AWS bulk import path (import.tf): inputs and job state, everything expiring
  import: {
    name: 'tributary-dev-import-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'expire-imports',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ days: '${var.import_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 1 }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
  audit: {
    name: 'tributary-dev-audit-111111111111-eu-west-2',
    forceDestroy: false,
    objectLockDays: '${var.audit_retention_days}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'archive-audit',
        status: 'Enabled',
        filter: [{}],
        transition: [{ days: 90, storage_class: 'GLACIER_IR' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
};

/**
 * Each KMS key of local.kms_keys (kms.tf): description after the prefix, key spec, policy document. The symmetric
 * ones as their own blocks declared them (the spec and usage now stated are the defaults they had); the study key
 * of the safe-analysis path (analysis.tf) is new, an HMAC key.
 */
export const KEYS: Record<string, { description: string; spec: 'SYMMETRIC_DEFAULT' | 'HMAC_256'; policy: string }> = {
  lake: { description: 'raw lake (pseudonymised FHIR)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  marts: { description: 'marts and Athena results', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  triage: { description: 'triage (quarantined submissions)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  audit: { description: 'audit trail', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  versions: { description: 'FHIR version index table', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  identity: { description: 'identity store (re-identification data)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_identity' },
  logs: { description: 'CloudWatch Logs', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_logs' },
  messaging: { description: 'SNS topic and SQS queues', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_messaging' },
  import: { description: 'bulk import bucket (inputs, job state, error outputs)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  study: { description: 'study pseudonym HMAC key (per-study pseudonyms of row-level extracts)', spec: 'HMAC_256', policy: 'kms_study' },
};
