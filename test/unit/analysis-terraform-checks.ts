/**
 * The checkers of the safe-analysis Terraform (terraform/modules/tributary/analysis.tf, iam.tf, kms.tf) for
 * test/unit/analysis-terraform.test.ts: the module parsed with @cdktf/hcl2json, what a run reads (from the code, not
 * from the Terraform), the analysis locals evaluated for a set of studies, concrete ARNs for one environment, the
 * statements of the analysis function's and the analyst's roles, and the checkers (findings; [] = the property holds).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parse } from '@cdktf/hcl2json';
import { LAKE_PSEUDONYMS_SQL } from '../../src/core/analysis';
import { historyTableDefinition, historyTableName, versionsTableDefinition, VERSIONS_TABLE } from '../../src/core/catalog';

export type Json = any;
export type Obj = Record<string, Json>;

export const REPO = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(REPO, 'terraform', 'modules', 'tributary');

export interface Module {
  resource: Record<string, Record<string, Obj>>;
  docs: Record<string, Obj>;
  locals: Obj;
  variables: Obj;
}

export const first = (v: Json): Obj => (Array.isArray(v) ? v[0] : v);
export const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
export const list = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export async function loadModule(): Promise<Module> {
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
// What a run reads, from the code (not from the Terraform)
// ---------------------------------------------------------------------------------------------------------

/** The tables an SQL text reads (FROM / JOIN targets that are not its own CTEs). */
function tablesOf(sql: string): string[] {
  const text = sql.replace(/--[^\n]*/g, ' ');
  const ctes = new Set([...text.matchAll(/(\w+)\s+AS\s*\(/gi)].map((x) => x[1]!.toLowerCase()));
  const refs = [...text.matchAll(/\b(?:FROM|JOIN)\s+"?([A-Za-z_]\w*)"?/gi)].map((x) => x[1]!.toLowerCase());
  return [...new Set(refs.filter((r) => !ctes.has(r)))].sort();
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();
const view = (name: string) => ({ name, resourceType: 'Any', columns: [] });
/** The folder of a table's files under the marts bucket (marts/<view>/ holds <view>_history). */
const folderOf = (table: string): string =>
  (table === VERSIONS_TABLE ? versionsTableDefinition('b') : historyTableDefinition(view(table.replace(/_history$/, '')), 'b')).location.prefix.replace(/^marts\/|\/$/g, '');

/**
 * What runs over `marts` (view names) read: each view, its history table and resource_versions (catalog.ts: every
 * current-version view joins it), and the tables of the output checker's lake-pseudonym query (run.ts).
 */
export function runNeeds(marts: string[]): { tables: string[]; folders: string[] } {
  const tables = sorted([...marts.flatMap((m) => [m, historyTableName(m), VERSIONS_TABLE]), ...tablesOf(LAKE_PSEUDONYMS_SQL)]);
  return { tables, folders: sorted(tables.filter((t) => t === VERSIONS_TABLE || t.endsWith('_history')).map(folderOf)) };
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation of the analysis locals, and concrete ARNs for one environment
// ---------------------------------------------------------------------------------------------------------

/** The lists analysis.tf builds for a set of studies (the default of var.analysis_studies unless given). */
export interface AnalysisLists {
  studies: string[];
  marts: string[];
  /** local.analysis_glue_tables */
  tables: string[];
  /** local.analysis_mart_folders */
  folders: string[];
}

/** Evaluates the analysis locals; their expressions are pinned here, so a change to one fails until this follows. */
export function analysisLists(m: Module, studies?: Record<string, { marts: string[] }>): AnalysisLists {
  const s = studies ?? (m.variables.analysis_studies.default as Record<string, { marts: string[] }>);
  expect(m.locals.analysis_marts).toBe('${sort(distinct(flatten([for s in values(var.analysis_studies) : s.marts])))}');
  expect(m.locals.analysis_glue_tables).toBe('${sort(distinct(concat(flatten([for m in local.analysis_marts : [m, "${m}_history"]]), ["resource_versions", "patient_history"])))}');
  expect(m.locals.analysis_mart_folders).toBe('${sort(distinct(concat(local.analysis_marts, ["resource_versions", "patient"])))}');
  const marts = sorted(Object.values(s).flatMap((x) => x.marts));
  return {
    studies: Object.keys(s).sort(),
    marts,
    tables: sorted([...marts.flatMap((x) => [x, `${x}_history`]), 'resource_versions', 'patient_history']),
    folders: sorted([...marts, 'resource_versions', 'patient']),
  };
}

const SAMPLE: Record<string, string> = {
  'local.partition': 'aws',
  'local.region': 'eu-west-2',
  'local.account_id': '111111111111',
  'aws_glue_catalog_database.lake.name': 'tributary_dev_lake',
};

/**
 * An ARN with the sample account, region and environment (string locals expanded); buckets become
 * `arn:aws:s3:::tributary-dev-<name>` and keys `arn:aws:kms:…:key/<name>`.
 */
export function concrete(m: Module, s: string, environment = 'dev'): string {
  let out = s;
  for (let i = 0; i < 5 && out.includes('${'); i++) {
    out = out.replace(/\$\{([^{}]+)\}/g, (all, ref: string) => {
      if (ref === 'var.environment') return environment;
      if (ref === 'var.service_name') return String(m.variables.service_name.default);
      if (ref in SAMPLE) return SAMPLE[ref]!;
      const local = /^local\.(\w+)$/.exec(ref);
      if (local && typeof m.locals[local[1]!] === 'string') return m.locals[local[1]!];
      const bucket = /^aws_s3_bucket\.this\["(\w+)"\]\.(arn|bucket)$/.exec(ref);
      if (bucket) return bucket[2] === 'arn' ? `arn:aws:s3:::tributary-dev-${bucket[1]}` : `tributary-dev-${bucket[1]}`;
      const key = /^aws_kms_key\.(?:this\["(\w+)"\]|(\w+)(?:\[[^\]]*\])?)\.arn$/.exec(ref);
      if (key) return `arn:aws:kms:eu-west-2:111111111111:key/${key[1] ?? key[2]}`;
      return all;
    });
  }
  return out;
}

/** The ARN of a study's workgroup, from aws_athena_workgroup.study's name. */
export function workgroupArn(m: Module, study: string): string {
  const name = String(m.resource.aws_athena_workgroup!.study!.name).split('${each.key}').join(study);
  return `arn:aws:athena:eu-west-2:111111111111:workgroup/${concrete(m, name)}`;
}

/**
 * A list value: a literal list, `[for x in local.<list> : "template"]`, `[for w in aws_athena_workgroup.study : w.arn]`,
 * or `concat(<for expression>, <literal list>)`; every element made concrete.
 */
function values(m: Module, v: Json, lists: AnalysisLists): string[] {
  if (Array.isArray(v)) return v.map((x) => concrete(m, String(x)));
  const text = String(v);
  if (text === '${[for w in aws_athena_workgroup.study : w.arn]}') return lists.studies.map((st) => workgroupArn(m, st));
  const forExpr = /^\$\{\[for (\w+) in local\.(analysis_glue_tables|analysis_mart_folders) : "(.*)"\]\}$/s.exec(text);
  if (forExpr) {
    const over = forExpr[2] === 'analysis_glue_tables' ? lists.tables : lists.folders;
    return over.map((x) => concrete(m, forExpr[3]!.split(`\${${forExpr[1]}}`).join(x)));
  }
  const concat = /^\$\{concat\((\[for .*\]), (\[[^[\]]*\])\)\}$/s.exec(text);
  if (concat) return [...values(m, `\${${concat[1]}}`, lists), ...values(m, JSON.parse(concat[2]!), lists)];
  throw new Error(`cannot evaluate ${text}`);
}

export const glob = (pattern: string, s: string): boolean => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(s);

export interface Statement {
  where: string;
  effect: string;
  actions: string[];
  resources: string[];
  conditions: { test: string; variable: string; values: string[] }[];
}

/** A statement of a policy document, or of a local statement list ({ sid, actions, resources, conditions }). */
function statement(m: Module, where: string, s: Obj, lists: AnalysisLists): Statement {
  const conditions = [...list(s.condition), ...list(s.conditions)];
  return {
    where: `${where}[${s.sid}]`,
    effect: s.effect ?? 'Allow',
    actions: list(s.actions).map(String),
    resources: values(m, s.resources, lists),
    conditions: conditions.map((c: Obj) => ({ test: c.test, variable: c.variable, values: values(m, c.values, lists) })),
  };
}

/**
 * The statements of a function's role (iam.tf): the Logs statement of the function policy document for its
 * instance, then local.function_statements[fn] (lists of statements and `${local.<list>}` references).
 */
export function functionStatements(m: Module, fn: string, lists: AnalysisLists): Statement[] {
  const doc = m.docs.function;
  if (doc?.for_each !== '${local.function_roles}') throw new Error('data.aws_iam_policy_document.function is not one per function role');
  const own = list(doc.statement).map((s: Obj) => ({ ...s, resources: list(s.resources).map((r: string) => r.split('[each.key]').join(`[${JSON.stringify(fn)}]`)) }));
  const groups = m.locals.function_statements?.[fn];
  if (groups === undefined) throw new Error(`local.function_statements has no ${fn}`);
  const resolve = (g: Json): Obj[] => {
    if (typeof g === 'string') {
      const local = /^\$\{local\.(\w+)\}$/.exec(g);
      if (!local || !Array.isArray(m.locals[local[1]!])) throw new Error(`cannot resolve ${g}`);
      return (m.locals[local[1]!] as Json[]).flatMap(resolve);
    }
    return Array.isArray(g) ? g.flatMap(resolve) : [g];
  };
  return [...own, ...resolve(groups)].map((s) => statement(m, `function["${fn}"]`, s, lists));
}

/** The statements of every aws_iam_role_policy of a single-instance role (the analyst). */
export function roleStatements(m: Module, role: string, lists: AnalysisLists): Statement[] {
  const out: Statement[] = [];
  for (const [name, body] of Object.entries(m.resource.aws_iam_role_policy ?? {})) {
    if (body.role !== `\${aws_iam_role.${role}.id}`) continue;
    const doc = /^\$\{data\.aws_iam_policy_document\.(\w+)\.json\}$/.exec(String(body.policy));
    if (!doc || !m.docs[doc[1]!]) throw new Error(`aws_iam_role_policy.${name}: not an analysable policy document`);
    for (const s of list(m.docs[doc[1]!].statement)) out.push(statement(m, doc[1]!, s, lists));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Checkers (findings; [] = the property holds)
// ---------------------------------------------------------------------------------------------------------

/** One workgroup per study: enforced configuration, results in the marts bucket under the study, SSE-KMS (marts key). */
export function checkWorkgroups(m: Module): string[] {
  const f: string[] = [];
  const wg = m.resource.aws_athena_workgroup?.study;
  if (!wg) return ['aws_athena_workgroup.study: missing'];
  if (wg.for_each !== '${var.analysis_studies}') f.push('aws_athena_workgroup.study: not one per study (for_each = var.analysis_studies)');
  if (concrete(m, String(wg.name)) !== 'tributary-dev-study-${each.key}') f.push(`aws_athena_workgroup.study: name ${String(wg.name)} is not <prefix>-study-<study>`);
  const cfg = first(wg.configuration ?? {});
  if (cfg.enforce_workgroup_configuration !== true) f.push('aws_athena_workgroup.study: enforce_workgroup_configuration is not true');
  if (cfg.bytes_scanned_cutoff_per_query === undefined) f.push('aws_athena_workgroup.study: no bytes_scanned_cutoff_per_query');
  const rc = first(cfg.result_configuration ?? {});
  if (rc.output_location !== 's3://${aws_s3_bucket.this["marts"].bucket}/analysis-results/${each.key}/') f.push(`aws_athena_workgroup.study: output_location ${String(rc.output_location)} is not the study's prefix of the marts bucket`);
  const enc = first(rc.encryption_configuration ?? {});
  if (enc.encryption_option !== 'SSE_KMS' || enc.kms_key_arn !== '${aws_kms_key.this["marts"].arn}') f.push('aws_athena_workgroup.study: results are not SSE_KMS under the marts key');
  return f;
}

export const MARTS_S3 = 'arn:aws:s3:::tributary-dev-marts';
const AUDIT_S3 = 'arn:aws:s3:::tributary-dev-audit';
const GLUE = 'arn:aws:glue:eu-west-2:111111111111';

/**
 * The analysis function's grants: each action of the allow-list on only the resources it is allowed on. Anything on
 * the lake, identity or triage buckets, another key, another workgroup, or a table or folder no run needs is a
 * finding; so is a run need (a study's workgroup, a table, a folder) left ungranted.
 */
export function checkAnalysisGrants(statements: Statement[], lists: AnalysisLists, workgroups: string[]): string[] {
  const f: string[] = [];
  const tableArn = (t: string): string => `${GLUE}:table/tributary_dev_lake/${t}`;
  const allowed: [RegExp, (r: string) => boolean][] = [
    [/^athena:(StartQueryExecution|GetQueryExecution|GetQueryResults|StopQueryExecution|GetWorkGroup)$/, (r) => workgroups.includes(r)],
    [/^glue:GetDatabase$/, (r) => r === `${GLUE}:catalog` || r === `${GLUE}:database/tributary_dev_lake`],
    [/^glue:(GetTable|GetPartition|GetPartitions|BatchGetPartition)$/, (r) => lists.tables.some((t) => r === tableArn(t))],
    [/^s3:GetObject$/, (r) => lists.folders.some((x) => r === `${MARTS_S3}/marts/${x}/*`) || r === `${MARTS_S3}/analysis-results/*` || r === `${AUDIT_S3}/*`],
    [/^s3:PutObject$/, (r) => r === `${MARTS_S3}/analysis-results/*` || r === `${MARTS_S3}/releases/*` || r === `${AUDIT_S3}/*`],
    [/^s3:(AbortMultipartUpload|ListMultipartUploadParts)$/, (r) => r === `${MARTS_S3}/analysis-results/*`],
    [/^s3:ListBucket$/, (r) => r === MARTS_S3 || r === AUDIT_S3],
    [/^s3:GetBucketLocation$/, (r) => r === MARTS_S3],
    [/^kms:(GenerateDataKey|Decrypt)$/, (r) => /key\/(marts|audit)$/.test(r)],
    [/^kms:GenerateMac$/, (r) => /key\/study$/.test(r)],
    [/^logs:(CreateLogStream|PutLogEvents)$/, (r) => r === '${aws_cloudwatch_log_group.function["analysis"].arn}:*'],
  ];
  const granted = (action: string, r: string): boolean => statements.some((s) => s.effect === 'Allow' && s.actions.includes(action) && s.resources.includes(r));
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    for (const a of s.actions) {
      const rule = allowed.find(([re]) => re.test(a));
      if (!rule) {
        f.push(`${s.where}: action ${a} is not one approved analyses need`);
        continue;
      }
      for (const r of s.resources) if (!rule[1](r)) f.push(`${s.where}: ${a} on ${r}`);
    }
    // listing the marts bucket only under the needed folders (or the results)
    if (s.actions.includes('s3:ListBucket') && s.resources.includes(MARTS_S3)) {
      const prefixes = s.conditions.filter((c) => c.variable === 's3:prefix' && c.test === 'StringLike').flatMap((c) => c.values);
      const ok = prefixes.length > 0 && prefixes.every((p) => p === 'analysis-results/*' || lists.folders.some((x) => p === `marts/${x}/*`));
      if (!ok) f.push(`${s.where}: s3:ListBucket of the marts bucket beyond the needed folders (${prefixes.join(', ') || 'no prefix condition'})`);
    }
  }
  for (const w of workgroups) if (!granted('athena:StartQueryExecution', w)) f.push(`cannot query in ${w}`);
  for (const t of lists.tables) if (!granted('glue:GetTable', tableArn(t))) f.push(`cannot read the catalogue entry of ${t}`);
  for (const x of lists.folders) if (!granted('s3:GetObject', `${MARTS_S3}/marts/${x}/*`)) f.push(`cannot read the files under marts/${x}/`);
  return f;
}

/** The analyst role: released files (GetObject, listing under releases/, Decrypt through S3 only), nothing else. */
export function checkAnalystGrants(statements: Statement[]): string[] {
  const f: string[] = [];
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    for (const a of s.actions) {
      const ok =
        (a === 's3:GetObject' && s.resources.every((r) => r === `${MARTS_S3}/releases/*`)) ||
        (a === 's3:ListBucket' && s.resources.every((r) => r === MARTS_S3) && s.conditions.some((c) => c.test === 'StringLike' && c.variable === 's3:prefix' && c.values.length > 0 && c.values.every((v) => v === 'releases/*'))) ||
        (a === 'kms:Decrypt' && s.resources.every((r) => /key\/marts$/.test(r)) && s.conditions.some((c) => c.test === 'StringEquals' && c.variable === 'kms:ViaService' && c.values.join() === 's3.eu-west-2.amazonaws.com'));
      if (!ok) f.push(`${s.where}: ${a} on ${s.resources.join(', ')} is more than reading released files`);
    }
  }
  if (!statements.some((s) => s.effect === 'Allow' && s.actions.includes('s3:GetObject'))) f.push('the analyst role cannot read released files');
  return f;
}

/** The study key: an HMAC key of local.kms_keys, GenerateMac for the analysis function only; the lake's key not for it. */
export function checkStudyKey(m: Module): string[] {
  const f: string[] = [];
  const key = m.locals.kms_keys?.study;
  if (!key) return ['local.kms_keys: no study key'];
  if (key.spec !== 'HMAC_256') f.push(`local.kms_keys.study: spec ${String(key.spec)}, not HMAC_256`);
  if (key.policy !== '${data.aws_iam_policy_document.kms_study.json}') f.push('local.kms_keys.study: policy is not kms_study');
  const analysis = '${aws_iam_role.function["analysis"].arn}';
  for (const s of list(m.docs.kms_study?.statement)) {
    const ids = list(s.principals).flatMap((p: Obj) => list(p.identifiers));
    const actions = typeof s.actions === 'string' ? [s.actions] : list(s.actions);
    if (actions.includes('kms:GenerateMac') && ids.join() !== analysis) f.push(`kms_study[${s.sid}]: GenerateMac for ${ids.join(', ')}`);
    if (actions.some((a: string) => /^kms:(Create\*|CreateGrant|\*|Decrypt|Encrypt|GenerateDataKey.*)$/.test(a))) f.push(`kms_study[${s.sid}]: ${actions.join(', ')}`);
  }
  const lakeKey = list(m.docs.kms_hmac?.statement).flatMap((s: Obj) => list(s.principals).flatMap((p: Obj) => list(p.identifiers)));
  for (const role of [analysis, '${aws_iam_role.analyst.arn}']) if (lakeKey.includes(role)) f.push(`aws_kms_key.hmac: ${role} may use the lake's pseudonym key`);
  return f;
}

/** Analysts assume their role only with MFA, and only AWS principals do. */
export function checkAnalystTrust(m: Module): string[] {
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

/** Per study: the marts its approved analyses (analyses/*.yaml) read. */
export function approvedNeeds(): Record<string, string[]> {
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
export function checkNeeds(studies: Record<string, { marts: string[] }>, needs: Record<string, string[]>): string[] {
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
