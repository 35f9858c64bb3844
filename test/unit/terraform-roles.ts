/**
 * Each function's role exactly as its own blocks declared it before the roles came from local.function_roles
 * (test/unit/terraform-iam.test.ts compares every statement of every policy attached to a role with it), and the
 * policies attached to a role, each statement on one line.
 */
import type { TfConfig } from './terraform-config';
import { anyRefersTo, policyStatements } from './terraform-policies';
import type { Statement } from './terraform-policies';

/** A role policy statement on one line: `Sid: actions on resources [if test variable values]`. */
export function statementLine(s: Statement): string {
  let line = `${s.effect === 'Allow' ? '' : `${s.effect} `}${s.sid}: ${s.actions.join(', ')} on ${s.resources.join(', ')}`;
  if (s.notActions.length > 0 || s.notResources.length > 0 || s.principals.length > 0) line += ' (with NotAction/NotResource/Principal)';
  for (const c of s.conditions) line += ` if ${c.test} ${c.variable} ${c.values.join(', ')}`;
  return line;
}

const logsStatement = (fn: string): string => `Logs: logs:CreateLogStream, logs:PutLogEvents on \${aws_cloudwatch_log_group.function["${fn}"].arn}:*`;
const AUDIT_APPEND = [
  'AuditAppend: s3:PutObject, s3:GetObject on ${aws_s3_bucket.this["audit"].arn}/*',
  'AuditList: s3:ListBucket on ${aws_s3_bucket.this["audit"].arn}',
  'AuditKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["audit"].arn}',
];
const RAW_LAKE_WRITE = [
  'RawLakeObjects: s3:PutObject, s3:GetObject, s3:DeleteObject on ${aws_s3_bucket.this["lake"].arn}/*',
  'RawLakeList: s3:ListBucket on ${aws_s3_bucket.this["lake"].arn}',
  'RawLakeKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["lake"].arn}',
];
export const LANDING = [
  'IdentityStoreWriteOnly: s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["identity"].arn}/*',
  'IdentityKeyEncryptOnly: kms:GenerateDataKey, kms:Encrypt on ${aws_kms_key.this["identity"].arn}',
  'Pseudonyms: kms:GenerateMac on ${[for key in aws_kms_key.hmac : key.arn]}',
  'VersionIndex: dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem on ${aws_dynamodb_table.versions.arn}',
  'VersionIndexRecovery: dynamodb:Query on ${aws_dynamodb_table.versions.arn}/index/pending',
  'VersionIndexKey: kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey on ${aws_kms_key.this["versions"].arn} if StringEquals kms:ViaService dynamodb.${local.region}.amazonaws.com',
  'PublishEvents: sns:Publish on ${aws_sns_topic.ingest.arn}',
  'EventsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["messaging"].arn}',
];
const TRIAGE_WRITE = [
  'TriageWrite: s3:PutObject on ${aws_s3_bucket.this["triage"].arn}/*',
  'TriageKeyEncrypt: kms:GenerateDataKey on ${aws_kms_key.this["triage"].arn}',
];
/** The import bucket (import.tf): a job's inputs (read), its state (read and write, the import key), listing. */
const IMPORT_INPUTS_READ = ['ImportInputsRead: s3:GetObject on ${aws_s3_bucket.this["import"].arn}/inputs/*'];
const IMPORT_JOB_STATE = [
  'ImportJobState: s3:GetObject, s3:PutObject on ${aws_s3_bucket.this["import"].arn}/import-jobs/*',
  'ImportKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["import"].arn}',
];
const IMPORT_LIST = ['ImportList: s3:ListBucket on ${aws_s3_bucket.this["import"].arn}'];
const GLUE = 'arn:${local.partition}:glue:${local.region}:${local.account_id}';

interface RoleExpectation {
  /** The role is <prefix>-<name> (changing it replaces the role); its own policy is called <name>. */
  name: string;
  description: string;
  /** The trust policy document. */
  assume: string;
  /** Every policy attached to the role, by policy name: its statements, in order. */
  policies: Record<string, string[]>;
}

/**
 * Each function's role exactly as its own blocks declared it before the roles came from local.function_roles:
 * the per-role test compares every statement of every policy attached to the role with this, so a role can gain
 * nothing (an action, a resource, a statement, a policy) and lose nothing without failing it.
 */
export const ROLES: Record<string, RoleExpectation> = {
  // the commit protocol's scheduled recovery (docs/commit-protocol.md): writes like ingest, cannot read identities
  recovery: {
    name: 'recovery',
    description: 'Tributary commit recovery: completes or rolls back in-flight writes (docs/commit-protocol.md). Cannot read the identity store.',
    assume: 'lambda_assume',
    policies: { recovery: [logsStatement('recovery'), ...RAW_LAKE_WRITE, ...LANDING, ...AUDIT_APPEND] },
  },
  ingest: {
    name: 'ingest',
    description: 'Tributary ingest: validates, pseudonymises and lands FHIR.',
    assume: 'lambda_assume',
    policies: {
      // and, for $import's kick-off and status (import.tf), the import bucket: inputs exist, the job's state
      ingest: [logsStatement('ingest'), ...RAW_LAKE_WRITE, ...TRIAGE_WRITE, ...LANDING, ...AUDIT_APPEND, ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...IMPORT_LIST],
    },
  },
  triage: {
    name: 'triage',
    description: 'Tributary triage recheck: re-ingests held submissions.',
    assume: 'lambda_assume',
    policies: {
      triage: [
        logsStatement('triage'),
        'TriageObjects: s3:GetObject, s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["triage"].arn}/*',
        'TriageList: s3:ListBucket on ${aws_s3_bucket.this["triage"].arn}',
        'TriageKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["triage"].arn}',
        ...RAW_LAKE_WRITE,
        ...LANDING,
        ...AUDIT_APPEND,
      ],
    },
  },
  etl: {
    name: 'etl',
    description: 'Tributary ETL: raw lake to marts. No identity store access.',
    assume: 'lambda_assume',
    policies: {
      etl: [
        logsStatement('etl'),
        'ConsumeQueue: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes on ${aws_sqs_queue.etl.arn}',
        'QueueKey: kms:Decrypt on ${aws_kms_key.this["messaging"].arn}',
        'RawLakeRead: s3:GetObject on ${aws_s3_bucket.this["lake"].arn}/*',
        'RawLakeList: s3:ListBucket on ${aws_s3_bucket.this["lake"].arn}',
        'RawLakeKeyDecrypt: kms:Decrypt on ${aws_kms_key.this["lake"].arn}',
        'MartsObjects: s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload, s3:ListMultipartUploadParts on ${aws_s3_bucket.this["marts"].arn}/*',
        'MartsList: s3:ListBucket, s3:ListBucketMultipartUploads on ${aws_s3_bucket.this["marts"].arn}',
        'MartsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["marts"].arn}',
        `GlueCatalog: glue:GetDatabase, glue:GetTable, glue:GetTables, glue:CreateTable, glue:UpdateTable, glue:GetPartition, glue:GetPartitions, glue:BatchGetPartition, glue:CreatePartition, glue:BatchCreatePartition, glue:UpdatePartition on ${GLUE}:catalog, ${GLUE}:database/\${aws_glue_catalog_database.lake.name}, ${GLUE}:table/\${aws_glue_catalog_database.lake.name}/*`,
        'JobRecordsWrite: dynamodb:GetItem, dynamodb:PutItem on ${aws_dynamodb_table.jobs.arn}',
      ],
    },
  },
  ops: {
    name: 'ops',
    description: 'Tributary ops API (/ops/*): job records, audit verify, triage recheck, ETL retry.',
    assume: 'lambda_assume',
    // the console's API (issue 16): reads job records and the DLQ depth, rechecks triage items (re-ingests like the
    // triage role), re-publishes a failed job's event, and audits every request
    policies: {
      ops: [
        logsStatement('ops'),
        'JobRecordsRead: dynamodb:GetItem, dynamodb:Scan on ${aws_dynamodb_table.jobs.arn}',
        'DeadLetterDepth: sqs:GetQueueAttributes on ${aws_sqs_queue.etl_dlq.arn}',
        'TriageObjects: s3:GetObject, s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["triage"].arn}/*',
        'TriageList: s3:ListBucket on ${aws_s3_bucket.this["triage"].arn}',
        'TriageKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["triage"].arn}',
        ...RAW_LAKE_WRITE,
        ...LANDING,
        ...AUDIT_APPEND,
      ],
    },
  },
  metadata: {
    name: 'metadata',
    description: 'Tributary CapabilityStatement: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { metadata: [logsStatement('metadata')], 'audit-append': AUDIT_APPEND },
  },
  validate: {
    name: 'validate',
    description: 'Tributary $validate (nothing stored): its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { validate: [logsStatement('validate')], 'audit-append': AUDIT_APPEND },
  },
  notAllowed: {
    name: 'not-allowed',
    description: 'Tributary refusals of unsupported methods and paths: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { 'not-allowed': [logsStatement('notAllowed')], 'audit-append': AUDIT_APPEND },
  },
  authorizer: {
    name: 'authorizer',
    description: 'Tributary JWT authorizer: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { authorizer: [logsStatement('authorizer')], 'audit-append': AUDIT_APPEND },
  },
  analysis: {
    name: 'analysis',
    description: 'Tributary safe analysis (POST /ops/analyses/{id}/run): approved analyses through the study workgroups.',
    assume: 'lambda_assume',
    // New with the safe-analysis path (no former blocks); the tables and folders the for expressions range over are
    // evaluated for the default studies, and checked against the registry, in test/unit/analysis-terraform.test.ts.
    policies: {
      analysis: [
        logsStatement('analysis'),
        'StudyWorkgroups: athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults, athena:StopQueryExecution, athena:GetWorkGroup on ${[for w in aws_athena_workgroup.study : w.arn]}',
        `MartsDatabase: glue:GetDatabase on ${GLUE}:catalog, ${GLUE}:database/\${aws_glue_catalog_database.lake.name}`,
        `ApprovedMartsCatalog: glue:GetTable, glue:GetPartition, glue:GetPartitions, glue:BatchGetPartition on \${[for t in local.analysis_glue_tables : "${GLUE}:table/\${aws_glue_catalog_database.lake.name}/\${t}"]}`,
        'ApprovedMartsRead: s3:GetObject on ${[for f in local.analysis_mart_folders : "${aws_s3_bucket.this["marts"].arn}/marts/${f}/*"]}',
        'ApprovedMartsList: s3:ListBucket on ${aws_s3_bucket.this["marts"].arn} if StringLike s3:prefix ${concat([for f in local.analysis_mart_folders : "marts/${f}/*"], ["analysis-results/*"])}',
        'StudyResultsBucket: s3:GetBucketLocation on ${aws_s3_bucket.this["marts"].arn}',
        'StudyResults: s3:GetObject, s3:PutObject, s3:AbortMultipartUpload, s3:ListMultipartUploadParts on ${aws_s3_bucket.this["marts"].arn}/analysis-results/*',
        'Releases: s3:PutObject on ${aws_s3_bucket.this["marts"].arn}/releases/*',
        'MartsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["marts"].arn}',
        'StudyKey: kms:GenerateMac on ${aws_kms_key.this["study"].arn}',
        ...AUDIT_APPEND,
      ],
    },
  },
  // the steps of the bulk import state machine (import.tf), new with the AWS import path (no former blocks)
  importPlan: {
    name: 'import-plan',
    description: "Tributary bulk import plan step: reads a job's inputs and writes its chunk plan (import bucket only).",
    assume: 'lambda_assume',
    policies: { 'import-plan': [logsStatement('importPlan'), ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...IMPORT_LIST] },
  },
  importChunk: {
    name: 'import-chunk',
    description: 'Tributary bulk import chunk step: imports one chunk of an input through the ingest write path.',
    assume: 'lambda_assume',
    // its input's byte range and the job's state, then exactly ingest's write path (no listing of the import bucket)
    policies: { 'import-chunk': [logsStatement('importChunk'), ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...RAW_LAKE_WRITE, ...TRIAGE_WRITE, ...LANDING, ...AUDIT_APPEND] },
  },
  importFinish: {
    name: 'import-finish',
    description: "Tributary bulk import finish step: a job's error output, final state and audit record.",
    assume: 'lambda_assume',
    policies: { 'import-finish': [logsStatement('importFinish'), ...IMPORT_JOB_STATE, ...IMPORT_LIST, ...AUDIT_APPEND] },
  },
  reidentify: {
    name: 'reidentify',
    description: 'Tributary re-identification: the only principal that can decrypt the identity store.',
    assume: 'reidentify_assume',
    policies: {
      reidentify: [
        logsStatement('reidentify'),
        'IdentityStoreRead: s3:GetObject on ${aws_s3_bucket.this["identity"].arn}/*',
        'IdentityStoreList: s3:ListBucket on ${aws_s3_bucket.this["identity"].arn}',
        'IdentityKeyDecrypt: kms:Decrypt on ${aws_kms_key.this["identity"].arn}',
        ...AUDIT_APPEND,
      ],
    },
  },
};

/** The policies attached to a role, by policy name: each statement on one line (see statementLine). */
export async function rolePolicies(cfg: TfConfig, role: string): Promise<{ policies: Record<string, string[]>; findings: string[] }> {
  const policies: Record<string, string[]> = {};
  const findings: string[] = [];
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy ?? {})) {
    if (!anyRefersTo(body.role, `aws_iam_role.${role}`)) continue;
    const r = await policyStatements(cfg, body.policy, `aws_iam_role_policy.${name}`);
    findings.push(...r.findings);
    if (String(body.name) in policies) findings.push(`aws_iam_role.${role}: two policies named ${String(body.name)}`);
    policies[String(body.name)] = r.statements.map(statementLine);
  }
  for (const type of ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment']) {
    for (const [name, body] of Object.entries(cfg.resource[type] ?? {})) {
      if (anyRefersTo(body.role ?? body.roles, `aws_iam_role.${role}`)) findings.push(`${type}.${name}: attaches a managed policy to aws_iam_role.${role}`);
    }
  }
  return { policies, findings };
}
