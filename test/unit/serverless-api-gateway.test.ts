/**
 * Static checks of the API Gateway settings in serverless.yml against config/aws.yml, config/local.yml and the
 * Terraform module (terraform/modules/tributary), without deploying anything (no AWS account here):
 * - API Gateway throttling (stage-wide, write routes, usage plan) and the endpoint type / private API read the
 *   per-stage config, and the REGIONAL default gets no resource policy while PRIVATE gets one bound to the VPC
 *   endpoints Terraform publishes;
 * - the access logs record ids and metadata of every request, even those refused before any function, and nothing
 *   of its content, in the log group Terraform creates.
 *
 * serverless.yml is parsed with `yaml` (Serverless variables `${...}` stay strings). A small resolver for the
 * `${self:...}` and `${ssm:...}` forms used here (with fallbacks; test/unit/serverless-checks.ts) replays how
 * Serverless resolves the endpoint settings for a given set of SSM values. The checkers return findings and also
 * run on broken copies.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ACCESS_LOG_VARIABLES, ROOT, STAGES, accessLogFindings, clone, endpointFor, loadModule, readYaml } from './serverless-checks';
import type { Obj, Tf } from './serverless-checks';

const sls = readYaml('serverless.yml');
const awsCfg = readYaml('config/aws.yml');
const localCfg = readYaml('config/local.yml');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
let tf: Tf;

beforeAll(async () => {
  tf = await loadModule();
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
