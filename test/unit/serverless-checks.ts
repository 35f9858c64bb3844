/**
 * The checkers of the deployment wiring in serverless.yml against config/aws.yml, config/local.yml and the Terraform
 * module (terraform/modules/tributary), for test/unit/serverless-functions.test.ts and
 * test/unit/serverless-api-gateway.test.ts: the parts of the module the wiring depends on (parsed with
 * @cdktf/hcl2json), the functions' log groups and roles, the API Gateway access-log format, and a small resolver for
 * the `${self:...}` and `${ssm:...}` forms used here (with fallbacks) that replays how Serverless resolves the
 * endpoint settings for a given set of SSM values. The checkers return findings ([] = the wiring holds).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parse as parseHcl } from '@cdktf/hcl2json';

export const ROOT = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(ROOT, 'terraform', 'modules', 'tributary');
export const STAGES = ['dev', 'staging', 'prod'];

export type Json = any; // parsed YAML / HCL JSON
export type Obj = Record<string, Json>;

export const readYaml = (file: string): Obj => YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
export const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const first = (v: Json): Obj => (Array.isArray(v) ? v[0] : v);

// ---------------------------------------------------------------------------------------------------------
// Terraform (the parts the wiring depends on)
// ---------------------------------------------------------------------------------------------------------

export interface Tf {
  locals: Obj;
  variables: Obj;
  resources: Record<string, Record<string, Obj>>;
  docs: Record<string, Obj>;
}

export async function loadModule(): Promise<Tf> {
  const tf: Tf = { locals: {}, variables: {}, resources: {}, docs: {} };
  for (const f of fs.readdirSync(MODULE_DIR).filter((x) => x.endsWith('.tf'))) {
    const j = (await parseHcl(f, fs.readFileSync(path.join(MODULE_DIR, f), 'utf8'))) as Obj;
    for (const l of (j.locals ?? []) as Obj[]) Object.assign(tf.locals, l);
    for (const [name, body] of Object.entries<Json>(j.variable ?? {})) tf.variables[name] = first(body);
    for (const [type, byName] of Object.entries<Json>(j.resource ?? {})) {
      tf.resources[type] ??= {};
      for (const [name, body] of Object.entries<Json>(byName)) tf.resources[type][name] = first(body);
    }
    for (const [name, body] of Object.entries<Json>(j.data?.aws_iam_policy_document ?? {})) tf.docs[name] = first(body);
  }
  return tf;
}

/** local.functions: `${toset(["ingest", ...])}` → the keys. */
export function tfFunctions(tf: Tf): string[] {
  const m = /^\$\{toset\((\[[^\]]*\])\)\}$/.exec(String(tf.locals.functions));
  if (!m) throw new Error(`local.functions is not a toset([...]) literal: ${String(tf.locals.functions)}`);
  return JSON.parse(m[1]) as string[];
}

/**
 * The log group names Terraform creates for a stage: aws_cloudwatch_log_group.function's `name`, with
 * ${local.prefix}, ${var.service_name} (its default), ${var.environment} and ${each.key} substituted.
 */
export function tfLogGroups(tf: Tf, stage: string): string[] {
  const lg = tf.resources.aws_cloudwatch_log_group?.function;
  if (!lg || lg.for_each !== '${local.functions}') throw new Error('aws_cloudwatch_log_group.function must have for_each = local.functions');
  return tfFunctions(tf).map((key) => {
    const vars: Record<string, string> = {
      'local.prefix': String(tf.locals.prefix),
      'var.service_name': String(tf.variables.service_name?.default),
      'var.environment': stage,
      'each.key': key,
    };
    let name = String(lg.name);
    for (let i = 0; i < 5 && name.includes('${'); i++) name = name.replace(/\$\{([\w.]+)\}/g, (all, ref: string) => vars[ref] ?? all);
    if (name.includes('${')) throw new Error(`cannot expand log group name ${String(lg.name)}`);
    return name;
  });
}

/** The function roles: aws_iam_role.function, one instance per key of local.function_roles (iam.tf). */
function tfRoleFunctions(tf: Tf): string[] {
  if (tf.resources.aws_iam_role?.function?.for_each !== '${local.function_roles}') return [];
  return isObj(tf.locals.function_roles) ? Object.keys(tf.locals.function_roles) : [];
}

/**
 * The static statements (actions, resources) of the policies every function role gets: the aws_iam_role_policy
 * instances over local.function_roles, with the policy document of the same key; each.key is the function.
 */
function tfRoleStatements(tf: Tf, fn: string): { actions: string[]; resources: string[] }[] {
  const out: { actions: string[]; resources: string[] }[] = [];
  if (!tfRoleFunctions(tf).includes(fn)) return out;
  for (const body of Object.values(tf.resources.aws_iam_role_policy ?? {})) {
    if (body.for_each !== '${local.function_roles}' || body.role !== '${aws_iam_role.function[each.key].id}') continue;
    const m = /^\$\{data\.aws_iam_policy_document\.(\w+)\[each\.key\]\.json\}$/.exec(String(body.policy));
    const doc = m ? tf.docs[m[1]] : undefined;
    if (!doc || doc.for_each !== body.for_each) throw new Error(`aws_iam_role_policy for ${fn}: policy ${String(body.policy)} is not a known policy document`);
    const key = (v: string): string => v.split('[each.key]').join(`[${JSON.stringify(fn)}]`);
    for (const s of (doc.statement ?? []) as Obj[]) out.push({ actions: s.actions ?? [], resources: ((s.resources ?? []) as string[]).map(key) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// serverless.yml ↔ config ↔ Terraform
// ---------------------------------------------------------------------------------------------------------

/** The Terraform role of a serverless.yml function: `notAllowed` → `not_allowed`. */
const roleOf = (fn: string): string => fn.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Per function: disableLogs: true; a Serverless name that is the Terraform log group's (<service>-<stage>-<fn>);
 * an explicit role `${self:custom.cfg.<fn>RoleArn}`, which config/aws.yml reads from the SSM parameter
 * Terraform publishes for the function's own role, and config/local.yml defines; that role may write the
 * function's log group.
 */
export function functionFindings(sls: Obj, aws: Obj, local: Obj, tf: Tf): string[] {
  const findings: string[] = [];
  const fns = Object.entries<Obj>(sls.functions ?? {});
  if (fns.length === 0) findings.push('serverless.yml declares no functions');
  if (sls.provider?.iam !== undefined || sls.provider?.iamRoleStatements !== undefined || sls.provider?.role !== undefined) {
    findings.push('provider: no shared role or role statements (each function has its own Terraform role)');
  }
  const ssmCore = isObj(tf.locals.ssm_core) ? tf.locals.ssm_core : {};
  for (const [fn, def] of fns) {
    if (def.disableLogs !== true) findings.push(`${fn}: disableLogs is not true (Serverless would create the log group Terraform creates)`);
    if (def.name !== undefined) findings.push(`${fn}: custom name ${String(def.name)} (log groups and roles are made for ${sls.service}-<stage>-${fn})`);
    for (const stage of STAGES) {
      const group = `/aws/lambda/${sls.service}-${stage}-${fn}`;
      if (!tfLogGroups(tf, stage).includes(group)) findings.push(`${fn}: Terraform creates no log group ${group}`);
    }
    const key = `${fn}RoleArn`;
    if (def.role !== `\${self:custom.cfg.${key}}`) {
      findings.push(`${fn}: role is ${def.role === undefined ? 'not set' : String(def.role)}, expected \${self:custom.cfg.${key}}`);
      continue;
    }
    const role = `aws_iam_role.function[${JSON.stringify(fn)}]`;
    const param = `${roleOf(fn)}_role_arn`;
    if (aws[key] !== `\${ssm:/tributary/\${sls:stage}/${param}}`) findings.push(`${fn}: config/aws.yml ${key} does not read SSM ${param}`);
    if (typeof local[key] !== 'string' || !local[key]) findings.push(`${fn}: config/local.yml has no ${key}`);
    if (ssmCore[param] !== `\${${role}.arn}`) findings.push(`${fn}: Terraform publishes no SSM ${param} = ${role}.arn`);
    if (!tfRoleFunctions(tf).includes(fn)) {
      findings.push(`${fn}: no ${role}`);
      continue;
    }
    const logs = `\${aws_cloudwatch_log_group.function["${fn}"].arn}:*`;
    if (!tfRoleStatements(tf, fn).some((s) => s.actions.includes('logs:PutLogEvents') && s.resources.includes(logs))) {
      findings.push(`${fn}: ${role} may not write its log group`);
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// API Gateway access logs
// ---------------------------------------------------------------------------------------------------------

/** The only variables the access-log format may use: ids and metadata of the request, never its content. */
export const ACCESS_LOG_VARIABLES = [
  '$context.requestId',
  '$context.extendedRequestId',
  '$context.requestTime',
  '$context.httpMethod',
  '$context.resourcePath',
  '$context.status',
  '$context.responseLength',
  '$context.identity.sourceIp',
  '$context.error.responseType',
  '$context.authorizer.error',
  '$context.integrationLatency',
];

/** Variables that would put bodies, headers, query strings, paths with ids or token claims into the logs. */
const FORBIDDEN_IN_ACCESS_LOG = [
  /^\$input\b/, // request body and parameters ($input.body, $input.json(), $input.params())
  /^\$request\./, // $request.body / header / querystring / path
  /^\$method\.request\./, // $method.request.header.Authorization, querystring, path
  /^\$context\.(requestOverride|responseOverride)\./,
  /^\$context\.path$/, // the actual path, with the resource ids (resourcePath is the route template)
  /^\$context\.authorizer\.(?!error$)/, // claims and context the authorizer returns
  /^\$context\.identity\.(?!sourceIp$)/, // user, caller, userArn, cognito ids, clientCert, userAgent...
  /^\$util\b/,
  /^\$stageVariables\b/,
];

/**
 * provider.logs.restApi: access logs on (the refusals API Gateway makes before any function runs are recorded),
 * execution logs and their full request/response data off, the account-level CloudWatch role left to Terraform,
 * and a JSON format holding requestId and status and nothing but ACCESS_LOG_VARIABLES.
 */
export function accessLogFindings(restApi: Json): string[] {
  if (!isObj(restApi)) return [`provider.logs.restApi is ${JSON.stringify(restApi)}, not an object`];
  const findings: string[] = [];
  if (restApi.accessLogging !== true) findings.push('accessLogging is not true');
  // Serverless v3 defaults both to true: execution logs at INFO with full request/response data.
  if (restApi.executionLogging !== false) findings.push('executionLogging is not false (execution logs can contain payloads)');
  if (restApi.fullExecutionData !== false) findings.push('fullExecutionData is not false (execution logs would hold full requests and responses)');
  if (restApi.roleManagedExternally !== true) findings.push('roleManagedExternally is not true (Serverless would set the account-level CloudWatch role)');
  if (restApi.role !== undefined) findings.push('role is set (the account-level CloudWatch role belongs to Terraform)');
  const format = restApi.format;
  if (typeof format !== 'string') return [...findings, 'no format (Serverless\'s default logs caller and user)'];
  try {
    JSON.parse(format);
  } catch {
    findings.push('format is not JSON');
  }
  if (format.includes('\n')) findings.push('format spans several lines (one line per request)');
  const used = [...format.matchAll(/\$[A-Za-z][\w.]*/g)].map((m) => m[0].replace(/\.$/, ''));
  for (const v of ['$context.requestId', '$context.status']) if (!used.includes(v)) findings.push(`format has no ${v}`);
  for (const v of used) {
    if (FORBIDDEN_IN_ACCESS_LOG.some((re) => re.test(v))) findings.push(`format logs ${v} (bodies, headers, query strings, ids or claims)`);
    else if (!ACCESS_LOG_VARIABLES.includes(v)) findings.push(`format logs ${v}, which is not an allowed id or metadata variable`);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// A resolver for the Serverless variables used by the endpoint settings
// ---------------------------------------------------------------------------------------------------------

/**
 * Resolves `${self:a.b}` / `${ssm:/tributary/${sls:stage}/name}` with `, fallback` (null, a number or a quoted
 * string), innermost variable first, like Serverless v3: a variable that is the whole value keeps its type, one
 * inside a string is stringified, and a source that resolves to null with no fallback is an error. `ssm` maps a
 * parameter name to its value: a string (String) or a list (StringList, which Serverless returns as a list).
 */
function resolver(root: Obj, stage: string, ssm: Record<string, string | string[]>): (v: Json) => Json {
  const source = (src: string): Json => {
    const s = src.trim();
    if (s === 'null') return null;
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    if (/^'.*'$|^".*"$/.test(s)) return s.slice(1, -1);
    if (s === 'sls:stage') return stage;
    if (s.startsWith('self:')) {
      let v: Json = root;
      for (const k of s.slice(5).split('.')) v = isObj(v) ? v[k] : undefined;
      return v === undefined ? null : resolve(v);
    }
    const m = /^ssm:\/tributary\/[^/]+\/(\w+)$/.exec(s);
    if (m) return ssm[m[1]] ?? null;
    throw new Error(`unsupported variable source ${s}`);
  };
  const variable = (expr: string): Json => {
    const sources = expr.split(',');
    for (const [i, src] of sources.entries()) {
      const v = source(src);
      if (v !== null || (i > 0 && src.trim() === 'null')) return v;
    }
    throw new Error(`Cannot resolve variable \${${expr}}: no value and no fallback`);
  };
  const resolve = (v: Json): Json => {
    if (Array.isArray(v)) return v.map(resolve);
    if (isObj(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    if (typeof v !== 'string') return v;
    let s = v;
    for (;;) {
      const m = /\$\{([^${}]*)\}/.exec(s); // innermost: no nested ${ inside
      if (!m) return s;
      const value = variable(m[1]);
      if (m[0] === s) return value;
      s = s.slice(0, m.index) + String(value) + s.slice(m.index + m[0].length);
    }
  };
  return resolve;
}

/** The endpoint settings Serverless would deploy for a stage configuration and a set of SSM values. */
export function endpointFor(sls: Obj, cfg: Obj, ssm: Record<string, string | string[]>) {
  const root = clone(sls);
  root.custom.cfg = clone(cfg);
  const resolve = resolver(root, 'dev', ssm);
  return {
    endpointType: resolve(root.provider.endpointType),
    vpcEndpointIds: resolve(root.provider.vpcEndpointIds),
    resourcePolicy: resolve(root.provider.apiGateway.resourcePolicy),
  };
}
