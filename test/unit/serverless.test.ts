/**
 * Static checks of the deployment wiring in serverless.yml against config/aws.yml, config/local.yml and the
 * Terraform module (terraform/modules/tributary), without deploying anything (no AWS account here):
 * - every function sets disableLogs: true, Terraform creates its log group (/aws/lambda/tributary-<stage>-<fn>)
 *   and gives it an explicit role of its own, published to SSM and writing that log group;
 * - the authorizer runs on every request (no result cache, no identity source), so every refused token is audited;
 * - API Gateway throttling (stage-wide, write routes, usage plan) and the endpoint type / private API read the
 *   per-stage config, and the REGIONAL default gets no resource policy while PRIVATE gets one bound to the VPC
 *   endpoints Terraform publishes.
 *
 * serverless.yml is parsed with `yaml` (Serverless variables `${...}` stay strings). A small resolver for the
 * `${self:...}` and `${ssm:...}` forms used here (with fallbacks) replays how Serverless resolves the endpoint
 * settings for a given set of SSM values. The checkers return findings and also run on broken copies.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { parse as parseHcl } from '@cdktf/hcl2json';

const ROOT = path.resolve(__dirname, '../..');
const MODULE_DIR = path.join(ROOT, 'terraform', 'modules', 'tributary');
const STAGES = ['dev', 'staging', 'prod'];

type Json = any; // parsed YAML / HCL JSON
type Obj = Record<string, Json>;

const readYaml = (file: string): Obj => YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const first = (v: Json): Obj => (Array.isArray(v) ? v[0] : v);

// ---------------------------------------------------------------------------------------------------------
// Terraform (the parts the wiring depends on)
// ---------------------------------------------------------------------------------------------------------

interface Tf {
  locals: Obj;
  variables: Obj;
  resources: Record<string, Record<string, Obj>>;
  docs: Record<string, Obj>;
}

async function loadModule(): Promise<Tf> {
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
function tfFunctions(tf: Tf): string[] {
  const m = /^\$\{toset\((\[[^\]]*\])\)\}$/.exec(String(tf.locals.functions));
  if (!m) throw new Error(`local.functions is not a toset([...]) literal: ${String(tf.locals.functions)}`);
  return JSON.parse(m[1]) as string[];
}

/**
 * The log group names Terraform creates for a stage: aws_cloudwatch_log_group.function's `name`, with
 * ${local.prefix}, ${var.service_name} (its default), ${var.environment} and ${each.key} substituted.
 */
function tfLogGroups(tf: Tf, stage: string): string[] {
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
function functionFindings(sls: Obj, aws: Obj, local: Obj, tf: Tf): string[] {
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
const ACCESS_LOG_VARIABLES = [
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
function accessLogFindings(restApi: Json): string[] {
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
function endpointFor(sls: Obj, cfg: Obj, ssm: Record<string, string | string[]>) {
  const root = clone(sls);
  root.custom.cfg = clone(cfg);
  const resolve = resolver(root, 'dev', ssm);
  return {
    endpointType: resolve(root.provider.endpointType),
    vpcEndpointIds: resolve(root.provider.vpcEndpointIds),
    resourcePolicy: resolve(root.provider.apiGateway.resourcePolicy),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

const sls = readYaml('serverless.yml');
const awsCfg = readYaml('config/aws.yml');
const localCfg = readYaml('config/local.yml');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
let tf: Tf;

beforeAll(async () => {
  tf = await loadModule();
});

describe('serverless.yml functions ↔ Terraform log groups and roles', () => {
  test('serverless.yml uses the config file per stage, then config/aws.yml', () => {
    expect(sls.service).toBe('tributary');
    expect(tf.variables.service_name.default).toBe(sls.service);
    expect(sls.custom.cfg).toBe('${file(./config/${sls:stage}.yml), file(./config/aws.yml)}');
  });

  test('the log group names Terraform creates are the Serverless function names', () => {
    expect(tfLogGroups(tf, 'dev')).toContain('/aws/lambda/tributary-dev-notAllowed');
    expect(tfLogGroups(tf, 'prod')).toContain('/aws/lambda/tributary-prod-validate');
  });

  test('every function: disableLogs, a Terraform log group, its own explicit role (SSM, local config, log rights)', () => {
    expect(Object.keys(sls.functions).sort()).toEqual(['analysis', 'authorizer', 'etl', 'importChunk', 'importFinish', 'importPlan', 'ingest', 'metadata', 'notAllowed', 'ops', 'recovery', 'validate']);
    expect(functionFindings(sls, awsCfg, localCfg, tf)).toEqual([]);
  });

  test('every function of serverless.yml has a Terraform function entry (and so a log group and a role)', () => {
    const tfFns = tfFunctions(tf);
    for (const fn of Object.keys(sls.functions)) expect(tfFns).toContain(fn);
  });

  test('the checker flags a function without disableLogs, without a Terraform log group, or with a shared role', () => {
    const s = clone(sls);
    delete s.functions.etl.disableLogs;
    s.functions.validate.role = '${self:custom.cfg.metadataRoleArn}'; // the original wiring: 500s in AWS
    s.functions.report = { handler: 'dist/src/handlers/report.handler', disableLogs: true, role: '${self:custom.cfg.reportRoleArn}' };
    delete s.functions.notAllowed.role;
    expect(functionFindings(s, awsCfg, localCfg, tf)).toEqual([
      'validate: role is ${self:custom.cfg.metadataRoleArn}, expected ${self:custom.cfg.validateRoleArn}',
      'etl: disableLogs is not true (Serverless would create the log group Terraform creates)',
      'notAllowed: role is not set, expected ${self:custom.cfg.notAllowedRoleArn}',
      'report: Terraform creates no log group /aws/lambda/tributary-dev-report',
      'report: Terraform creates no log group /aws/lambda/tributary-staging-report',
      'report: Terraform creates no log group /aws/lambda/tributary-prod-report',
      'report: config/aws.yml reportRoleArn does not read SSM report_role_arn',
      'report: config/local.yml has no reportRoleArn',
      'report: Terraform publishes no SSM report_role_arn = aws_iam_role.function["report"].arn',
      'report: no aws_iam_role.function["report"]',
    ]);
  });

  test('the checker flags a function missing from Terraform, and a role that cannot write its log group', () => {
    const t = clone(tf);
    t.locals.functions = String(t.locals.functions).replace('"validate", ', '');
    // The Logs statement every role gets, naming one function's log group instead of each.key's.
    t.docs.function.statement[0].resources = ['${aws_cloudwatch_log_group.function["metadata"].arn}:*'];
    expect(functionFindings(sls, awsCfg, localCfg, t)).toEqual([
      'authorizer: aws_iam_role.function["authorizer"] may not write its log group',
      'ingest: aws_iam_role.function["ingest"] may not write its log group',
      ...STAGES.map((st) => `validate: Terraform creates no log group /aws/lambda/tributary-${st}-validate`),
      'validate: aws_iam_role.function["validate"] may not write its log group',
      'etl: aws_iam_role.function["etl"] may not write its log group',
      'recovery: aws_iam_role.function["recovery"] may not write its log group',
      'analysis: aws_iam_role.function["analysis"] may not write its log group',
      'ops: aws_iam_role.function["ops"] may not write its log group',
      'importPlan: aws_iam_role.function["importPlan"] may not write its log group',
      'importChunk: aws_iam_role.function["importChunk"] may not write its log group',
      'importFinish: aws_iam_role.function["importFinish"] may not write its log group',
      'notAllowed: aws_iam_role.function["notAllowed"] may not write its log group',
    ]);
  });

  test('the audit bucket reaches every function (provider-level AUDIT_BUCKET, from SSM in AWS), the authorizer included', () => {
    expect(sls.provider.environment.AUDIT_BUCKET).toBe('${self:custom.cfg.auditBucket}');
    expect(awsCfg.auditBucket).toBe('${ssm:/tributary/${sls:stage}/audit_bucket}');
    expect(localCfg.auditBucket).toBeTruthy();
    for (const def of Object.values<Obj>(sls.functions)) expect(def.environment?.AUDIT_BUCKET).toBeUndefined();
  });
});

describe('recovery: the scheduled roll-forward and rollback (docs/commit-protocol.md)', () => {
  test('a scheduled function every minute, its own role, long enough to work through the outbox', () => {
    const fn = sls.functions.recovery;
    expect(fn.handler).toBe('dist/src/handlers/recovery.handler');
    expect(fn.role).toBe('${self:custom.cfg.recoveryRoleArn}');
    expect(fn.events).toEqual([{ schedule: 'rate(1 minute)' }]);
    expect(fn.timeout).toBeGreaterThanOrEqual(60);
    expect(awsCfg.recoveryRoleArn).toBe('${ssm:/tributary/${sls:stage}/recovery_role_arn}');
  });
});

describe('authorizer: every request runs it, so every refused token is audited', () => {
  test('REQUEST authorizer, no result cache, no identity source', () => {
    expect(sls.custom.authorizer).toEqual({ name: 'authorizer', type: 'request', resultTtlInSeconds: 0 });
    expect(sls.functions.authorizer.events).toBeUndefined();
  });

  test('every write and $validate route uses it; only metadata and the refusals are open', () => {
    for (const [fn, def] of Object.entries<Obj>(sls.functions)) {
      for (const ev of def.events ?? []) {
        if (!ev.http) continue;
        if (fn === 'metadata' || fn === 'notAllowed') expect(ev.http.authorizer).toBeUndefined();
        else expect({ fn, path: ev.http.path, authorizer: ev.http.authorizer }).toEqual({ fn, path: ev.http.path, authorizer: '${self:custom.authorizer}' });
      }
    }
  });
});

describe('API Gateway throttling from the per-stage config', () => {
  const KEYS = ['apiThrottleRateLimit', 'apiThrottleBurstLimit', 'ingestThrottleRateLimit', 'ingestThrottleBurstLimit'];

  test('stage-wide limits (serverless-api-gateway-throttling, installed) read cfg', () => {
    expect(sls.plugins).toContain('serverless-api-gateway-throttling');
    expect(pkg.devDependencies['serverless-api-gateway-throttling']).toBeDefined();
    expect(sls.custom.apiGatewayThrottling).toEqual({
      maxRequestsPerSecond: '${self:custom.cfg.apiThrottleRateLimit}',
      maxConcurrentRequests: '${self:custom.cfg.apiThrottleBurstLimit}',
    });
  });

  test('the usage plan throttle reads cfg', () => {
    expect(sls.provider.apiGateway.usagePlan).toEqual({
      throttle: { burstLimit: '${self:custom.cfg.apiThrottleBurstLimit}', rateLimit: '${self:custom.cfg.apiThrottleRateLimit}' },
    });
  });

  test('every ingest route has the write-route limits, which read cfg', () => {
    expect(sls.custom.ingestThrottling).toEqual({
      maxRequestsPerSecond: '${self:custom.cfg.ingestThrottleRateLimit}',
      maxConcurrentRequests: '${self:custom.cfg.ingestThrottleBurstLimit}',
    });
    const events = (sls.functions.ingest.events as Obj[]).filter((e) => e.http);
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e.http.throttling).toBe('${self:custom.ingestThrottling}');
  });

  test.each([
    ['config/aws.yml', awsCfg],
    ['config/local.yml', localCfg],
  ])('%s: positive integer limits, write routes within the stage limits and the burst within ingest concurrency', (_f, cfg) => {
    for (const k of KEYS) expect({ k, ok: Number.isInteger(cfg[k]) && cfg[k] > 0 }).toEqual({ k, ok: true });
    expect(cfg.ingestThrottleRateLimit).toBeLessThanOrEqual(cfg.apiThrottleRateLimit);
    expect(cfg.ingestThrottleBurstLimit).toBeLessThanOrEqual(cfg.apiThrottleBurstLimit);
    expect(cfg.ingestThrottleBurstLimit).toBeLessThanOrEqual(cfg.ingestConcurrency);
  });
});

describe('endpoint type and the optional private API', () => {
  const regional = { api_endpoint_type: 'REGIONAL' };
  const privateApi = { api_endpoint_type: 'PRIVATE', api_vpc_endpoint_ids: ['vpce-0a1b2c3d', 'vpce-4e5f6a7b'] };

  test('provider.endpointType, vpcEndpointIds and the resource policy read cfg', () => {
    expect(sls.provider.endpointType).toBe('${self:custom.cfg.apiEndpointType}');
    expect(sls.provider.vpcEndpointIds).toBe('${self:custom.cfg.apiVpcEndpointIds, null}');
    expect(sls.provider.apiGateway.resourcePolicy).toBe('${self:custom.apiResourcePolicy.${self:custom.cfg.apiEndpointType}}');
  });

  test('config/aws.yml reads what Terraform publishes: the endpoint type (required) and the VPC endpoint ids (optional)', () => {
    expect(awsCfg.apiEndpointType).toBe('${ssm:/tributary/${sls:stage}/api_endpoint_type}');
    expect(awsCfg.apiVpcEndpointIds).toBe('${ssm:/tributary/${sls:stage}/api_vpc_endpoint_ids, null}');
    expect(tf.locals.ssm_core.api_endpoint_type).toBe('${var.private_api ? "PRIVATE" : "REGIONAL"}');
    const ids = tf.resources.aws_ssm_parameter.api_vpc_endpoint_ids;
    expect(ids).toMatchObject({ count: '${var.private_api ? 1 : 0}', type: 'StringList', name: '${local.ssm_prefix}/api_vpc_endpoint_ids' });
    expect(tf.variables.private_api.default).toBe(false);
  });

  test('there is a resource policy for exactly the endpoint types Terraform can publish', () => {
    const published = [...String(tf.locals.ssm_core.api_endpoint_type).matchAll(/"([A-Z]+)"/g)].map((m) => m[1]).sort();
    expect(Object.keys(sls.custom.apiResourcePolicy).sort()).toEqual(published);
  });

  test('default (private_api = false): REGIONAL, no VPC endpoints, no resource policy', () => {
    expect(endpointFor(sls, awsCfg, regional)).toEqual({ endpointType: 'REGIONAL', vpcEndpointIds: null, resourcePolicy: [] });
    expect(localCfg.apiEndpointType).toBe('REGIONAL');
    expect(endpointFor(sls, localCfg, {})).toEqual({ endpointType: 'REGIONAL', vpcEndpointIds: null, resourcePolicy: [] });
  });

  test('private_api = true: PRIVATE, the VPC endpoints, and a policy denying invoke from anywhere else', () => {
    const e = endpointFor(sls, awsCfg, privateApi);
    expect(e.endpointType).toBe('PRIVATE');
    expect(e.vpcEndpointIds).toEqual(privateApi.api_vpc_endpoint_ids);
    expect(e.resourcePolicy).toEqual([
      { Sid: 'InvokeThroughVpcEndpoint', Effect: 'Allow', Principal: '*', Action: 'execute-api:Invoke', Resource: 'execute-api:/*' },
      {
        Sid: 'DenyOutsideVpcEndpoint',
        Effect: 'Deny',
        Principal: '*',
        Action: 'execute-api:Invoke',
        Resource: 'execute-api:/*',
        Condition: { StringNotEquals: { 'aws:SourceVpce': privateApi.api_vpc_endpoint_ids } },
      },
    ]);
  });

  test('a missing endpoint type parameter fails the deployment instead of falling back to a public API', () => {
    expect(() => endpointFor(sls, awsCfg, {})).toThrow(/no value and no fallback/);
  });

  test('the checks above fail for a policy not selected by the endpoint type, or a hard-coded endpoint type', () => {
    const s = clone(sls);
    s.provider.apiGateway.resourcePolicy = '${self:custom.apiResourcePolicy.PRIVATE}'; // deny-all on a REGIONAL API
    const e = endpointFor(s, awsCfg, regional);
    expect(e.resourcePolicy).not.toEqual([]);
    expect(e.resourcePolicy[1].Condition).toEqual({ StringNotEquals: { 'aws:SourceVpce': null } });
    const t = clone(sls);
    t.provider.endpointType = 'REGIONAL';
    expect(endpointFor(t, awsCfg, privateApi).endpointType).toBe('REGIONAL'); // private_api = true, yet public
  });
});

describe('API Gateway access logs: ids and metadata of every request, even those refused before any function', () => {
  const restApi = sls.provider.logs?.restApi;

  test('access logs on, execution logs off, the CloudWatch role from Terraform, a JSON format of ids and metadata only', () => {
    expect(accessLogFindings(restApi)).toEqual([]);
    expect(restApi.accessLogging).toBe(true);
    expect(restApi.executionLogging).toBe(false);
    const entry = JSON.parse(restApi.format);
    expect(entry.requestId).toBe('$context.requestId');
    expect(entry.status).toBe('$context.status');
    expect(Object.values(entry).sort()).toEqual([...ACCESS_LOG_VARIABLES].sort());
  });

  test('the checker flags body, header, query string, path and claim variables, and logging settings left on', () => {
    const bad = {
      ...restApi,
      executionLogging: true,
      fullExecutionData: undefined,
      roleManagedExternally: false,
      format: JSON.stringify({
        requestId: '$context.requestId',
        body: '$input.body',
        params: '$input.params()',
        override: '$context.requestOverride.header.x',
        auth: '$method.request.header.Authorization',
        query: '$method.request.querystring.patient',
        raw: '$request.body',
        path: '$context.path',
        claim: '$context.authorizer.claims.sub',
        agent: '$context.identity.userAgent',
        domain: '$context.domainName',
      }),
    };
    expect(accessLogFindings(bad)).toEqual([
      'executionLogging is not false (execution logs can contain payloads)',
      'fullExecutionData is not false (execution logs would hold full requests and responses)',
      'roleManagedExternally is not true (Serverless would set the account-level CloudWatch role)',
      'format has no $context.status',
      'format logs $input.body (bodies, headers, query strings, ids or claims)',
      'format logs $input.params (bodies, headers, query strings, ids or claims)',
      'format logs $context.requestOverride.header.x (bodies, headers, query strings, ids or claims)',
      'format logs $method.request.header.Authorization (bodies, headers, query strings, ids or claims)',
      'format logs $method.request.querystring.patient (bodies, headers, query strings, ids or claims)',
      'format logs $request.body (bodies, headers, query strings, ids or claims)',
      'format logs $context.path (bodies, headers, query strings, ids or claims)',
      'format logs $context.authorizer.claims.sub (bodies, headers, query strings, ids or claims)',
      'format logs $context.identity.userAgent (bodies, headers, query strings, ids or claims)',
      'format logs $context.domainName, which is not an allowed id or metadata variable',
    ]);
    expect(accessLogFindings({ ...restApi, accessLogging: false, format: undefined })).toEqual([
      'accessLogging is not true',
      "no format (Serverless's default logs caller and user)",
    ]);
    expect(accessLogFindings(true)).toEqual(['provider.logs.restApi is true, not an object']);
  });

  test('Serverless creates no access log group: its ApiGatewayLogGroup is kept out of the stack by a false condition', () => {
    expect(sls.resources.extensions.ApiGatewayLogGroup).toEqual({ Condition: 'NeverCreate' });
    const [a, b] = sls.resources.Conditions.NeverCreate['Fn::Equals'];
    expect(typeof a === 'string' && typeof b === 'string' && a !== b).toBe(true);
    expect(sls.provider.logRetentionInDays).toBeUndefined();
  });

  test('the access logs go to the group Terraform creates: Serverless v3 logs to /aws/api-gateway/<service>-<stage>', () => {
    // aws_cloudwatch_log_group.service["api_access"]: one of the service log groups (logs.tf)
    const lg = tf.resources.aws_cloudwatch_log_group?.service;
    expect(lg).toMatchObject({ for_each: '${local.service_log_groups}', name: '${each.value}', retention_in_days: '${var.log_retention_days}', kms_key_id: '${aws_kms_key.this["logs"].arn}' });
    for (const stage of STAGES) {
      const name = String(tf.locals.service_log_groups?.api_access)
        .replace('${local.prefix}', String(tf.locals.prefix))
        .replace('${var.service_name}', String(tf.variables.service_name.default))
        .replace('${var.environment}', stage);
      expect(name).toBe(`/aws/api-gateway/${sls.service}-${stage}`);
    }
    // The destination Serverless v3 sets on the stage (lib/plugins/aws/package/compile/events/api-gateway/lib/hack/update-stage.js).
    const updateStage = fs.readFileSync(require.resolve('serverless/lib/plugins/aws/package/compile/events/api-gateway/lib/hack/update-stage.js'), 'utf8');
    expect(updateStage).toContain('const logGroupName = `/aws/api-gateway/${service}-${stage}`;');
    expect(tf.resources.aws_api_gateway_account?.this?.cloudwatch_role_arn).toBe('${aws_iam_role.api_gateway_cloudwatch[0].arn}');
  });
});
