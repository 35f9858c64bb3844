/**
 * Static checks of the functions' wiring in serverless.yml against config/aws.yml, config/local.yml and the
 * Terraform module (terraform/modules/tributary), without deploying anything (no AWS account here):
 * - every function sets disableLogs: true, Terraform creates its log group (/aws/lambda/tributary-<stage>-<fn>)
 *   and gives it an explicit role of its own, published to SSM and writing that log group;
 * - the recovery function runs every minute under its own role;
 * - the authorizer runs on every request (no result cache, no identity source), so every refused token is audited.
 *
 * serverless.yml is parsed with `yaml` (Serverless variables `${...}` stay strings). The checkers
 * (test/unit/serverless-checks.ts) return findings and also run on broken copies.
 */
import { STAGES, clone, functionFindings, loadModule, readYaml, tfFunctions, tfLogGroups } from './serverless-checks';
import type { Obj, Tf } from './serverless-checks';

const sls = readYaml('serverless.yml');
const awsCfg = readYaml('config/aws.yml');
const localCfg = readYaml('config/local.yml');
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
