/**
 * The checkers of messaging and logs (test/unit/terraform-services.test.ts): the ETL queue, the API access log group
 * and the account-level API Gateway CloudWatch role; pure functions over a parsed configuration returning findings
 * ([] = the property holds).
 */
import { isObj, keyOf } from './terraform-config';
import type { TfConfig } from './terraform-config';
import {
  anyRefersTo,
  concrete,
  decodeJsonencode,
  policyStatements,
  referencedNames,
  refersTo,
  resourceCovers,
  resourcesFor,
  rolePolicyStatements,
  statementAllows,
} from './terraform-policies';

// ---------------------------------------------------------------------------------------------------------
// Checkers (each returns findings; [] = property holds)
// ---------------------------------------------------------------------------------------------------------

/** The queue subscribed to SNS has a DLQ redrive with maxReceiveCount, a queue policy scoped to the topic, KMS. */
export async function checkQueues(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const queues = cfg.resource.aws_sqs_queue ?? {};
  const subscribed = Object.values(cfg.resource.aws_sns_topic_subscription ?? {}).flatMap((s) => referencedNames(s.endpoint, 'aws_sqs_queue'));
  if (subscribed.length === 0) findings.push('no SQS queue is subscribed to an SNS topic');
  for (const name of subscribed) {
    const q = queues[name];
    if (!q) {
      findings.push(`aws_sqs_queue.${name}: missing`);
      continue;
    }
    const redrive = await decodeJsonencode(q.redrive_policy);
    const dlqs = isObj(redrive) ? referencedNames(redrive.deadLetterTargetArn, 'aws_sqs_queue') : [];
    if (!isObj(redrive) || dlqs.length !== 1 || dlqs[0] === name || !queues[dlqs[0]]) {
      findings.push(`aws_sqs_queue.${name}: redrive_policy must send to another aws_sqs_queue (dead-letter queue)`);
    }
    if (!isObj(redrive) || redrive.maxReceiveCount === undefined) findings.push(`aws_sqs_queue.${name}: redrive_policy has no maxReceiveCount`);
    const policies = resourcesFor(cfg, 'aws_sqs_queue_policy', 'queue_url', `aws_sqs_queue.${name}`);
    let snsAllowed = false;
    for (const [pname, body] of policies) {
      const r = await policyStatements(cfg, body.policy, `aws_sqs_queue_policy.${pname}`);
      findings.push(...r.findings);
      snsAllowed ||= r.statements.some(
        (s) =>
          statementAllows(s, 'sqs:SendMessage') &&
          s.principals.some((p) => p.type === 'Service' && p.identifiers.includes('sns.amazonaws.com')) &&
          s.conditions.some((c) => c.variable === 'aws:SourceArn' && c.values.some((v) => refersTo(v, 'aws_sns_topic'))),
      );
    }
    if (!snsAllowed) findings.push(`aws_sqs_queue.${name}: no queue policy letting only the SNS topic (aws:SourceArn) send`);
  }
  for (const [name, q] of Object.entries(queues)) {
    if (!referencedNames(q.kms_master_key_id, 'aws_kms_key').length) findings.push(`aws_sqs_queue.${name}: not encrypted with a customer key`);
  }
  for (const [name, t] of Object.entries(cfg.resource.aws_sns_topic ?? {})) {
    if (!referencedNames(t.kms_master_key_id, 'aws_kms_key').length) findings.push(`aws_sns_topic.${name}: not encrypted with a customer key`);
  }
  return findings;
}

/**
 * The REST API's access log group (an instance of the service log groups, logs.tf): created by Terraform under the
 * name Serverless v3 hard-codes as the access log destination (/aws/api-gateway/<service>-<stage>), with retention
 * and the logs KMS key, like the function log groups; the logs key lets the CloudWatch Logs service use it for this
 * account's log groups.
 */
export async function checkApiAccessLogGroup(cfg: TfConfig): Promise<string[]> {
  const addr = 'aws_cloudwatch_log_group.service["api_access"]';
  const lg = cfg.resource.aws_cloudwatch_log_group?.['service["api_access"]'];
  if (!lg) return [`${addr}: missing`];
  const findings: string[] = [];
  const service = String(cfg.variable.service_name?.default);
  for (const env of ['dev', 'staging', 'prod']) {
    const name = concrete(cfg, String(lg.name), env);
    if (name !== `/aws/api-gateway/${service}-${env}`) findings.push(`${addr}: name for ${env} is ${name}, not Serverless's /aws/api-gateway/${service}-${env}`);
  }
  if (lg.retention_in_days !== '${var.log_retention_days}') findings.push(`${addr}: retention_in_days is ${String(lg.retention_in_days)}, not var.log_retention_days`);
  if (referencedNames(lg.kms_key_id, 'aws_kms_key').join() !== keyOf('logs')) findings.push(`${addr}: kms_key_id is ${String(lg.kms_key_id)}, not the logs key`);
  const key = cfg.resource.aws_kms_key?.[keyOf('logs')];
  const { statements, findings: f } = await policyStatements(cfg, key?.policy, 'aws_kms_key.this["logs"].policy');
  findings.push(...f);
  const logsService = statements.some(
    (s) =>
      statementAllows(s, 'kms:GenerateDataKey') &&
      statementAllows(s, 'kms:Decrypt') &&
      s.principals.some((p) => p.type === 'Service' && p.identifiers.some((id) => /^logs\./.test(id))) &&
      s.conditions.some((c) => c.variable === 'kms:EncryptionContext:aws:logs:arn' && c.values.some((v) => resourceCovers(concrete(cfg, v, 'dev'), `arn:aws:logs:eu-west-2:111111111111:log-group:/aws/api-gateway/${service}-dev`))),
  );
  if (!logsService) findings.push('aws_kms_key.this["logs"]: the CloudWatch Logs service may not use the key for the access log group');
  return findings;
}

/** What the account-level API Gateway CloudWatch role may do: write log streams and events, look up groups. */
export const API_GATEWAY_LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams', 'logs:DescribeLogGroups'];

/**
 * The account-level API Gateway CloudWatch role: aws_api_gateway_account points at aws_iam_role.<role>, which only
 * apigateway.amazonaws.com may assume, and whose policies are analysable (no managed policy) and grant only
 * the CloudWatch push rights: API_GATEWAY_LOG_ACTIONS, the writes only into API Gateway access log groups
 * (never "*", every log group, or the function log groups), enough to write the access log group of every stage.
 */
export async function checkApiGatewayCloudWatchRole(cfg: TfConfig, role = 'api_gateway_cloudwatch'): Promise<string[]> {
  const addr = `aws_iam_role.${role}`;
  const findings: string[] = [];
  const accounts = Object.entries(cfg.resource.aws_api_gateway_account ?? {});
  if (accounts.length !== 1) findings.push(`expected 1 aws_api_gateway_account, found ${accounts.length}`);
  for (const [name, body] of accounts) {
    if (!anyRefersTo(body.cloudwatch_role_arn, addr)) findings.push(`aws_api_gateway_account.${name}: cloudwatch_role_arn is not ${addr}`);
  }
  const body = cfg.resource.aws_iam_role?.[role];
  if (!body) return [...findings, `${addr}: missing`];
  const trust = await policyStatements(cfg, body.assume_role_policy, `${addr}.assume_role_policy`);
  findings.push(...trust.findings);
  for (const s of trust.statements) {
    const ids = s.principals.map((p) => `${p.type}:${p.identifiers.join(',')}`);
    if (s.effect === 'Allow' && (ids.join() !== 'Service:apigateway.amazonaws.com' || s.actions.join() !== 'sts:AssumeRole')) {
      findings.push(`${s.where}: trust must be sts:AssumeRole by apigateway.amazonaws.com only (got ${s.actions.join(', ')} by ${ids.join(', ') || 'nobody'})`);
    }
  }
  const { statements, findings: f } = await rolePolicyStatements(cfg, role);
  findings.push(...f);
  const service = String(cfg.variable.service_name?.default);
  const writable = (env: string, action: string): boolean =>
    statements.some((s) => {
      const group = `arn:aws:logs:eu-west-2:111111111111:log-group:/aws/api-gateway/${service}-${env}`;
      const target = action === 'logs:PutLogEvents' ? `${group}:log-stream:x` : group;
      return statementAllows(s, action) && s.resources.some((r) => resourceCovers(concrete(cfg, r, env), target));
    });
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    if (s.notActions.length > 0 || s.notResources.length > 0) findings.push(`${s.where}: NotAction/NotResource`);
    const extra = s.actions.filter((a) => !API_GATEWAY_LOG_ACTIONS.includes(a));
    if (extra.length > 0) findings.push(`${s.where}: beyond the CloudWatch push rights: ${extra.join(', ')}`);
    const writes = s.actions.filter((a) => a !== 'logs:DescribeLogGroups');
    for (const r of writes.length > 0 ? s.resources : []) {
      const arn = concrete(cfg, r, 'dev');
      if (!/:log-group:\/aws\/api-gateway\/[^*]/.test(arn)) findings.push(`${s.where}: ${writes.join(', ')} on ${r}, not only API Gateway access log groups`);
      if (resourceCovers(arn, 'arn:aws:logs:eu-west-2:111111111111:log-group:/aws/lambda/tributary-dev-ingest')) findings.push(`${s.where}: may write the function log groups (${r})`);
    }
  }
  for (const env of ['dev', 'staging', 'prod']) {
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      if (!writable(env, action)) findings.push(`${addr}: no ${action} on /aws/api-gateway/${service}-${env}`);
    }
  }
  return findings;
}
