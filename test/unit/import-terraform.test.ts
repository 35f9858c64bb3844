/**
 * Static checks of the AWS bulk-import wiring (issue #15; docs/import.md): terraform/modules/tributary/import.tf
 * with the module's maps (local.buckets, local.kms_keys, local.function_roles), serverless.yml and config/aws.yml,
 * against what the code does (src/handlers/import-steps.ts, src/adapters/aws/s3-import-launcher.ts) and the state
 * machine definition (config/import-state-machine.asl.json). Parsed with @cdktf/hcl2json and `yaml`; nothing is
 * deployed. Each checker returns findings and is also run on a broken copy, so each test can fail.
 * (The per-instance expansion of the import bucket, its key and the three function roles, statement by statement,
 * is checked in test/unit/terraform-buckets.test.ts, terraform-kms.test.ts and terraform-iam.test.ts, against
 * BUCKETS and KEYS in terraform-fixtures.ts and ROLES in terraform-roles.ts.)
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parse } from '@cdktf/hcl2json';

type Json = any; // parsed HCL / YAML
type Obj = Record<string, Json>;

const ROOT = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(ROOT, 'terraform', 'modules', 'tributary');
const ASL_FILE = path.join(ROOT, 'config', 'import-state-machine.asl.json');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const first = (v: Json): Obj => (Array.isArray(v) ? v[0] : v);

interface Tf {
  locals: Obj;
  resource: Record<string, Record<string, Obj>>;
  data: Record<string, Record<string, Obj>>;
  output: Record<string, Obj>;
}

async function loadDir(dir: string): Promise<Tf> {
  const tf: Tf = { locals: {}, resource: {}, data: {}, output: {} };
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.tf'))) {
    const j = (await parse(f, fs.readFileSync(path.join(dir, f), 'utf8'))) as Obj;
    for (const l of (j.locals ?? []) as Obj[]) Object.assign(tf.locals, l);
    for (const kind of ['resource', 'data'] as const) {
      for (const [type, byName] of Object.entries<Json>(j[kind] ?? {})) {
        tf[kind][type] ??= {};
        for (const [name, body] of Object.entries<Json>(byName)) tf[kind][type][name] = first(body);
      }
    }
    for (const [name, body] of Object.entries<Json>(j.output ?? {})) tf.output[name] = first(body);
  }
  return tf;
}

/** `${jsonencode({...})}` → the HCL object as JSON. */
async function jsonencoded(v: string): Promise<Json> {
  const m = /^\$\{jsonencode\(([\s\S]*)\)\}$/.exec(v.trim());
  if (!m) throw new Error(`not a jsonencode(): ${v.slice(0, 60)}`);
  return ((await parse('expr.tf', `value = ${m[1]}\n`)) as Obj).value;
}

/** A statement on one line: `Sid: actions on resources [if test variable values]`. */
const line = (s: Obj): string =>
  `${s.sid}: ${(s.actions as string[]).join(', ')} on ${(s.resources as string[]).join(', ')}` +
  ((s.conditions ?? []) as Obj[]).map((c) => ` if ${c.test} ${c.variable} ${(c.values as string[]).join(', ')}`).join('');

const ACCOUNT = 'arn:${local.partition}:%s:${local.region}:${local.account_id}';
const arn = (service: string, rest: string): string => `${ACCOUNT.replace('%s', service)}:${rest}`;
const fnArn = (fn: string): string => arn('lambda', `function:\${local.prefix}-${fn}`);
const SM = arn('states', 'stateMachine:${local.prefix}-import');
const BUCKET = '${aws_s3_bucket.this["import"].arn}';
const KEY = '${aws_kms_key.this["import"].arn}';
/** The steps serverless.yml deploys and the state machine invokes: function key → export of import-steps.ts. */
const STEPS: Record<string, string> = { importPlan: 'plan', importChunk: 'chunk', importFinish: 'finish' };

/**
 * Exactly what the state machine's role may do: invoke the three steps; start its own child executions and
 * describe or stop them (Distributed Map); read the chunk plans (the ItemReader) and decrypt them through S3; the
 * log delivery actions, the only statement on "*": CloudWatch Logs authorises them on "*" only.
 */
const STATE_MACHINE_ROLE = [
  `InvokeImportSteps: lambda:InvokeFunction on ${Object.keys(STEPS).map(fnArn).join(', ')}`,
  `StartChildExecutions: states:StartExecution on ${SM}`,
  `ChildExecutions: states:DescribeExecution, states:StopExecution on ${arn('states', 'execution:${local.prefix}-import/*')}, ${arn('states', 'execution:${local.prefix}-import:*')}`,
  `ReadChunkPlans: s3:GetObject on ${BUCKET}/import-jobs/*/plan-*.json`,
  `ChunkPlansKey: kms:Decrypt on ${KEY} if StringEquals kms:ViaService s3.\${local.region}.amazonaws.com`,
  'LogDelivery: logs:CreateLogDelivery, logs:GetLogDelivery, logs:UpdateLogDelivery, logs:DeleteLogDelivery, logs:ListLogDeliveries, logs:PutResourcePolicy, logs:DescribeResourcePolicies, logs:DescribeLogGroups on *',
];
const LOG_DELIVERY = /^logs:(Create|Get|Update|Delete|List)LogDeliver(y|ies)$|^logs:(PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)$/;

// ---------------------------------------------------------------------------------------------------------
// Checkers
// ---------------------------------------------------------------------------------------------------------

/** The import bucket is an entry of local.buckets, so every per-bucket resource applies to it: SSE-KMS under a key of its own, TLS only, public access blocked. */
function bucketFindings(tf: Tf): string[] {
  const f: string[] = [];
  const bucket = tf.locals.buckets?.import;
  if (!bucket) return ['local.buckets has no import entry'];
  if (bucket.name !== 'import') f.push(`import bucket named ${String(bucket.name)}`);
  if (bucket.bucket_key_enabled !== true) f.push('import bucket: no S3 Bucket Key');
  const rules = (bucket.lifecycle_rules ?? []) as Obj[];
  if (!rules.some((r) => ((r.expiration ?? []) as Obj[]).some((e) => e.days === '${var.import_expiration_days}'))) f.push('import bucket: objects do not expire after var.import_expiration_days');
  const key = tf.locals.kms_keys?.import;
  if (!key || key.spec !== 'SYMMETRIC_DEFAULT') f.push('local.kms_keys has no symmetric import key');
  const sse = tf.resource.aws_s3_bucket_server_side_encryption_configuration?.this;
  const def = first(first(sse?.rule)?.apply_server_side_encryption_by_default);
  if (sse?.for_each !== '${local.buckets}' || def?.sse_algorithm !== 'aws:kms' || def?.kms_master_key_id !== '${aws_kms_key.this[each.key].arn}') {
    f.push('the buckets are not SSE-KMS under aws_kms_key.this[each.key]');
  }
  const pab = tf.resource.aws_s3_bucket_public_access_block?.this;
  if (pab?.for_each !== '${local.buckets}' || !['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets'].every((k) => pab[k] === true)) {
    f.push('the buckets do not all block public access');
  }
  const doc = tf.data.aws_iam_policy_document?.bucket;
  const policy = tf.resource.aws_s3_bucket_policy?.this;
  const all = ['${aws_s3_bucket.this[each.key].arn}', '${aws_s3_bucket.this[each.key].arn}/*'];
  const tls = ((doc?.statement ?? []) as Obj[]).find(
    (s) =>
      s.effect === 'Deny' &&
      JSON.stringify(s.actions) === '["s3:*"]' &&
      JSON.stringify(s.resources) === JSON.stringify(all) &&
      JSON.stringify(s.condition) === JSON.stringify([{ test: 'Bool', values: ['false'], variable: 'aws:SecureTransport' }]),
  );
  if (doc?.for_each !== '${local.buckets}' || policy?.for_each !== '${local.buckets}' || !tls) f.push('the buckets have no TLS-only policy');
  return f;
}

/** The state machine's role: exactly STATE_MACHINE_ROLE, only the log delivery on "*", trusted by Step Functions of this account only. */
function stateMachineRoleFindings(tf: Tf): string[] {
  const f: string[] = [];
  const got = ((tf.locals.import_service_statements?.state_machine ?? []) as Obj[]).map(line);
  for (const s of got.filter((x) => !STATE_MACHINE_ROLE.includes(x))) f.push(`state machine role grants ${s}`);
  for (const s of STATE_MACHINE_ROLE.filter((x) => !got.includes(x))) f.push(`state machine role lacks ${s}`);
  for (const s of (tf.locals.import_service_statements?.state_machine ?? []) as Obj[]) {
    if ((s.resources as string[]).includes('*') && !(s.actions as string[]).every((a) => LOG_DELIVERY.test(a))) f.push(`${String(s.sid)}: Resource "*" beyond the log delivery actions`);
  }
  const dyn = first(tf.data.aws_iam_policy_document?.import?.dynamic?.statement);
  if (tf.data.aws_iam_policy_document?.import?.for_each !== '${local.import_service_roles}' || dyn?.for_each !== '${local.import_service_statements[each.key]}') {
    f.push('data.aws_iam_policy_document.import does not apply local.import_service_statements');
  }
  const policy = tf.resource.aws_iam_role_policy?.import;
  if (policy?.role !== '${aws_iam_role.import[each.key].id}' || policy?.policy !== '${data.aws_iam_policy_document.import[each.key].json}') f.push('aws_iam_role_policy.import does not attach it');
  const role = tf.locals.import_service_roles?.state_machine;
  const trust = first(tf.data.aws_iam_policy_document?.import_assume?.statement);
  if (role?.service !== 'states.amazonaws.com' || !/^arn:.*:states:.*:\$\{local\.account_id\}:stateMachine:/.test(String(role?.source_arn))) f.push('the role is not for Step Functions of this account');
  if (!((trust?.condition ?? []) as Obj[]).some((c) => c.variable === 'aws:SourceAccount' && c.values?.[0] === '${local.account_id}')) f.push('the trust has no aws:SourceAccount condition');
  const sm = tf.resource.aws_sfn_state_machine?.import;
  if (sm?.role_arn !== '${aws_iam_role.import["state_machine"].arn}') f.push('the state machine does not run as aws_iam_role.import["state_machine"]');
  if (sm?.name !== '${local.prefix}-import') f.push(`the state machine is named ${String(sm?.name)}, not the name its role's ARNs use`);
  return f;
}

/** Every placeholder of the ASL file is given to templatefile (and nothing else), each the ARN of a step the role may invoke. */
function aslFindings(tf: Tf, asl: string): string[] {
  const f: string[] = [];
  const sm = tf.resource.aws_sfn_state_machine?.import;
  if (sm?.definition !== '${templatefile(local.import_state_machine_file, local.import_state_machine_vars)}') f.push('the definition is not templatefile(file, vars)');
  const file = String(tf.locals.import_state_machine_file).replace('${path.module}', MODULE_DIR);
  if (path.resolve(file) !== ASL_FILE) f.push(`the definition file is ${file}, not ${ASL_FILE}`);
  const vars = (tf.locals.import_state_machine_vars ?? {}) as Record<string, string>;
  const placeholders = [...new Set([...asl.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]!))];
  for (const p of placeholders.filter((x) => !(x in vars))) f.push(`placeholder \${${p}} is not substituted`);
  for (const v of Object.keys(vars).filter((x) => !placeholders.includes(x))) f.push(`${v} is given but not used`);
  if (/%\{/.test(asl)) f.push('the ASL holds a %{ template directive');
  const invokable = ((tf.locals.import_service_statements?.state_machine ?? []) as Obj[]).filter((s) => (s.actions as string[]).includes('lambda:InvokeFunction')).flatMap((s) => s.resources as string[]);
  for (const [p, value] of Object.entries(vars)) {
    if (!Object.keys(STEPS).map(fnArn).includes(value)) f.push(`${p} = ${value}, not one of the import steps`);
    if (!invokable.includes(value)) f.push(`the state machine role may not invoke ${p} (${value})`);
  }
  const out = asl.replace(/\$\{(\w+)\}/g, (all, p: string) => vars[p] ?? all);
  try {
    JSON.parse(out);
  } catch {
    f.push('the substituted definition is not JSON');
  }
  return f;
}

/** What starts an execution: the start marker the launcher writes, as an S3 event through EventBridge, to the state machine only. */
async function triggerFindings(tf: Tf, launcherSource: string, stepsSource: string): Promise<string[]> {
  const f: string[] = [];
  const n = tf.resource.aws_s3_bucket_notification?.import;
  if (n?.bucket !== '${aws_s3_bucket.this["import"].id}' || n?.eventbridge !== true) f.push('the import bucket does not send its events to EventBridge');
  const rule = tf.resource.aws_cloudwatch_event_rule?.import_start;
  const pattern = rule ? await jsonencoded(String(rule.event_pattern)) : {};
  const keyPattern = first(pattern.detail?.object?.key)?.wildcard;
  if (JSON.stringify(pattern.source) !== '["aws.s3"]' || JSON.stringify(pattern['detail-type']) !== '["Object Created"]') f.push('the rule does not match S3 Object Created events');
  if (JSON.stringify(pattern.detail?.bucket?.name) !== JSON.stringify(['${aws_s3_bucket.this["import"].bucket}'])) f.push('the rule does not match the import bucket');
  // the launcher's key (prefix + id + /start, prefix import-jobs/) and the key plan() takes the job id from
  if (keyPattern !== 'import-jobs/*/start') f.push(`the rule matches keys ${String(keyPattern)}, not import-jobs/*/start`);
  if (!/Key: `\$\{this\.prefix\}\$\{jobId\}\/start`/.test(launcherSource) || !/prefix = 'import-jobs\/'/.test(launcherSource)) f.push('the launcher writes another key');
  if (!stepsSource.includes('/^import-jobs\\/([A-Za-z0-9-]{8,64})\\/start$/.exec(e.detail?.object?.key')) f.push('plan() reads the job id from another key');
  const target = tf.resource.aws_cloudwatch_event_target?.import_start;
  if (target?.rule !== '${aws_cloudwatch_event_rule.import_start.name}' || target?.arn !== '${aws_sfn_state_machine.import.arn}' || target?.role_arn !== '${aws_iam_role.import["events"].arn}') {
    f.push('the rule does not start the state machine through the events role');
  }
  const events = ((tf.locals.import_service_statements?.events ?? []) as Obj[]).map(line);
  if (JSON.stringify(events) !== JSON.stringify([`StartImportExecution: states:StartExecution on ${SM}`])) f.push(`the events role grants ${events.join('; ')}`);
  const role = tf.locals.import_service_roles?.events;
  if (role?.service !== 'events.amazonaws.com' || role?.source_arn !== '${aws_cloudwatch_event_rule.import_start.arn}') f.push('the events role is not for the start rule only');
  return f;
}

/** The execution log: errors, never execution data, in the KMS-encrypted service log group; created after the role may deliver it. */
function loggingFindings(tf: Tf): string[] {
  const f: string[] = [];
  const sm = tf.resource.aws_sfn_state_machine?.import;
  const log = first(sm?.logging_configuration);
  if (log?.log_destination !== '${aws_cloudwatch_log_group.service["import_state_machine"].arn}:*') f.push('the state machine does not log to its log group');
  if (log?.include_execution_data !== false) f.push('the execution log includes execution data');
  if (!['ERROR', 'ALL', 'FATAL'].includes(String(log?.level))) f.push(`log level ${String(log?.level)}`);
  if (!/^\/aws\/vendedlogs\/states\//.test(String(tf.locals.service_log_groups?.import_state_machine))) f.push('the log group is not a vended-logs group');
  const lg = tf.resource.aws_cloudwatch_log_group?.service;
  if (lg?.for_each !== '${local.service_log_groups}' || lg?.kms_key_id !== '${aws_kms_key.this["logs"].arn}' || lg?.retention_in_days !== '${var.log_retention_days}') f.push('the service log groups lack the logs key or retention');
  if (!(sm?.depends_on ?? []).includes('${aws_iam_role_policy.import}')) f.push('the state machine does not wait for its role policy');
  return f;
}

const WRITE_PATH = ['${local.raw_lake_write_statements}', '${local.triage_write_statements}', '${local.landing_statements}', '${local.audit_append_statements}'];

/** The three step roles, the API's import grants, and the key and topic policies that must name importChunk. */
function stepRoleFindings(tf: Tf): string[] {
  const f: string[] = [];
  const st = tf.locals.function_statements ?? {};
  for (const fn of Object.keys(STEPS)) {
    if (!tf.locals.function_roles?.[fn]) f.push(`local.function_roles has no ${fn}`);
    if (!String(tf.locals.functions).includes(`"${fn}"`)) f.push(`local.functions has no ${fn} (no log group)`);
  }
  const groups = (fn: string): string[] => (st[fn] ?? []) as string[];
  for (const g of WRITE_PATH) {
    if (groups('ingest').includes(g) && !groups('importChunk').includes(g)) f.push(`importChunk lacks ingest's ${g}`);
  }
  if (!groups('ingest').includes('${local.import_api_statements}')) f.push('ingest cannot start or follow import jobs');
  for (const fn of ['importPlan', 'importFinish']) for (const g of WRITE_PATH.slice(0, 3)) if (groups(fn).includes(g)) f.push(`${fn} has ${g}`);
  for (const name of ['import_inputs_read_statements', 'import_job_state_statements', 'import_list_statements']) {
    for (const s of (tf.locals[name] ?? []) as Obj[]) {
      const beyond = (s.resources as string[]).filter((r) => r !== BUCKET && r !== KEY && !r.startsWith(`${BUCKET}/`));
      if (beyond.length > 0) f.push(`${String(s.sid)}: beyond the import bucket and key: ${beyond.join(', ')}`);
    }
  }
  const chunk = '${aws_iam_role.function["importChunk"].arn}';
  const principals = (doc: string, sid: string): string[] =>
    ((tf.data.aws_iam_policy_document?.[doc]?.statement ?? []) as Obj[]).filter((s) => s.sid === sid).flatMap((s) => ((s.principals ?? []) as Obj[]).flatMap((p) => p.identifiers as string[]));
  if (!principals('kms_identity', 'WritersEncryptOnly').includes(chunk)) f.push('importChunk cannot encrypt identity records (kms_identity)');
  if (!principals('kms_hmac', 'PseudonymiseOnly').includes(chunk)) f.push('importChunk cannot pseudonymise (kms_hmac)');
  if (!principals('ingest_topic', 'PublishersOnly').includes(chunk)) f.push('importChunk is not a publisher of the ingest topic');
  return f;
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

let tf: Tf;
let rootTf: Tf;
const asl = fs.readFileSync(ASL_FILE, 'utf8');
const launcher = fs.readFileSync(path.join(ROOT, 'src/adapters/aws/s3-import-launcher.ts'), 'utf8');
const steps = fs.readFileSync(path.join(ROOT, 'src/handlers/import-steps.ts'), 'utf8');
const sls = YAML.parse(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8')) as Obj;
const awsCfg = YAML.parse(fs.readFileSync(path.join(ROOT, 'config/aws.yml'), 'utf8')) as Obj;
const localCfg = YAML.parse(fs.readFileSync(path.join(ROOT, 'config/local.yml'), 'utf8')) as Obj;

beforeAll(async () => {
  tf = await loadDir(MODULE_DIR);
  rootTf = await loadDir(path.join(ROOT, 'terraform'));
});

describe('the import bucket', () => {
  test('an entry of local.buckets: SSE-KMS under its own key, TLS-only policy, public access blocked, expiring objects', () => {
    expect(bucketFindings(tf)).toEqual([]);
  });

  test('the checker flags a bucket without its key, encryption or TLS-only policy', () => {
    const t = clone(tf);
    delete t.locals.kms_keys.import;
    first(first(t.resource.aws_s3_bucket_server_side_encryption_configuration.this.rule).apply_server_side_encryption_by_default).sse_algorithm = 'AES256';
    t.data.aws_iam_policy_document.bucket.statement = (t.data.aws_iam_policy_document.bucket.statement as Obj[]).filter((s) => s.sid !== 'DenyInsecureTransport');
    expect(bucketFindings(t)).toEqual(['local.kms_keys has no symmetric import key', 'the buckets are not SSE-KMS under aws_kms_key.this[each.key]', 'the buckets have no TLS-only policy']);
    const u = clone(tf);
    delete u.locals.buckets.import;
    expect(bucketFindings(u)).toEqual(['local.buckets has no import entry']);
  });
});

describe('the import state machine', () => {
  test('its role allows exactly the needed actions on the named resources; "*" only for the log delivery', () => {
    expect(stateMachineRoleFindings(tf)).toEqual([]);
  });

  test('the checker flags a dropped or widened statement, and "*" beyond the log delivery', () => {
    const t = clone(tf);
    const sts = t.locals.import_service_statements.state_machine as Obj[];
    t.locals.import_service_statements.state_machine = sts.filter((s) => s.sid !== 'ReadChunkPlans');
    sts.find((s) => s.sid === 'InvokeImportSteps')!.resources = ['*'];
    expect(stateMachineRoleFindings(t)).toEqual([
      'state machine role grants InvokeImportSteps: lambda:InvokeFunction on *',
      `state machine role lacks ${STATE_MACHINE_ROLE[0]}`,
      `state machine role lacks ${STATE_MACHINE_ROLE[3]}`,
      'InvokeImportSteps: Resource "*" beyond the log delivery actions',
    ]);
    const u = clone(tf);
    u.resource.aws_sfn_state_machine.import.name = '${local.prefix}-imports';
    expect(stateMachineRoleFindings(u)).toEqual(['the state machine is named ${local.prefix}-imports, not the name its role\'s ARNs use']);
  });

  test('every placeholder of the ASL is substituted with the ARN of an import step the role may invoke', () => {
    expect(aslFindings(tf, asl)).toEqual([]);
    expect(Object.keys(tf.locals.import_state_machine_vars).sort()).toEqual(['ImportChunkFunctionArn', 'ImportFinishFunctionArn', 'ImportPlanFunctionArn']);
  });

  test('the checker flags a placeholder left unsubstituted, a wrong ARN, and a template directive', () => {
    const t = clone(tf);
    delete t.locals.import_state_machine_vars.ImportFinishFunctionArn;
    t.locals.import_state_machine_vars.ImportChunkFunctionArn = fnArn('ingest');
    expect(aslFindings(t, `${asl} %{ if x }`)).toEqual([
      'placeholder ${ImportFinishFunctionArn} is not substituted',
      'the ASL holds a %{ template directive',
      `ImportChunkFunctionArn = ${fnArn('ingest')}, not one of the import steps`,
      `the state machine role may not invoke ImportChunkFunctionArn (${fnArn('ingest')})`,
      'the substituted definition is not JSON',
    ]);
  });

  test('a job\'s start marker (the launcher\'s key) starts it through EventBridge and a role that may only start it', async () => {
    expect(await triggerFindings(tf, launcher, steps)).toEqual([]);
  });

  test('the checker flags another key pattern, a launcher writing elsewhere, and a wider events role', async () => {
    const t = clone(tf);
    t.resource.aws_cloudwatch_event_rule.import_start.event_pattern = String(t.resource.aws_cloudwatch_event_rule.import_start.event_pattern).replace('import-jobs/*/start', 'jobs/*/start');
    t.locals.import_service_statements.events[0].resources = ['*'];
    delete t.resource.aws_s3_bucket_notification.import;
    expect(await triggerFindings(t, launcher.replaceAll('/start`', '/go`'), steps)).toEqual([
      'the import bucket does not send its events to EventBridge',
      'the rule matches keys jobs/*/start, not import-jobs/*/start',
      'the launcher writes another key',
      'the events role grants StartImportExecution: states:StartExecution on *',
    ]);
  });

  test('it logs errors without execution data to a KMS-encrypted log group, created after its role may deliver logs', () => {
    expect(loggingFindings(tf)).toEqual([]);
    const t = clone(tf);
    first(t.resource.aws_sfn_state_machine.import.logging_configuration).include_execution_data = true;
    delete t.resource.aws_sfn_state_machine.import.depends_on;
    delete t.resource.aws_cloudwatch_log_group.service.kms_key_id;
    expect(loggingFindings(t)).toEqual(['the execution log includes execution data', 'the service log groups lack the logs key or retention', 'the state machine does not wait for its role policy']);
  });
});

describe('the import steps\' roles and the API', () => {
  test('importChunk has ingest\'s write path (and the key and topic policies name it); plan and finish only the import bucket (finish the audit trail); ingest the import bucket', () => {
    expect(stepRoleFindings(tf)).toEqual([]);
  });

  test('the checker flags a chunk role missing a write-path group or a key policy, and a wider import grant', () => {
    const t = clone(tf);
    t.locals.function_statements.importChunk = (t.locals.function_statements.importChunk as string[]).filter((g) => g !== '${local.landing_statements}');
    const w = (t.data.aws_iam_policy_document.kms_identity.statement as Obj[]).find((s) => s.sid === 'WritersEncryptOnly')!;
    w.principals[0].identifiers = (w.principals[0].identifiers as string[]).filter((x) => !x.includes('importChunk'));
    t.locals.import_list_statements[0].resources = ['*'];
    t.locals.function_statements.importPlan = [...(t.locals.function_statements.importPlan as string[]), '${local.landing_statements}'];
    expect(stepRoleFindings(t)).toEqual([
      'importChunk lacks ingest\'s ${local.landing_statements}',
      'importPlan has ${local.landing_statements}',
      'ImportList: beyond the import bucket and key: *',
      'importChunk cannot encrypt identity records (kms_identity)',
    ]);
  });
});

describe('serverless.yml and the published names', () => {
  test('the three steps are functions of serverless.yml whose handlers import-steps.ts exports, each with its own role', async () => {
    const mod = (await import('../../src/handlers/import-steps')) as Record<string, unknown>;
    for (const [fn, exported] of Object.entries(STEPS)) {
      const def = sls.functions[fn];
      expect({ fn, handler: def?.handler, role: def?.role, disableLogs: def?.disableLogs, events: def?.events }).toEqual({
        fn,
        handler: `dist/src/handlers/import-steps.${exported}`,
        role: `\${self:custom.cfg.${fn}RoleArn}`,
        disableLogs: true,
        events: undefined,
      });
      expect({ fn, exported, type: typeof mod[exported] }).toEqual({ fn, exported, type: 'function' });
      expect(def.timeout).toBeLessThanOrEqual(900);
      // the ARN the state machine invokes names the function Serverless deploys (<service>-<stage>-<fn>)
      expect(Object.values(tf.locals.import_state_machine_vars)).toContain(fnArn(fn));
      const param = fn.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) + '_role_arn';
      expect(awsCfg[`${fn}RoleArn`]).toBe(`\${ssm:/tributary/\${sls:stage}/${param}}`);
      expect(tf.locals.ssm_core[param]).toBe(`\${aws_iam_role.function["${fn}"].arn}`);
      expect(localCfg[`${fn}RoleArn`]).toBeTruthy();
    }
    expect(fs.existsSync(path.join(ROOT, 'src/handlers/import-steps.ts'))).toBe(true);
    expect(sls.functions.importChunk.timeout).toBeGreaterThanOrEqual(60);
  });

  test('every function (the API included) gets the import bucket and its key from Terraform, without a null fallback', () => {
    expect(sls.provider.environment.IMPORT_BUCKET).toBe('${self:custom.cfg.importBucket}');
    expect(sls.provider.environment.IMPORT_KMS_KEY_ARN).toBe('${self:custom.cfg.importKmsKeyArn}');
    expect(awsCfg.importBucket).toBe('${ssm:/tributary/${sls:stage}/import_bucket}');
    expect(awsCfg.importKmsKeyArn).toBe('${ssm:/tributary/${sls:stage}/import_kms_key_arn}');
    expect(tf.locals.ssm_core).toMatchObject({ import_bucket: '${aws_s3_bucket.this["import"].bucket}', import_kms_key_arn: '${aws_kms_key.this["import"].arn}', import_state_machine_arn: '${aws_sfn_state_machine.import.arn}' });
    for (const def of Object.values<Obj>(sls.functions)) expect(def.environment?.IMPORT_BUCKET).toBeUndefined();
  });

  test('the import names are outputs of the module and of the root', () => {
    for (const name of ['import_bucket', 'import_kms_key_arn', 'import_plan_role_arn', 'import_chunk_role_arn', 'import_finish_role_arn', 'import_state_machine_arn']) {
      expect({ name, module: tf.output[name]?.value }).toEqual({ name, module: tf.locals.ssm_core[name] });
      expect({ name, root: rootTf.output[name]?.value }).toEqual({ name, root: `\${module.tributary.${name}}` });
    }
  });
});
