/**
 * Static checks of the safe-analysis Terraform (terraform/modules/tributary/analysis.tf), parsed with
 * @cdktf/hcl2json like test/unit/terraform.test.ts (no terraform binary here):
 * - one Athena workgroup per study, with its result location (the marts bucket, analysis-results/<study>/) and
 *   SSE-KMS encryption enforced;
 * - the analysis function's role and the analyst role can query only through the study workgroups and read only
 *   the marts that the registry's approved analyses read (analyses/*.sql), nothing of the lake, identity store or
 *   triage area, and MAC only with the study key, which is not the lake's pseudonym key;
 * - analysts assume their role with MFA; the function is wired (log group, SSM parameters, serverless.yml).
 * The locals built with `for` expressions are evaluated here for the default studies. Each checker also runs on a
 * broken copy to show that it flags the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parse } from '@cdktf/hcl2json';

type Json = any;
type Obj = Record<string, Json>;

const REPO = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(REPO, 'terraform', 'modules', 'tributary');

interface Module {
  resource: Record<string, Record<string, Obj>>;
  docs: Record<string, Obj>;
  locals: Obj;
  variables: Obj;
}

const first = (v: Json): Obj => (Array.isArray(v) ? v[0] : v);
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const list = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

async function loadModule(): Promise<Module> {
  const m: Module = { resource: {}, docs: {}, locals: {}, variables: {} };
  for (const f of fs.readdirSync(MODULE_DIR).filter((x) => x.endsWith('.tf'))) {
    const j = (await parse(f, fs.readFileSync(path.join(MODULE_DIR, f), 'utf8'))) as Obj;
    for (const l of list(j.locals)) Object.assign(m.locals, l);
    for (const [name, body] of Object.entries<Json>(j.variable ?? {})) m.variables[name] = first(body);
    for (const [type, byName] of Object.entries<Json>(j.resource ?? {})) {
      m.resource[type] ??= {};
      for (const [name, body] of Object.entries<Json>(byName)) m.resource[type][name] = first(body);
    }
    for (const [name, body] of Object.entries<Json>(j.data?.aws_iam_policy_document ?? {})) m.docs[name] = first(body);
  }
  return m;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation of the analysis locals, and concrete ARNs for one environment
// ---------------------------------------------------------------------------------------------------------

/** The marts of the studies (the default of var.analysis_studies unless given). */
function studyMarts(m: Module, studies?: Record<string, { marts: string[] }>): string[] {
  const s = studies ?? (m.variables.analysis_studies.default as Record<string, { marts: string[] }>);
  expect(m.locals.analysis_marts).toBe('${sort(distinct(flatten([for s in values(var.analysis_studies) : s.marts])))}');
  return [...new Set(Object.values(s).flatMap((x) => x.marts))].sort();
}

/** A list value: a literal list, or one of the analysis locals (`[for m in local.analysis_marts : …]`). */
function values(m: Module, v: Json, marts: string[]): string[] {
  if (Array.isArray(v)) return v.map(String);
  const local = /^\$\{local\.(\w+)\}$/.exec(String(v));
  if (!local) throw new Error(`cannot evaluate ${String(v)}`);
  const expr = String(m.locals[local[1]!]);
  const simple = /^\$\{\[for (\w+) in local\.analysis_marts : "(.*)"\]\}$/s.exec(expr);
  if (simple) return marts.map((x) => simple[2]!.split(`\${${simple[1]}}`).join(x));
  const flat = /^\$\{flatten\(\[for (\w+) in local\.analysis_marts : \[(.*)\]\]\)\}$/s.exec(expr);
  if (flat) {
    const templates = JSON.parse(`[${flat[2]}]`) as string[];
    return marts.flatMap((x) => templates.map((t) => t.split(`\${${flat[1]}}`).join(x)));
  }
  throw new Error(`cannot evaluate local.${local[1]}: ${expr}`);
}

const SAMPLE: Record<string, string> = {
  'local.partition': 'aws',
  'local.region': 'eu-west-2',
  'local.account_id': '111111111111',
  'local.prefix': 'tributary-dev',
  'aws_glue_catalog_database.lake.name': 'tributary_dev_lake',
};

/** An ARN with the sample account and region; buckets and keys become `arn:aws:s3:::<name>` and `key/<name>`. */
function concrete(s: string): string {
  return s.replace(/\$\{([^}]+)\}/g, (all, ref: string) => {
    if (ref in SAMPLE) return SAMPLE[ref]!;
    const bucket = /^aws_s3_bucket\.(\w+)\.(arn|bucket)$/.exec(ref);
    if (bucket) return bucket[2] === 'arn' ? `arn:aws:s3:::tributary-dev-${bucket[1]}` : `tributary-dev-${bucket[1]}`;
    const key = /^aws_kms_key\.(\w+)(\[[^\]]*\])?\.arn$/.exec(ref);
    if (key) return `arn:aws:kms:eu-west-2:111111111111:key/${key[1]}`;
    return all;
  });
}

const glob = (pattern: string, s: string): boolean => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(s);

interface Statement {
  where: string;
  effect: string;
  actions: string[];
  resources: string[];
  conditions: { test: string; variable: string; values: string[] }[];
}

/** Concrete statements of every aws_iam_role_policy of a role. */
function roleStatements(m: Module, role: string, marts: string[]): Statement[] {
  const out: Statement[] = [];
  for (const [name, body] of Object.entries(m.resource.aws_iam_role_policy ?? {})) {
    if (body.role !== `\${aws_iam_role.${role}.id}`) continue;
    const doc = /^\$\{data\.aws_iam_policy_document\.(\w+)\.json\}$/.exec(String(body.policy));
    if (!doc || !m.docs[doc[1]!]) throw new Error(`aws_iam_role_policy.${name}: not an analysable policy document`);
    for (const s of list(m.docs[doc[1]!].statement)) {
      out.push({
        where: `${doc[1]}[${s.sid}]`,
        effect: s.effect ?? 'Allow',
        actions: list(s.actions).map(String),
        resources: values(m, s.resources, marts).map(concrete),
        conditions: list(s.condition).map((c: Obj) => ({ test: c.test, variable: c.variable, values: values(m, c.values, marts).map(concrete) })),
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Checkers (findings; [] = the property holds)
// ---------------------------------------------------------------------------------------------------------

const ROLES = ['analysis', 'analyst'];

/** One workgroup per study: enforced configuration, results in the marts bucket under the study, SSE-KMS (marts key). */
function checkWorkgroups(m: Module): string[] {
  const f: string[] = [];
  const wg = m.resource.aws_athena_workgroup?.study;
  if (!wg) return ['aws_athena_workgroup.study: missing'];
  if (wg.for_each !== '${var.analysis_studies}') f.push('aws_athena_workgroup.study: not one per study (for_each = var.analysis_studies)');
  if (wg.name !== '${local.prefix}-study-${each.key}') f.push(`aws_athena_workgroup.study: name ${String(wg.name)} is not <prefix>-study-<study>`);
  const cfg = first(wg.configuration ?? {});
  if (cfg.enforce_workgroup_configuration !== true) f.push('aws_athena_workgroup.study: enforce_workgroup_configuration is not true');
  if (cfg.bytes_scanned_cutoff_per_query === undefined) f.push('aws_athena_workgroup.study: no bytes_scanned_cutoff_per_query');
  const rc = first(cfg.result_configuration ?? {});
  if (rc.output_location !== 's3://${aws_s3_bucket.marts.bucket}/analysis-results/${each.key}/') f.push(`aws_athena_workgroup.study: output_location ${String(rc.output_location)} is not the study's prefix of the marts bucket`);
  const enc = first(rc.encryption_configuration ?? {});
  if (enc.encryption_option !== 'SSE_KMS' || enc.kms_key_arn !== '${aws_kms_key.marts.arn}') f.push('aws_athena_workgroup.study: results are not SSE_KMS under the marts key');
  return f;
}

/**
 * The analysis roles' grants: each action of the allow-list on only the resources it is allowed on. Anything on the
 * lake, identity or triage buckets, another key, another workgroup, or a mart outside `marts` is a finding.
 */
function checkAnalysisGrants(m: Module, marts: string[]): string[] {
  const f: string[] = [];
  const db = 'arn:aws:glue:eu-west-2:111111111111';
  const marts3 = 'arn:aws:s3:::tributary-dev-marts';
  const allowed: [RegExp, (r: string) => boolean][] = [
    [/^athena:(StartQueryExecution|GetQueryExecution|GetQueryResults|StopQueryExecution|GetWorkGroup)$/, (r) => r === 'arn:aws:athena:eu-west-2:111111111111:workgroup/tributary-dev-study-*'],
    [/^glue:GetDatabase$/, (r) => r === `${db}:catalog` || r === `${db}:database/tributary_dev_lake`],
    [/^glue:(GetTable|GetPartition|GetPartitions|BatchGetPartition)$/, (r) => marts.some((x) => r === `${db}:table/tributary_dev_lake/${x}` || r === `${db}:table/tributary_dev_lake/${x}_history`)],
    [/^s3:GetObject$/, (r) => marts.some((x) => r === `${marts3}/marts/${x}/*`) || r === `${marts3}/analysis-results/*` || r === 'arn:aws:s3:::tributary-dev-audit/*'],
    [/^s3:(PutObject)$/, (r) => r === `${marts3}/analysis-results/*` || r === `${marts3}/releases/*` || r === 'arn:aws:s3:::tributary-dev-audit/*'],
    [/^s3:(AbortMultipartUpload|ListMultipartUploadParts)$/, (r) => r === `${marts3}/analysis-results/*`],
    [/^s3:ListBucket$/, (r) => r === marts3 || r === 'arn:aws:s3:::tributary-dev-audit'],
    [/^kms:(GenerateDataKey|Decrypt)$/, (r) => /key\/(marts|audit)$/.test(r)],
    [/^kms:GenerateMac$/, (r) => /key\/study$/.test(r)],
    [/^logs:(CreateLogStream|PutLogEvents)$/, (r) => r === '${aws_cloudwatch_log_group.function["analysis"].arn}:*'],
  ];
  for (const role of ROLES) {
    for (const s of roleStatements(m, role, marts)) {
      if (s.effect !== 'Allow') continue;
      for (const a of s.actions) {
        const rule = allowed.find(([re]) => re.test(a));
        if (!rule) {
          f.push(`aws_iam_role.${role} ${s.where}: action ${a} is not one approved analyses need`);
          continue;
        }
        for (const r of s.resources) if (!rule[1](r)) f.push(`aws_iam_role.${role} ${s.where}: ${a} on ${r}`);
      }
      // listing the marts bucket only under the approved marts' prefixes (or the results)
      if (s.actions.includes('s3:ListBucket') && s.resources.includes(marts3)) {
        const prefixes = s.conditions.filter((c) => c.variable === 's3:prefix' && c.test === 'StringLike').flatMap((c) => c.values);
        const ok = prefixes.length > 0 && prefixes.every((p) => p === 'analysis-results/*' || marts.some((x) => p === `marts/${x}/*`));
        if (!ok) f.push(`aws_iam_role.${role} ${s.where}: s3:ListBucket of the marts bucket beyond the approved marts (${prefixes.join(', ') || 'no prefix condition'})`);
      }
    }
  }
  return f;
}

/** The study key: HMAC, no rotation claimed, GenerateMac for the analysis roles only; the lake's key not for them. */
function checkStudyKey(m: Module): string[] {
  const f: string[] = [];
  const key = m.resource.aws_kms_key?.study;
  if (!key) return ['aws_kms_key.study: missing'];
  if (key.customer_master_key_spec !== 'HMAC_256' || key.key_usage !== 'GENERATE_VERIFY_MAC') f.push('aws_kms_key.study: not an HMAC_256 / GENERATE_VERIFY_MAC key');
  if (key.enable_key_rotation === true) f.push('aws_kms_key.study: HMAC keys cannot rotate automatically');
  if (key.policy !== '${data.aws_iam_policy_document.kms_study.json}') f.push('aws_kms_key.study: policy is not kms_study');
  for (const s of list(m.docs.kms_study?.statement)) {
    const ids = list(s.principals).flatMap((p: Obj) => list(p.identifiers));
    const actions = typeof s.actions === 'string' ? [s.actions] : list(s.actions);
    if (actions.includes('kms:GenerateMac') && ids.sort().join() !== '${aws_iam_role.analysis.arn},${aws_iam_role.analyst.arn}') f.push(`kms_study[${s.sid}]: GenerateMac for ${ids.join(', ')}`);
    if (actions.some((a: string) => /^kms:(Create\*|CreateGrant|\*)$/.test(a))) f.push(`kms_study[${s.sid}]: grants could hand out GenerateMac`);
  }
  const lakeKey = list(m.docs.kms_hmac?.statement).flatMap((s: Obj) => list(s.principals).flatMap((p: Obj) => list(p.identifiers)));
  for (const role of ROLES) if (lakeKey.includes(`\${aws_iam_role.${role}.arn}`)) f.push(`aws_kms_key.hmac: ${role} may use the lake's pseudonym key`);
  return f;
}

/** Analysts assume their role only with MFA, and only AWS principals do. */
function checkAnalystTrust(m: Module): string[] {
  const f: string[] = [];
  const role = m.resource.aws_iam_role?.analyst;
  if (!role) return ['aws_iam_role.analyst: missing'];
  if (role.assume_role_policy !== '${data.aws_iam_policy_document.analyst_assume.json}') return ['aws_iam_role.analyst: trust is not analyst_assume'];
  for (const s of list(m.docs.analyst_assume.statement)) {
    const mfa = list(s.condition).some((c: Obj) => c.test === 'Bool' && c.variable === 'aws:MultiFactorAuthPresent' && list(c.values).join() === 'true');
    if (!mfa) f.push(`analyst_assume[${s.sid}]: no MFA condition`);
    if (list(s.principals).some((p: Obj) => p.type !== 'AWS')) f.push(`analyst_assume[${s.sid}]: a non-AWS principal`);
  }
  return f;
}

/** The tables an SQL file reads (FROM / JOIN targets that are not its own CTEs). */
function tablesOf(sql: string): string[] {
  const text = sql.replace(/--[^\n]*/g, ' ');
  const ctes = new Set([...text.matchAll(/(\w+)\s+AS\s*\(/gi)].map((x) => x[1]!.toLowerCase()));
  const refs = [...text.matchAll(/\b(?:FROM|JOIN)\s+"?([A-Za-z_]\w*)"?/gi)].map((x) => x[1]!.toLowerCase());
  return [...new Set(refs.filter((r) => !ctes.has(r)))].sort();
}

/** Per study: the marts its approved analyses (analyses/*.yaml) read. */
function approvedNeeds(): Record<string, string[]> {
  const dir = path.join(REPO, 'analyses');
  const out: Record<string, Set<string>> = {};
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.yaml') && x !== 'studies.yaml')) {
    const meta = YAML.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (!meta.sqlSha256) continue;
    for (const t of tablesOf(fs.readFileSync(path.join(dir, `${meta.id}.sql`), 'utf8'))) (out[meta.study] ??= new Set()).add(t);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, [...v].sort()]));
}

/** Each approved analysis's study has a workgroup and the marts it reads; a study's marts are no more than that. */
function checkNeeds(studies: Record<string, { marts: string[] }>, needs: Record<string, string[]>): string[] {
  const f: string[] = [];
  for (const [study, tables] of Object.entries(needs)) {
    const s = studies[study];
    if (!s) f.push(`study ${study}: approved analyses but no workgroup (var.analysis_studies)`);
    else for (const t of tables) if (!s.marts.includes(t)) f.push(`study ${study}: its approved analyses read ${t}, which it is not granted`);
  }
  for (const [study, s] of Object.entries(studies)) {
    for (const mart of s.marts) if (!(needs[study] ?? []).includes(mart)) f.push(`study ${study}: granted ${mart}, which no approved analysis of it reads`);
  }
  return f;
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

let mod: Module;
let marts: string[];
beforeAll(async () => {
  mod = await loadModule();
  marts = studyMarts(mod);
});

describe('Athena: one workgroup per study', () => {
  test('enforced result location in the marts bucket under the study, SSE-KMS under the marts key, a scan cutoff', () => {
    expect(checkWorkgroups(mod)).toEqual([]);
    expect(Object.keys(mod.variables.analysis_studies.default)).toEqual(['covid19-pht']);
  });

  test('the checker flags a workgroup that is not enforced, writes elsewhere or unencrypted', () => {
    const m = clone(mod);
    const cfg = first(m.resource.aws_athena_workgroup!.study!.configuration);
    cfg.enforce_workgroup_configuration = false;
    first(cfg.result_configuration).output_location = 's3://somewhere-else/';
    first(first(cfg.result_configuration).encryption_configuration).encryption_option = 'SSE_S3';
    expect(checkWorkgroups(m)).toHaveLength(3);
  });

  test('the analysts\' workgroup pattern covers the study workgroups and not the operators\' one', () => {
    const pattern = concrete(String(list(mod.docs.analysis_read.statement).find((s: Obj) => s.sid === 'StudyWorkgroups').resources[0]));
    expect(glob(pattern, 'arn:aws:athena:eu-west-2:111111111111:workgroup/tributary-dev-study-covid19-pht')).toBe(true);
    expect(glob(pattern, `arn:aws:athena:eu-west-2:111111111111:workgroup/${concrete(String(mod.resource.aws_athena_workgroup!.analytics!.name))}`)).toBe(false);
  });
});

describe('the analysis and analyst roles read only what approved analyses need', () => {
  test('the default studies grant exactly the marts the approved analyses read (covid19.sql)', () => {
    const needs = approvedNeeds();
    expect(needs['covid19-pht']).toEqual(['care_plan_activity', 'condition', 'encounter', 'patient', 'procedure']);
    expect(checkNeeds(mod.variables.analysis_studies.default, needs)).toEqual([]);
    expect(checkNeeds({ 'covid19-pht': { marts: [...needs['covid19-pht']!, 'observation'] } }, needs)).toEqual(['study covid19-pht: granted observation, which no approved analysis of it reads']);
    expect(checkNeeds({ 'covid19-pht': { marts: ['patient'] } }, needs)).toHaveLength(4);
  });

  test('queries only in study workgroups; catalogue, files and listing of the approved marts only; the marts, study and audit keys only', () => {
    expect(checkAnalysisGrants(mod, marts)).toEqual([]);
    for (const role of ROLES) {
      const st = roleStatements(mod, role, marts);
      const text = JSON.stringify(st);
      expect({ role, lakeOrIdentity: /tributary-dev-(lake|identity|triage)|key\/(lake|identity|hmac|triage)/.test(text) }).toEqual({ role, lakeOrIdentity: false });
      expect(st.some((s) => s.actions.includes('kms:GenerateMac') && s.resources.some((r) => r.endsWith('key/study')))).toBe(true);
      expect(st.some((s) => s.actions.includes('s3:GetObject') && s.resources.includes('arn:aws:s3:::tributary-dev-marts/marts/patient/*'))).toBe(true);
      expect(st.flatMap((s) => s.resources).filter((r) => r === '*')).toEqual([]);
    }
  });

  test('the checker flags lake reads, another mart, a wider listing, the operators\' workgroup and a wildcard action', () => {
    const m = clone(mod);
    const doc = m.docs.analysis_read;
    doc.statement = [
      ...list(doc.statement),
      { sid: 'Lake', effect: 'Allow', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.lake.arn}/*'] },
      { sid: 'Obs', effect: 'Allow', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.marts.arn}/marts/observation/*'] },
      { sid: 'Wg', effect: 'Allow', actions: ['athena:StartQueryExecution'], resources: ['arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${local.prefix}'] },
      { sid: 'All', effect: 'Allow', actions: ['athena:*'], resources: ['arn:${local.partition}:athena:${local.region}:${local.account_id}:workgroup/${local.prefix}-study-*'] },
      { sid: 'List', effect: 'Allow', actions: ['s3:ListBucket'], resources: ['${aws_s3_bucket.marts.arn}'] },
    ];
    const f = checkAnalysisGrants(m, marts);
    for (const sid of ['Lake', 'Obs', 'Wg', 'All', 'List']) expect(f.filter((x) => x.includes(`[${sid}]`)).length).toBeGreaterThanOrEqual(2); // both roles
  });
});

describe('the study key and the analyst role', () => {
  test('the study key is an HMAC key of its own, for the analysis roles only; they cannot use the lake\'s pseudonym key', () => {
    expect(checkStudyKey(mod)).toEqual([]);
    const m = clone(mod);
    first(list(m.docs.kms_hmac.statement).find((s: Obj) => s.sid === 'PseudonymiseOnly').principals).identifiers.push('${aws_iam_role.analyst.arn}');
    list(m.docs.kms_study.statement).find((s: Obj) => s.sid === 'StudyPseudonymsOnly').principals[0].identifiers.push('${aws_iam_role.etl.arn}');
    expect(checkStudyKey(m)).toEqual([
      'kms_study[StudyPseudonymsOnly]: GenerateMac for ${aws_iam_role.analysis.arn}, ${aws_iam_role.analyst.arn}, ${aws_iam_role.etl.arn}',
      'aws_kms_key.hmac: analyst may use the lake\'s pseudonym key',
    ]);
  });

  test('analysts assume their role with MFA', () => {
    expect(checkAnalystTrust(mod)).toEqual([]);
    const m = clone(mod);
    delete list(m.docs.analyst_assume.statement)[0].condition;
    expect(checkAnalystTrust(m)).toEqual(['analyst_assume[AnalystsWithMfa]: no MFA condition']);
  });
});

describe('wiring of the analysis function', () => {
  test('a Terraform function (log group), its role and the study key published to SSM, read by serverless.yml', () => {
    expect(String(mod.locals.functions)).toContain('"analysis"');
    expect(mod.locals.ssm_core).toMatchObject({ analysis_role_arn: '${aws_iam_role.analysis.arn}', study_kms_key_arn: '${aws_kms_key.study.arn}' });
    const sls = YAML.parse(fs.readFileSync(path.join(REPO, 'serverless.yml'), 'utf8'));
    expect(sls.functions.analysis).toMatchObject({
      handler: 'dist/src/handlers/analysis.run',
      role: '${self:custom.cfg.analysisRoleArn}',
      environment: { STUDY_KMS_KEY_ARN: '${self:custom.cfg.studyKmsKeyArn}' },
      events: [{ http: { path: 'ops/analyses/{id}/run', method: 'post', authorizer: '${self:custom.authorizer}' } }],
    });
    const aws = YAML.parse(fs.readFileSync(path.join(REPO, 'config/aws.yml'), 'utf8'));
    expect(aws.studyKmsKeyArn).toBe('${ssm:/tributary/${sls:stage}/study_kms_key_arn}');
  });
});
