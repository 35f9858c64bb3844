/**
 * The checkers of least privilege in IAM (test/unit/terraform-iam.test.ts): pure functions over a parsed
 * configuration returning findings ([] = the property holds).
 */
import { bucketOf, keyOf, roleOf } from './terraform-config';
import type { TfConfig } from './terraform-config';
import { docStatements, policyAttributes, policyStatements, refersTo, rolePolicyStatements, statementAllows } from './terraform-policies';
import type { Statement } from './terraform-policies';

// ---------------------------------------------------------------------------------------------------------
// Checkers (each returns findings; [] = property holds)
// ---------------------------------------------------------------------------------------------------------

/**
 * No Allow statement anywhere grants `*` or a whole service (`s3:*`, `kms:*`, ...); no Allow uses NotAction;
 * no statement at all uses the bare `*` action. Deny statements may use a service wildcard (a broader Deny is
 * stricter, e.g. the TLS-only bucket policies). Every policy must be analysable.
 */
export async function checkNoWildcardActions(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const seen = new Set<string>();
  const inspect = (s: Statement): void => {
    for (const a of s.actions) {
      if (a === '*') findings.push(`${s.where}: action "*"`);
      else if (s.effect === 'Allow' && /^[a-z0-9-]+:\*$/i.test(a)) findings.push(`${s.where}: Allow of service wildcard ${a}`);
    }
    if (s.effect === 'Allow' && s.notActions.length > 0) findings.push(`${s.where}: Allow with NotAction`);
  };
  for (const attr of policyAttributes(cfg)) {
    const r = await policyStatements(cfg, attr.value, attr.where);
    findings.push(...r.findings);
    for (const s of r.statements) {
      seen.add(s.where.replace(/\[[^\]]*\]$/, ''));
      inspect(s);
    }
  }
  // Documents not (yet) attached anywhere are checked too.
  for (const name of Object.keys(cfg.data.aws_iam_policy_document ?? {})) {
    if (!seen.has(`data.aws_iam_policy_document.${name}`)) docStatements(cfg, name).forEach(inspect);
  }
  return [...new Set(findings)];
}

/**
 * Role policies name their resources: no Allow on Resource "*", except the statements listed in `allowed` (by
 * where: `data.aws_iam_policy_document.<doc>[<sid>]`), for actions AWS authorises on "*" only.
 */
export async function checkRoleResourcesScoped(cfg: TfConfig, allowed: string[] = []): Promise<string[]> {
  const findings: string[] = [];
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    for (const s of statements) {
      if (s.notResources.length === 0 && allowed.includes(s.where)) continue;
      if (s.effect === 'Allow' && (s.resources.includes('*') || s.notResources.length > 0)) {
        findings.push(`aws_iam_role.${role} ${s.where}: Allow on Resource "*"`);
      }
    }
  }
  return findings;
}

/**
 * Identity store key policy: kms:Decrypt is allowed to the reidentify role only (not root, not ingest);
 * the writers (ingest, triage, the import chunk step) get GenerateDataKey/Encrypt and nothing else; nobody may
 * create grants or re-encrypt.
 */
export async function checkIdentityKeyPolicy(cfg: TfConfig): Promise<string[]> {
  const key = cfg.resource.aws_kms_key?.[keyOf('identity')];
  if (!key) return ['aws_kms_key.this["identity"]: missing'];
  const { statements, findings } = await policyStatements(cfg, key.policy, 'aws_kms_key.this["identity"].policy');
  const reidentify = `\${aws_iam_role.${roleOf('reidentify')}.arn}`;
  let decryptGranted = false;
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    const ids = s.principals.flatMap((p) => p.identifiers);
    if (['kms:Decrypt', 'kms:ReEncryptFrom', 'kms:CreateGrant'].some((a) => statementAllows(s, a))) {
      if (statementAllows(s, 'kms:Decrypt') && ids.length === 1 && ids[0] === reidentify && s.principals[0].type === 'AWS') {
        decryptGranted = true;
        if (s.actions.some((a) => a !== 'kms:Decrypt')) {
          findings.push(`${s.where}: the reidentify statement must allow exactly kms:Decrypt (got ${s.actions.join(', ')})`);
        }
      } else {
        findings.push(`${s.where}: allows decrypt/re-encrypt/grants to ${ids.join(', ') || '(no principal)'} (only the reidentify role may decrypt)`);
      }
    }
    for (const writer of ['ingest', 'triage', 'importChunk']) {
      if (ids.some((id) => refersTo(id, `aws_iam_role.${roleOf(writer)}`))) {
        const extra = s.actions.filter((a) => a !== 'kms:GenerateDataKey' && a !== 'kms:Encrypt');
        if (extra.length > 0) findings.push(`${s.where}: ${writer} may only GenerateDataKey/Encrypt, also gets ${extra.join(', ')}`);
      }
    }
  }
  if (!decryptGranted) findings.push('aws_kms_key.this["identity"]: no statement lets the reidentify role decrypt');
  return findings;
}

/** Roles other than reidentify: no decrypt of the identity key, no reads of the identity bucket; reidentify can do both. */
export async function checkIdentityAccessByRole(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const keyAddr = `aws_kms_key.${keyOf('identity')}`;
  const bucketAddr = `aws_s3_bucket.${bucketOf('identity')}`;
  const onKey = (s: Statement): boolean => s.resources.some((r) => r === '*' || refersTo(r, keyAddr));
  const onBucket = (s: Statement): boolean => s.resources.some((r) => r === '*' || refersTo(r, bucketAddr));
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    const decrypts = statements.some((s) => onKey(s) && (statementAllows(s, 'kms:Decrypt') || statementAllows(s, 'kms:ReEncryptFrom')));
    const reads = statements.some((s) => onBucket(s) && (statementAllows(s, 's3:GetObject') || statementAllows(s, 's3:GetObjectVersion')));
    if (role === roleOf('reidentify')) {
      if (!decrypts) findings.push(`aws_iam_role.${role}: cannot kms:Decrypt the identity key`);
      if (!reads) findings.push(`aws_iam_role.${role}: cannot s3:GetObject the identity bucket`);
    } else {
      if (decrypts) findings.push(`aws_iam_role.${role}: may kms:Decrypt the identity key`);
      if (reads) findings.push(`aws_iam_role.${role}: may read the identity bucket`);
    }
  }
  return findings;
}

/** No role can delete, unlock or re-lock audit records (belt and braces with Object Lock). */
export async function checkAuditAppendOnly(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const forbidden = ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration', 's3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucket'];
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    for (const s of statements) {
      if (!s.resources.some((r) => r === '*' || refersTo(r, `aws_s3_bucket.${bucketOf('audit')}`))) continue;
      const hits = forbidden.filter((a) => statementAllows(s, a));
      if (hits.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: ${hits.join(', ')} on the audit bucket`);
    }
  }
  return findings;
}

/** The ETL role's policies do not mention the identity store at all (bucket, key, or anything named identity). */
export async function checkEtlIsolation(cfg: TfConfig): Promise<string[]> {
  const role = roleOf('etl');
  const { statements, findings } = await rolePolicyStatements(cfg, role);
  if (statements.length === 0) findings.push(`aws_iam_role.${role}: no policy statements found`);
  for (const s of statements) {
    const text = [...s.actions, ...s.resources, ...s.notResources, ...s.conditions.flatMap((c) => [c.variable, ...c.values])];
    const hit = text.find((t) => /identity/i.test(t) || t === '*');
    if (hit) findings.push(`aws_iam_role.${role} ${s.where}: mentions the identity store or everything (${hit})`);
  }
  return findings;
}

/** `action resource` pairs a role's Allow statements grant on the audit bucket or the audit key. */
export async function auditGrants(cfg: TfConfig, role: string): Promise<string[]> {
  const { statements } = await rolePolicyStatements(cfg, role);
  const pairs = new Set<string>();
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    for (const r of s.resources.filter((x) => refersTo(x, `aws_s3_bucket.${bucketOf('audit')}`) || refersTo(x, `aws_kms_key.${keyOf('audit')}`))) {
      for (const a of s.actions) pairs.add(`${a} ${r}`);
    }
  }
  return [...pairs].sort();
}

/**
 * Least privilege of the functions that only log and audit (metadata, validate, notAllowed, authorizer): each
 * Allow statement is either CreateLogStream/PutLogEvents on the function's own log group, or a grant on the audit
 * bucket or audit key that the ingest role also has; and together they hold all of ingest's audit grants (so the
 * function can append to the hash chain). Anything else (another bucket or key, another function's log group, a
 * wider audit action) is a finding.
 */
export async function checkAuditAppendRoles(cfg: TfConfig, functions: string[]): Promise<string[]> {
  const findings: string[] = [];
  const ingestAudit = await auditGrants(cfg, roleOf('ingest'));
  if (ingestAudit.length === 0) findings.push(`aws_iam_role.${roleOf('ingest')}: no audit grants to compare with`);
  for (const fn of functions) {
    const role = roleOf(fn);
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    const ownLogs = `aws_cloudwatch_log_group.function["${fn}"]`;
    for (const s of statements) {
      if (s.effect !== 'Allow') continue;
      if (s.notActions.length > 0 || s.notResources.length > 0) {
        findings.push(`aws_iam_role.${role} ${s.where}: NotAction/NotResource`);
        continue;
      }
      const logsOnly = s.actions.every((a) => /^logs:(CreateLogStream|PutLogEvents)$/.test(a));
      if (logsOnly) {
        const other = s.resources.filter((r) => !r.includes(`\${${ownLogs}.arn}`));
        if (other.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: logs beyond its own log group: ${other.join(', ')}`);
        continue;
      }
      const beyond: string[] = [];
      for (const r of s.resources) {
        for (const a of s.actions) if (!ingestAudit.includes(`${a} ${r}`)) beyond.push(`${a} ${r}`);
      }
      if (beyond.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: beyond logs and ingest's audit grants: ${beyond.join(', ')}`);
    }
    const granted = await auditGrants(cfg, role);
    const missing = ingestAudit.filter((g) => !granted.includes(g));
    if (missing.length > 0) findings.push(`aws_iam_role.${role}: cannot append to the audit trail, missing ${missing.join(', ')}`);
    if (!statements.some((s) => s.effect === 'Allow' && s.resources.some((r) => r.includes(`\${${ownLogs}.arn}`)))) {
      findings.push(`aws_iam_role.${role}: cannot write its log group ${ownLogs}`);
    }
  }
  return findings;
}
