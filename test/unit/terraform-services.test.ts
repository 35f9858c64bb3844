/**
 * Static checks of the module's messaging, table, catalogue and logs (there is no terraform binary here, so no
 * `validate`/`plan`): the ETL queue's dead-letter redrive, topic-only queue policy and encryption; the versions table
 * and the DynamoDB actions its adapter sends; the Glue database and Athena workgroup; one log group per function and
 * the API access log group, named as Serverless names them; the account-level API Gateway CloudWatch role; the
 * optional private API endpoint.
 *
 * Every checker is a pure function over the parsed configuration returning findings; each one is also run
 * on a mutated copy (the property removed) to show that it does flag the problem.
 */
import * as fs from 'fs';
import * as path from 'path';
import { blocks, clone } from './terraform-config';
import type { TfConfig } from './terraform-config';
import { FUNCTIONS, loadTerraform } from './terraform-fixtures';
import { rolePolicyStatements } from './terraform-policies';
import { LANDING } from './terraform-roles';
import { API_GATEWAY_LOG_ACTIONS, checkApiAccessLogGroup, checkApiGatewayCloudWatchRole, checkQueues } from './terraform-service-checks';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;

beforeAll(async () => {
  ({ modSource, mod } = await loadTerraform());
});

describe('messaging, table, catalog, logs', () => {
  test('the ETL queue has a DLQ redrive, a queue policy for the topic only, and everything is KMS-encrypted', async () => {
    expect(await checkQueues(mod)).toEqual([]);
  });

  test('the checker flags a queue without redrive, or redriving to itself', async () => {
    const m = clone(mod);
    delete m.resource.aws_sqs_queue.etl.redrive_policy;
    expect(await checkQueues(m)).toEqual([
      'aws_sqs_queue.etl: redrive_policy must send to another aws_sqs_queue (dead-letter queue)',
      'aws_sqs_queue.etl: redrive_policy has no maxReceiveCount',
    ]);
    const n = clone(mod);
    n.resource.aws_sqs_queue.etl.redrive_policy = String(n.resource.aws_sqs_queue.etl.redrive_policy).replace('etl_dlq', 'etl');
    expect(await checkQueues(n)).toEqual(['aws_sqs_queue.etl: redrive_policy must send to another aws_sqs_queue (dead-letter queue)']);
    const o = clone(mod);
    delete o.resource.aws_sqs_queue_policy.etl;
    delete o.resource.aws_sns_topic.ingest.kms_master_key_id;
    expect(await checkQueues(o)).toEqual([
      'aws_sqs_queue.etl: no queue policy letting only the SNS topic (aws:SourceArn) send',
      'aws_sns_topic.ingest: not encrypted with a customer key',
    ]);
  });

  test('the versions table: pk string key, SSE with a customer key, point-in-time recovery', () => {
    const t = mod.resource.aws_dynamodb_table.versions;
    expect(t.hash_key).toBe('pk');
    // the sparse index recovery queries (docs/dynamodb-version-index.md) and TTL on settled transaction items
    expect(blocks(t, 'attribute')).toEqual([
      { name: 'pk', type: 'S' },
      { name: 'gk', type: 'S' },
      { name: 'pa', type: 'N' },
    ]);
    expect(blocks(t, 'global_secondary_index')).toEqual([{ name: 'pending', hash_key: 'gk', range_key: 'pa', projection_type: 'ALL' }]);
    expect(blocks(t, 'ttl')).toEqual([{ attribute_name: 'xt', enabled: true }]);
    expect(blocks(t, 'server_side_encryption')).toEqual([{ enabled: true, kms_key_arn: '${aws_kms_key.this["versions"].arn}' }]);
    expect(blocks(t, 'point_in_time_recovery')).toEqual([{ enabled: true }]);
  });

  test('the version index grants exactly the DynamoDB actions its adapter sends (TransactWriteItems: its Put items)', () => {
    const src = ['dynamodb-version-index.ts', 'dynamodb-version-items.ts']
      .map((f) => fs.readFileSync(path.join(__dirname, '../../src/adapters/aws', f), 'utf8'))
      .join('\n');
    const sent = new Set([...src.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!));
    const inTransactions = new Set([...src.matchAll(/TransactItems:[\s\S]*?\(\{\s*(Put|Update|Delete|ConditionCheck):/g)].map((m) => m[1]!));
    expect([...inTransactions]).toEqual(['Put']);
    const actions = new Set([...sent].flatMap((c) => (c === 'TransactWriteItems' ? [...inTransactions].map((i) => `${i}Item`) : [c])));
    const granted = LANDING.filter((l) => l.startsWith('VersionIndex:') || l.startsWith('VersionIndexRecovery:'));
    const byStatement = granted.map((l) => [...l.matchAll(/dynamodb:(\w+)/g)].map((m) => m[1]!));
    expect([...actions].filter((a) => a !== 'Query').sort()).toEqual([...byStatement[0]!].sort());
    expect(actions.has('Query') ? ['Query'] : []).toEqual(byStatement[1]);
  });

  test('Glue database and an Athena workgroup writing encrypted results to the marts bucket', () => {
    expect(mod.resource.aws_glue_catalog_database.lake.name).toBeDefined();
    const wg = blocks(mod.resource.aws_athena_workgroup.analytics, 'configuration')[0];
    expect(wg.enforce_workgroup_configuration).toBe(true);
    const rc = blocks(wg, 'result_configuration')[0];
    expect(String(rc.output_location)).toContain('${aws_s3_bucket.this["marts"].bucket}');
    expect(blocks(rc, 'encryption_configuration')).toEqual([{ encryption_option: 'SSE_KMS', kms_key_arn: '${aws_kms_key.this["marts"].arn}' }]);
  });

  test('one log group per function, with retention and the logs key, named as Serverless names functions', () => {
    expect(mod.locals.functions).toBe(`\${toset(${JSON.stringify(FUNCTIONS).replace(/,/g, ', ')})}`);
    const lg = modSource.resource.aws_cloudwatch_log_group.function;
    expect(lg.for_each).toBe('${local.functions}');
    expect(lg.name).toBe('/aws/lambda/${local.prefix}-${each.key}');
    expect(lg.retention_in_days).toBe('${var.log_retention_days}');
    expect(lg.kms_key_id).toBe('${aws_kms_key.this["logs"].arn}');
    expect(mod.locals.prefix).toBe('${var.service_name}-${var.environment}');
    for (const fn of FUNCTIONS) expect(mod.resource.aws_cloudwatch_log_group[`function[${JSON.stringify(fn)}]`]?.name).toBe(`/aws/lambda/\${local.prefix}-${fn}`);
  });

  test('the API access log group: the name Serverless logs to, with retention and the logs key', async () => {
    expect(await checkApiAccessLogGroup(mod)).toEqual([]);
    const lg = mod.resource.aws_cloudwatch_log_group['service["api_access"]'];
    expect(lg.name).toBe('/aws/api-gateway/${local.prefix}');
    expect(lg.retention_in_days).toBe('${var.log_retention_days}');
    expect(lg.kms_key_id).toBe('${aws_kms_key.this["logs"].arn}');
  });

  test('the checker flags an access log group without KMS or retention, or under another name', async () => {
    const m = clone(mod);
    const access = 'service["api_access"]';
    delete m.resource.aws_cloudwatch_log_group[access].kms_key_id;
    delete m.resource.aws_cloudwatch_log_group[access].retention_in_days;
    expect(await checkApiAccessLogGroup(m)).toEqual([
      'aws_cloudwatch_log_group.service["api_access"]: retention_in_days is undefined, not var.log_retention_days',
      'aws_cloudwatch_log_group.service["api_access"]: kms_key_id is undefined, not the logs key',
    ]);
    const n = clone(mod);
    n.resource.aws_cloudwatch_log_group[access].name = '/aws/apigateway/${local.prefix}-access';
    n.resource.aws_cloudwatch_log_group[access].kms_key_id = '${aws_kms_key.this["audit"].arn}';
    expect(await checkApiAccessLogGroup(n)).toEqual([
      ...['dev', 'staging', 'prod'].map((e) => `aws_cloudwatch_log_group.service["api_access"]: name for ${e} is /aws/apigateway/tributary-${e}-access, not Serverless's /aws/api-gateway/tributary-${e}`),
      'aws_cloudwatch_log_group.service["api_access"]: kms_key_id is ${aws_kms_key.this["audit"].arn}, not the logs key',
    ]);
  });

  test('the account-level API Gateway CloudWatch role: trusted by API Gateway only, CloudWatch push rights only', async () => {
    expect(await checkApiGatewayCloudWatchRole(mod)).toEqual([]);
    expect(mod.resource.aws_api_gateway_account.this.cloudwatch_role_arn).toBe('${aws_iam_role.api_gateway_cloudwatch[0].arn}');
    // Optional, for accounts where another environment or the landing zone already sets the role.
    for (const r of [mod.resource.aws_api_gateway_account.this, mod.resource.aws_iam_role.api_gateway_cloudwatch, mod.resource.aws_iam_role_policy.api_gateway_cloudwatch]) {
      expect(r.count).toBe('${var.manage_api_gateway_account ? 1 : 0}');
    }
    expect(mod.variable.manage_api_gateway_account.default).toBe(true);
    const { statements } = await rolePolicyStatements(mod, 'api_gateway_cloudwatch');
    expect([...new Set(statements.flatMap((s) => s.actions))].sort()).toEqual([...API_GATEWAY_LOG_ACTIONS].sort());
  });

  test('the checker flags the managed policy, wider actions or resources, and another trusted principal', async () => {
    const m = clone(mod);
    m.resource.aws_iam_role_policy_attachment = {
      api_gateway_cloudwatch: { role: '${aws_iam_role.api_gateway_cloudwatch[0].name}', policy_arn: 'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs' },
    };
    const doc = m.data.aws_iam_policy_document.api_gateway_cloudwatch;
    doc.statement = [
      ...blocks(doc, 'statement'),
      { sid: 'Wider', actions: ['logs:CreateLogGroup', 'logs:GetLogEvents'], resources: ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/api-gateway/x'] },
      { sid: 'Anywhere', actions: ['logs:PutLogEvents'], resources: ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*'] },
    ];
    const trust = blocks(m.data.aws_iam_policy_document.api_gateway_assume, 'statement')[0];
    blocks(trust, 'principals')[0].identifiers = ['apigateway.amazonaws.com', 'lambda.amazonaws.com'];
    expect(await checkApiGatewayCloudWatchRole(m)).toEqual([
      'data.aws_iam_policy_document.api_gateway_assume[ApiGatewayAssumesRole]: trust must be sts:AssumeRole by apigateway.amazonaws.com only (got sts:AssumeRole by Service:apigateway.amazonaws.com,lambda.amazonaws.com)',
      'aws_iam_role_policy_attachment.api_gateway_cloudwatch: managed policy arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs cannot be checked',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Wider]: beyond the CloudWatch push rights: logs:CreateLogGroup, logs:GetLogEvents',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Anywhere]: logs:PutLogEvents on arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*, not only API Gateway access log groups',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Anywhere]: may write the function log groups (arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*)',
    ]);
    const n = clone(mod);
    delete n.resource.aws_api_gateway_account;
    blocks(n.data.aws_iam_policy_document.api_gateway_cloudwatch, 'statement')[0].resources = ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/api-gateway/other-*'];
    expect(await checkApiGatewayCloudWatchRole(n)).toEqual([
      'expected 1 aws_api_gateway_account, found 0',
      ...['dev', 'staging', 'prod'].flatMap((e) => ['logs:CreateLogStream', 'logs:PutLogEvents'].map((a) => `aws_iam_role.api_gateway_cloudwatch: no ${a} on /aws/api-gateway/tributary-${e}`)),
    ]);
  });

  test('the private API endpoint exists only when private_api is true', () => {
    expect(mod.resource.aws_vpc_endpoint.execute_api.count).toBe('${var.private_api ? 1 : 0}');
    expect(mod.resource.aws_vpc_endpoint.execute_api.vpc_endpoint_type).toBe('Interface');
    expect(String(mod.resource.aws_vpc_endpoint.execute_api.service_name)).toMatch(/execute-api$/);
  });
});
