/**
 * The module's move from per-resource blocks to maps (test/unit/terraform-moves.test.ts): the former addresses and
 * where they live now, the instances added since, and the checkers of the moved blocks and of copied blocks (pure
 * functions over a parsed configuration returning findings; [] = the property holds).
 */
import { isObj } from './terraform-config';
import type { Json, TfConfig } from './terraform-config';
import { BUCKET_TYPES } from './terraform-fixtures';

// ---------------------------------------------------------------------------------------------------------
// Checkers (each returns findings; [] = property holds)
// ---------------------------------------------------------------------------------------------------------

/** `${aws_s3_bucket.lake}` → `aws_s3_bucket.lake`. */
export function unwrapAddress(v: Json | undefined): string {
  return String(v).replace(/^\$\{(.*)\}$/, '$1');
}

/**
 * The moved blocks of a (expanded) configuration against the former addresses and where they should go: each former
 * address moves exactly once, to that instance; a moved block points at an instance the configuration declares, of
 * the same type, from an address it no longer declares; and every instance of a resource some move targets is the
 * target of one (otherwise an existing deployment would create it beside the old object, then destroy the old one),
 * except the instances listed in `added`: created after the maps were, they had no former address, and no move
 * may target them (a plan would take over whatever object sat at the move's source).
 */
export function checkMoves(cfg: TfConfig, expected: [string, string][], added: string[] = []): string[] {
  const findings: string[] = [];
  const moves = cfg.moved.map((m) => ({ from: unwrapAddress(m.from), to: unwrapAddress(m.to) }));
  const split = (address: string): [string, string] => {
    const dot = address.indexOf('.');
    return [address.slice(0, dot), address.slice(dot + 1)];
  };
  for (const [from, to] of expected) {
    const found = moves.filter((m) => m.from === from);
    if (found.length === 0) findings.push(`${from}: no moved block (a plan would destroy it and create ${to})`);
    else if (found.length > 1) findings.push(`${from}: ${found.length} moved blocks`);
    else if (found[0].to !== to) findings.push(`${from}: moved to ${found[0].to}, not ${to}`);
  }
  const targets = new Set<string>();
  for (const { from, to } of moves) {
    if (!expected.some(([f]) => f === from)) findings.push(`moved block from ${from}: not a former address`);
    if (added.includes(to)) findings.push(`moved block to ${to}: a new instance, which had no former address`);
    if (targets.has(to)) findings.push(`${to}: target of more than one moved block`);
    targets.add(to);
    const [fromType, fromName] = split(from);
    const [toType, toName] = split(to);
    if (fromType !== toType) findings.push(`moved block ${from} → ${to}: another resource type`);
    if (cfg.resource[fromType]?.[fromName]) findings.push(`moved block from ${from}: still declared`);
    if (!cfg.resource[toType]?.[toName]) findings.push(`moved block to ${to}: no such instance`);
  }
  const movedResources = new Set([...targets].map((t) => t.replace(/\[[^\]]*\]$/, '')));
  for (const resource of movedResources) {
    const [type, base] = split(resource);
    for (const name of Object.keys(cfg.resource[type] ?? {})) {
      const instance = `${type}.${name}`;
      if (name.startsWith(`${base}[`) && !targets.has(instance) && !added.includes(instance)) findings.push(`${instance}: no former address moves here`);
    }
  }
  return findings;
}

/**
 * Copied blocks: two single-instance resources (no for_each or count) of one type whose bodies have the same shape
 * (the same attributes and blocks, nested alike, the same numbers and booleans) and differ only in strings: names,
 * references, descriptions. Such blocks belong in one for_each over a map of what differs.
 */
export function copiedBlocks(cfg: TfConfig): string[] {
  const shape = (v: Json): Json => {
    if (typeof v === 'string') return '…';
    if (Array.isArray(v)) return v.map(shape);
    if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k])]));
    return v;
  };
  const findings: string[] = [];
  for (const [type, byName] of Object.entries(cfg.resource)) {
    const byShape = new Map<string, string[]>();
    for (const [name, body] of Object.entries(byName)) {
      if ('for_each' in body || 'count' in body) continue;
      const key = JSON.stringify(shape(body));
      byShape.set(key, [...(byShape.get(key) ?? []), name]);
    }
    for (const names of byShape.values()) if (names.length > 1) findings.push(`${type}: ${names.join(', ')} are copies of one block`);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// Former addresses
// ---------------------------------------------------------------------------------------------------------

/**
 * Where every address of the module before its buckets, KMS keys and function roles came from maps lives now (the
 * moved blocks of moved.tf). Written out from the former blocks: lake, marts, identity, triage and audit buckets
 * (Object Lock: audit only), eight keys and aliases, eight roles with their policies, four audit-append policies, and
 * the API's access log group (now one of the service log groups).
 */
const FORMER_BUCKETS = ['lake', 'marts', 'identity', 'triage', 'audit'];
const FORMER_KEYS = ['lake', 'marts', 'triage', 'audit', 'versions', 'identity', 'logs', 'messaging'];
const FORMER_ROLES: Record<string, string> = {
  ingest: 'ingest',
  triage: 'triage',
  etl: 'etl',
  metadata: 'metadata',
  validate: 'validate',
  not_allowed: 'notAllowed',
  authorizer: 'authorizer',
  reidentify: 'reidentify',
};
export const FORMER_ADDRESSES: [string, string][] = [
  ...BUCKET_TYPES.filter((t) => t !== 'aws_s3_bucket_object_lock_configuration').flatMap((type) =>
    FORMER_BUCKETS.map((b): [string, string] => [`${type}.${b}`, `${type}.this["${b}"]`]),
  ),
  ['aws_s3_bucket_object_lock_configuration.audit', 'aws_s3_bucket_object_lock_configuration.this["audit"]'],
  // the API's access log group, now an instance of the service log groups (logs.tf)
  ['aws_cloudwatch_log_group.api_access', 'aws_cloudwatch_log_group.service["api_access"]'],
  ...['aws_kms_key', 'aws_kms_alias'].flatMap((type) => FORMER_KEYS.map((k): [string, string] => [`${type}.${k}`, `${type}.this["${k}"]`])),
  ...Object.entries(FORMER_ROLES).flatMap(([old, fn]): [string, string][] => [
    [`aws_iam_role.${old}`, `aws_iam_role.function["${fn}"]`],
    [`aws_iam_role_policy.${old}`, `aws_iam_role_policy.function["${fn}"]`],
  ]),
  ...['metadata', 'validate', 'not_allowed', 'authorizer'].map((old): [string, string] => [`aws_iam_role_policy.${old}_audit`, `aws_iam_role_policy.audit_append["${FORMER_ROLES[old]}"]`]),
];

/**
 * Instances of the maps that joined them after the maps were made, and so never existed at a former address: the
 * safe-analysis path's study key and the analysis function's role (first deployed with the maps: no moved block).
 */
export const ADDED_INSTANCES = [
  'aws_kms_key.this["study"]',
  'aws_kms_alias.this["study"]',
  'aws_iam_role.function["analysis"]',
  'aws_iam_role.function["ops"]',
  'aws_iam_role_policy.function["analysis"]',
  'aws_iam_role.function["recovery"]',
  'aws_iam_role_policy.function["recovery"]',
  'aws_iam_role_policy.function["ops"]',
  // the AWS bulk import path (import.tf): its bucket and key, the roles of its three steps, the state machine's log group
  ...BUCKET_TYPES.filter((t) => t !== 'aws_s3_bucket_object_lock_configuration').map((type) => `${type}.this["import"]`),
  'aws_kms_key.this["import"]',
  'aws_kms_alias.this["import"]',
  ...['importPlan', 'importChunk', 'importFinish'].flatMap((fn) => [`aws_iam_role.function["${fn}"]`, `aws_iam_role_policy.function["${fn}"]`]),
  'aws_cloudwatch_log_group.service["import_state_machine"]',
];
