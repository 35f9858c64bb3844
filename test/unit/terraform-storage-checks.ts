/**
 * The checkers of the S3 buckets and KMS keys (test/unit/terraform-buckets.test.ts, test/unit/terraform-kms.test.ts):
 * pure functions over a parsed configuration returning findings ([] = the property holds).
 */
import { blocks } from './terraform-config';
import type { TfConfig } from './terraform-config';
import { policyStatements, referencedNames, refersTo, resourcesFor } from './terraform-policies';

// ---------------------------------------------------------------------------------------------------------
// Checkers (each returns findings; [] = property holds)
// ---------------------------------------------------------------------------------------------------------

/**
 * SSE-KMS with a customer key of its own, S3 Bucket Key set explicitly (true, except for the buckets listed in
 * `noBucketKey`, where it must be explicitly false), public access block, versioning, lifecycle.
 */
export function checkBucketEncryptionAndAccess(cfg: TfConfig, noBucketKey: string[] = []): string[] {
  const findings: string[] = [];
  const keyOwner = new Map<string, string>();
  const customerKeys = new Set(Object.keys(cfg.resource.aws_kms_key ?? {}));
  for (const bucket of Object.keys(cfg.resource.aws_s3_bucket ?? {})) {
    // the console's static assets (no data; read by CloudFront only) are checked by their own test (console.tf)
    if (bucket === 'console') continue;
    const addr = `aws_s3_bucket.${bucket}`;
    const sse = resourcesFor(cfg, 'aws_s3_bucket_server_side_encryption_configuration', 'bucket', addr);
    if (sse.length !== 1) findings.push(`${addr}: expected 1 SSE configuration, found ${sse.length}`);
    for (const [, body] of sse) {
      const rules = blocks(body, 'rule');
      if (rules.length === 0) findings.push(`${addr}: SSE configuration has no rule`);
      for (const rule of rules) {
        const def = blocks(rule, 'apply_server_side_encryption_by_default')[0];
        if (def?.sse_algorithm !== 'aws:kms') findings.push(`${addr}: sse_algorithm is ${String(def?.sse_algorithm)}, not aws:kms`);
        const keyRef = def?.kms_master_key_id;
        const keys = referencedNames(keyRef, 'aws_kms_key').filter((k) => customerKeys.has(k));
        if (typeof keyRef !== 'string' || keys.length !== 1 || /alias\/aws\/s3/.test(keyRef)) {
          findings.push(`${addr}: kms_master_key_id must reference one customer managed aws_kms_key (got ${String(keyRef)})`);
        } else {
          const other = keyOwner.get(keys[0]);
          if (other) findings.push(`${addr}: shares aws_kms_key.${keys[0]} with aws_s3_bucket.${other}; each bucket needs its own key`);
          keyOwner.set(keys[0], bucket);
        }
        const wantBucketKey = !noBucketKey.includes(bucket);
        if (rule.bucket_key_enabled !== wantBucketKey) findings.push(`${addr}: bucket_key_enabled is not ${wantBucketKey}`);
      }
    }
    const pab = resourcesFor(cfg, 'aws_s3_bucket_public_access_block', 'bucket', addr);
    if (pab.length !== 1) findings.push(`${addr}: expected 1 public access block, found ${pab.length}`);
    for (const [, body] of pab) {
      for (const flag of ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']) {
        if (body[flag] !== true) findings.push(`${addr}: public access block ${flag} is not true`);
      }
    }
    const versioning = resourcesFor(cfg, 'aws_s3_bucket_versioning', 'bucket', addr);
    if (!versioning.some(([, b]) => blocks(b, 'versioning_configuration').some((v) => v.status === 'Enabled'))) {
      findings.push(`${addr}: versioning is not Enabled`);
    }
    const lifecycle = resourcesFor(cfg, 'aws_s3_bucket_lifecycle_configuration', 'bucket', addr);
    if (!lifecycle.some(([, b]) => blocks(b, 'rule').some((r) => r.status === 'Enabled'))) {
      findings.push(`${addr}: no enabled lifecycle rule`);
    }
  }
  return findings;
}

/** Every bucket has a bucket policy denying any request made without TLS (aws:SecureTransport = false). */
export async function checkBucketTlsPolicies(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  for (const bucket of Object.keys(cfg.resource.aws_s3_bucket ?? {})) {
    const addr = `aws_s3_bucket.${bucket}`;
    const policies = resourcesFor(cfg, 'aws_s3_bucket_policy', 'bucket', addr);
    if (policies.length !== 1) {
      findings.push(`${addr}: expected 1 bucket policy, found ${policies.length}`);
      continue;
    }
    const [name, body] = policies[0];
    const { statements, findings: f } = await policyStatements(cfg, body.policy, `aws_s3_bucket_policy.${name}`);
    findings.push(...f);
    const tlsDeny = statements.find(
      (s) =>
        s.effect === 'Deny' &&
        s.principals.some((p) => p.identifiers.includes('*')) &&
        s.actions.some((a) => a === 's3:*' || a === '*') &&
        s.conditions.some(
          (c) => c.test === 'Bool' && c.variable === 'aws:SecureTransport' && c.values.length === 1 && c.values[0] === 'false',
        ) &&
        s.resources.some((r) => refersTo(r, addr) && !r.endsWith('/*')) &&
        s.resources.some((r) => refersTo(r, addr) && r.endsWith('/*')),
    );
    if (!tlsDeny) findings.push(`${addr}: bucket policy has no Deny of s3:* on the bucket and its objects when aws:SecureTransport = false`);
  }
  return findings;
}

/** The audit bucket is created with Object Lock and a COMPLIANCE default retention. */
export function checkObjectLock(cfg: TfConfig, bucket: string): string[] {
  const addr = `aws_s3_bucket.${bucket}`;
  const body = cfg.resource.aws_s3_bucket?.[bucket];
  if (!body) return [`${addr}: missing`];
  const findings: string[] = [];
  if (body.object_lock_enabled !== true) findings.push(`${addr}: object_lock_enabled is not true`);
  const locks = resourcesFor(cfg, 'aws_s3_bucket_object_lock_configuration', 'bucket', addr);
  const retention = locks.flatMap(([, b]) => blocks(b, 'rule')).flatMap((r) => blocks(r, 'default_retention'));
  if (retention.length === 0) findings.push(`${addr}: no object lock default retention`);
  for (const r of retention) {
    if (r.mode !== 'COMPLIANCE') findings.push(`${addr}: object lock mode is ${String(r.mode)}, not COMPLIANCE`);
    if (r.days === undefined && r.years === undefined) findings.push(`${addr}: object lock retention has no days/years`);
  }
  return findings;
}

/** Symmetric keys rotate automatically; HMAC/asymmetric keys (which cannot) do not claim to. Every key has a policy. */
export function checkKmsKeys(cfg: TfConfig): string[] {
  const findings: string[] = [];
  for (const [name, body] of Object.entries(cfg.resource.aws_kms_key ?? {})) {
    const spec = body.customer_master_key_spec ?? 'SYMMETRIC_DEFAULT';
    const usage = body.key_usage ?? 'ENCRYPT_DECRYPT';
    const symmetric = spec === 'SYMMETRIC_DEFAULT' && usage === 'ENCRYPT_DECRYPT';
    if (symmetric && body.enable_key_rotation !== true) findings.push(`aws_kms_key.${name}: symmetric key without enable_key_rotation = true`);
    if (!symmetric && body.enable_key_rotation === true) findings.push(`aws_kms_key.${name}: ${String(spec)} keys cannot rotate automatically`);
    if (!('policy' in body)) findings.push(`aws_kms_key.${name}: no key policy (the default grants kms:* to the account)`);
  }
  return findings;
}
