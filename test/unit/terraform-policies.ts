/**
 * References between the blocks of a Terraform configuration, and the IAM policies in it, for the checks of the
 * test/unit/terraform-*.test.ts files: which resources an expression refers to, a concrete ARN or name for one
 * environment, and the statements of a policy (an aws_iam_policy_document, or inline jsonencode({...})) or of every
 * policy attached to a role.
 */
import { parse } from '@cdktf/hcl2json';
import { blocks, isObj } from './terraform-config';
import type { Json, Obj, TfConfig } from './terraform-config';

// ---------------------------------------------------------------------------------------------------------
// Expression helpers
// ---------------------------------------------------------------------------------------------------------

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when `text` contains a reference to `addr` (e.g. `aws_s3_bucket.this["lake"]`) — not `aws_s3_bucket.lake_x`. */
export function refersTo(text: string, addr: string): boolean {
  return new RegExp(`(^|[^\\w.])${escapeRe(addr)}(?![\\w-])`).test(text);
}

/** Every string inside a JSON value. */
function strings(v: Json | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (isObj(v)) return Object.values(v).flatMap(strings);
  return [];
}

export function anyRefersTo(v: Json | undefined, addr: string): boolean {
  return strings(v).some((s) => refersTo(s, addr));
}

/** Names of the resources (or instances: `this["lake"]`) of `type` that `v` refers to (e.g. kms keys in a kms_master_key_id). */
export function referencedNames(v: Json | undefined, type: string): string[] {
  const names = new Set<string>();
  for (const s of strings(v)) {
    for (const m of s.matchAll(new RegExp(`(?:^|[^\\w.])${escapeRe(type)}\\.([A-Za-z_][\\w-]*(?:\\["[^"]*"\\])?)`, 'g'))) names.add(m[1]);
  }
  return [...names];
}

/** Resolves a whole-string `${local.x}` to the local's value (one level), else returns the value unchanged. */
export function resolveLocal(cfg: TfConfig, v: Json | undefined): Json | undefined {
  if (typeof v === 'string') {
    const m = /^\$\{local\.([A-Za-z_][\w-]*)\}$/.exec(v);
    if (m && m[1] in cfg.locals) return cfg.locals[m[1]];
  }
  return v;
}

export function asList(v: Json | undefined): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  return [typeof v === 'string' ? v : JSON.stringify(v)];
}

/** The resource of `type` whose `bucket` (or other attribute) refers to aws_s3_bucket.<bucket>. */
export function resourcesFor(cfg: TfConfig, type: string, attr: string, target: string): [string, Obj][] {
  return Object.entries(cfg.resource[type] ?? {}).filter(([, body]) => anyRefersTo(body[attr], target));
}

/**
 * A concrete ARN or name for one environment: sample values for the account, region and partition, the service
 * name's default and the environment, and the other locals (string values) expanded.
 */
export function concrete(cfg: TfConfig, s: string, environment: string): string {
  const sample: Record<string, string> = {
    'local.partition': 'aws',
    'local.region': 'eu-west-2',
    'local.account_id': '111111111111',
    'var.service_name': String(cfg.variable.service_name?.default),
    'var.environment': environment,
  };
  let out = s;
  for (let i = 0; i < 5 && out.includes('${'); i++) {
    out = out.replace(/\$\{([\w.]+)\}/g, (all, ref: string) => {
      if (ref in sample) return sample[ref];
      const local = /^local\.(\w+)$/.exec(ref);
      const v = local ? cfg.locals[local[1]] : undefined;
      return typeof v === 'string' ? v : all;
    });
  }
  return out;
}

/** Parses an HCL expression (object/tuple literal) into JSON by wrapping it in an attribute. */
async function parseHclExpression(expr: string): Promise<Json> {
  const j = (await parse('expression.tf', `value = ${expr}\n`)) as Json;
  if (!isObj(j) || !('value' in j)) throw new Error(`cannot parse expression: ${expr.slice(0, 80)}`);
  return j.value;
}

/** If `v` is `${jsonencode(<hcl>)}`, the decoded HCL value; otherwise undefined. */
export async function decodeJsonencode(v: Json | undefined): Promise<Json | undefined> {
  if (typeof v !== 'string') return undefined;
  const m = /^\$\{jsonencode\(([\s\S]*)\)\}$/.exec(v.trim());
  return m ? parseHclExpression(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------------------

export interface Statement {
  where: string;
  sid: string;
  effect: 'Allow' | 'Deny';
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  principals: { type: string; identifiers: string[] }[];
  conditions: { test: string; variable: string; values: string[] }[];
}

/** Statements of an aws_iam_policy_document data source, including `dynamic "statement"` contents. */
export function docStatements(cfg: TfConfig, name: string): Statement[] {
  const doc = cfg.data.aws_iam_policy_document?.[name];
  if (!doc) throw new Error(`no aws_iam_policy_document.${name}`);
  const raw = [...blocks(doc, 'statement'), ...blocks(doc.dynamic, 'statement').flatMap((d) => blocks(d, 'content'))];
  return raw.map((s, i) => ({
    where: `data.aws_iam_policy_document.${name}[${typeof s.sid === 'string' ? s.sid : i}]`,
    sid: typeof s.sid === 'string' ? s.sid : String(i),
    effect: s.effect === 'Deny' ? 'Deny' : 'Allow',
    actions: asList(resolveLocal(cfg, s.actions)),
    notActions: asList(resolveLocal(cfg, s.not_actions)),
    resources: asList(resolveLocal(cfg, s.resources)),
    notResources: asList(resolveLocal(cfg, s.not_resources)),
    principals: blocks(s, 'principals').map((p) => ({
      type: String(p.type),
      identifiers: asList(resolveLocal(cfg, p.identifiers)),
    })),
    conditions: blocks(s, 'condition').map((c) => ({
      test: String(c.test),
      variable: String(c.variable),
      values: asList(resolveLocal(cfg, c.values)),
    })),
  }));
}

/** Statements of an IAM policy written inline as jsonencode({...}) (AWS JSON policy grammar). */
function jsonPolicyStatements(policy: Json, where: string): Statement[] {
  if (!isObj(policy)) throw new Error(`${where}: policy is not an object`);
  const st = policy.Statement;
  const list = Array.isArray(st) ? st.filter(isObj) : isObj(st) ? [st] : [];
  return list.map((s, i) => {
    const principals: Statement['principals'] = [];
    if (s.Principal === '*') principals.push({ type: '*', identifiers: ['*'] });
    else if (isObj(s.Principal)) {
      for (const [type, ids] of Object.entries(s.Principal)) principals.push({ type, identifiers: asList(ids) });
    }
    const conditions: Statement['conditions'] = [];
    if (isObj(s.Condition)) {
      for (const [test, byVar] of Object.entries(s.Condition)) {
        if (!isObj(byVar)) continue;
        for (const [variable, values] of Object.entries(byVar)) conditions.push({ test, variable, values: asList(values) });
      }
    }
    return {
      where: `${where}[${typeof s.Sid === 'string' ? s.Sid : i}]`,
      sid: typeof s.Sid === 'string' ? s.Sid : String(i),
      effect: s.Effect === 'Deny' ? 'Deny' : 'Allow',
      actions: asList(s.Action),
      notActions: asList(s.NotAction),
      resources: asList(s.Resource),
      notResources: asList(s.NotResource),
      principals,
      conditions,
    };
  });
}

/**
 * Statements of a `policy`-like attribute: a reference to an aws_iam_policy_document, or an inline
 * jsonencode({...}). Anything else (heredoc JSON, file(), templatefile()) cannot be analysed: reported.
 */
export async function policyStatements(
  cfg: TfConfig,
  value: Json | undefined,
  where: string,
): Promise<{ statements: Statement[]; findings: string[] }> {
  if (typeof value === 'string') {
    const m = /^\$\{data\.aws_iam_policy_document\.([A-Za-z_][\w-]*(?:\["[^"]*"\])?)\.json\}$/.exec(value);
    if (m) {
      const doc = cfg.data.aws_iam_policy_document?.[m[1]];
      if (!doc) return { statements: [], findings: [`${where}: unknown policy document ${m[1]}`] };
      const findings: string[] = [];
      for (const k of ['source_policy_documents', 'override_policy_documents', 'source_json', 'override_json']) {
        if (k in doc) findings.push(`${where}: ${m[1]} uses ${k}, which this check cannot follow`);
      }
      return { statements: docStatements(cfg, m[1]), findings };
    }
    const decoded = await decodeJsonencode(value);
    if (decoded !== undefined) return { statements: jsonPolicyStatements(decoded, where), findings: [] };
  }
  return { statements: [], findings: [`${where}: policy is neither an aws_iam_policy_document nor jsonencode({...})`] };
}

/** IAM action glob match (case-insensitive, `*` and `?`). */
function actionCovers(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c))).join('')}$`, 'i');
  return re.test(action);
}

/** IAM resource glob match (`*` and `?`, case-sensitive like ARNs). */
export function resourceCovers(pattern: string, arn: string): boolean {
  return new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c))).join('')}$`).test(arn);
}

export function statementAllows(s: Statement, action: string): boolean {
  return s.effect === 'Allow' && s.actions.some((a) => actionCovers(a, action));
}

/** Every policy-bearing attribute in a config, with where it is. */
export function policyAttributes(cfg: TfConfig): { where: string; value: Json | undefined; kind: string; owner: string }[] {
  const out: { where: string; value: Json | undefined; kind: string; owner: string }[] = [];
  const attrs: Record<string, string[]> = {
    aws_iam_role_policy: ['policy'],
    aws_iam_policy: ['policy'],
    aws_iam_role: ['assume_role_policy'],
    aws_kms_key: ['policy'],
    aws_s3_bucket_policy: ['policy'],
    aws_sqs_queue_policy: ['policy'],
    aws_sns_topic_policy: ['policy'],
    aws_sns_topic: ['policy'],
    aws_sqs_queue: ['policy'],
  };
  for (const [type, names] of Object.entries(attrs)) {
    for (const [name, body] of Object.entries(cfg.resource[type] ?? {})) {
      for (const a of names) if (a in body) out.push({ where: `${type}.${name}.${a}`, value: body[a], kind: type, owner: name });
      if (type === 'aws_iam_role') {
        for (const inline of blocks(body, 'inline_policy')) {
          out.push({ where: `${type}.${name}.inline_policy`, value: inline.policy, kind: 'inline_policy', owner: name });
        }
      }
    }
  }
  return out;
}

/** Statements of every policy attached to the role `role` (inline, role policies, customer policies). */
export async function rolePolicyStatements(cfg: TfConfig, role: string): Promise<{ statements: Statement[]; findings: string[] }> {
  const statements: Statement[] = [];
  const findings: string[] = [];
  const addr = `aws_iam_role.${role}`;
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy ?? {})) {
    if (!anyRefersTo(body.role, addr)) continue;
    const r = await policyStatements(cfg, body.policy, `aws_iam_role_policy.${name}`);
    statements.push(...r.statements);
    findings.push(...r.findings);
  }
  for (const inline of blocks(cfg.resource.aws_iam_role?.[role], 'inline_policy')) {
    const r = await policyStatements(cfg, inline.policy, `${addr}.inline_policy`);
    statements.push(...r.statements);
    findings.push(...r.findings);
  }
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy_attachment ?? {})) {
    if (!anyRefersTo(body.role, addr)) continue;
    const policies = referencedNames(body.policy_arn, 'aws_iam_policy');
    if (policies.length === 0) findings.push(`aws_iam_role_policy_attachment.${name}: managed policy ${String(body.policy_arn)} cannot be checked`);
    for (const p of policies) {
      const r = await policyStatements(cfg, cfg.resource.aws_iam_policy?.[p]?.policy, `aws_iam_policy.${p}`);
      statements.push(...r.statements);
      findings.push(...r.findings);
    }
  }
  return { statements, findings };
}
