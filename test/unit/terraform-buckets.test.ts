/**
 * Static checks of the module's S3 buckets (terraform/modules/tributary/s3.tf) and the bootstrap's (there is no
 * terraform binary here, so no `validate`/`plan`). The data buckets come from one map (local.buckets); the
 * configuration is expanded into its instances first (test/unit/terraform-expand.ts), so each bucket is checked as
 * Terraform would plan it, against every property it had as blocks of its own (BUCKETS in terraform-fixtures.ts).
 * Every bucket has SSE-KMS under its own key, a full public access block, versioning, lifecycle and a TLS-only
 * policy; the audit bucket has COMPLIANCE Object Lock; the identity bucket denies reads to all but reidentify.
 *
 * Every checker is a pure function over the parsed configuration returning findings; each one is also run
 * on a mutated copy (the property removed) to show that it does flag the problem.
 */
import { blocks, bucketOf, clone, keyOf } from './terraform-config';
import type { Obj, TfConfig } from './terraform-config';
import { expandConfig } from './terraform-expand';
import { BUCKETS, BUCKET_TYPES, loadTerraform, tlsOnly } from './terraform-fixtures';
import { concrete, policyStatements } from './terraform-policies';
import { checkBucketEncryptionAndAccess, checkBucketTlsPolicies, checkObjectLock } from './terraform-storage-checks';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  ({ modSource, mod, bootstrap } = await loadTerraform());
});

describe('S3 buckets', () => {
  test('the module creates the data buckets from one map (local.buckets): every bucket resource iterates over it', () => {
    // plus the console's static assets bucket (console.tf), outside the data buckets' map
    expect(Object.keys(mod.resource.aws_s3_bucket).filter((b) => b !== 'console').sort()).toEqual(Object.keys(BUCKETS).map(bucketOf).sort());
    expect(Object.keys(modSource.locals.buckets as Obj).sort()).toEqual(Object.keys(BUCKETS).sort());
    for (const type of BUCKET_TYPES) {
      const forEach = type === 'aws_s3_bucket_object_lock_configuration' ? '${{ for name, bucket in local.buckets : name => bucket if bucket.object_lock_enabled == true }}' : '${local.buckets}';
      // (the console's static assets bucket, console.tf, is a block of its own outside the data buckets' map)
      const blocksOf = Object.keys(modSource.resource[type]).filter((b) => b !== 'console');
      expect({ type, blocks: blocksOf, forEach: modSource.resource[type].this?.for_each }).toEqual({ type, blocks: ['this'], forEach });
    }
  });

  test.each(Object.keys(BUCKETS))('bucket %s keeps every property it had as blocks of its own', (b) => {
    const e = BUCKETS[b];
    const name = bucketOf(b);
    const ref = (attr: string): string => `\${aws_s3_bucket.${name}.${attr}}`;
    const bucket = mod.resource.aws_s3_bucket[name];
    expect(bucket).toEqual({ bucket: expect.any(String), force_destroy: e.forceDestroy, ...(e.objectLockDays ? { object_lock_enabled: true } : {}) });
    expect(concrete(mod, String(bucket.bucket), 'dev')).toBe(e.name);
    expect(mod.resource.aws_s3_bucket_ownership_controls[name]).toEqual({ bucket: ref('id'), rule: [{ object_ownership: 'BucketOwnerEnforced' }] });
    expect(mod.resource.aws_s3_bucket_public_access_block[name]).toEqual({
      bucket: ref('id'),
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(mod.resource.aws_s3_bucket_versioning[name]).toEqual({ bucket: ref('id'), versioning_configuration: [{ status: 'Enabled' }] });
    expect(mod.resource.aws_s3_bucket_server_side_encryption_configuration[name]).toEqual({
      bucket: ref('id'),
      rule: [{ bucket_key_enabled: e.bucketKey, apply_server_side_encryption_by_default: [{ sse_algorithm: 'aws:kms', kms_master_key_id: `\${aws_kms_key.${keyOf(b)}.arn}` }] }],
    });
    const doc = `bucket[${JSON.stringify(b)}]`;
    expect(mod.resource.aws_s3_bucket_policy[name]).toEqual({
      bucket: ref('id'),
      policy: `\${data.aws_iam_policy_document.${doc}.json}`,
      depends_on: ['${aws_s3_bucket_public_access_block.this}'],
    });
    expect(mod.data.aws_iam_policy_document[doc]).toEqual({ statement: [...tlsOnly(ref('arn')), ...e.extraPolicy] });
    expect(mod.resource.aws_s3_bucket_lifecycle_configuration[name]).toEqual({ bucket: ref('id'), rule: e.lifecycle, depends_on: ['${aws_s3_bucket_versioning.this}'] });
    expect(mod.resource.aws_s3_bucket_object_lock_configuration[name]).toEqual(
      e.objectLockDays === undefined
        ? undefined
        : { bucket: ref('id'), rule: [{ default_retention: [{ mode: 'COMPLIANCE', days: e.objectLockDays }] }], depends_on: ['${aws_s3_bucket_versioning.this}'] },
    );
  });

  test('every bucket (module and bootstrap) has SSE-KMS under its own customer key, a full public access block, versioning and lifecycle', () => {
    // The identity store deliberately has no S3 Bucket Key (per-object KMS CloudTrail events; see s3.tf).
    expect(checkBucketEncryptionAndAccess(mod, [bucketOf('identity')])).toEqual([]);
    expect(checkBucketEncryptionAndAccess(bootstrap)).toEqual([]);
  });

  test('every bucket has a TLS-only bucket policy', async () => {
    expect(await checkBucketTlsPolicies(mod)).toEqual([]);
    expect(await checkBucketTlsPolicies(bootstrap)).toEqual([]);
  });

  test('the audit bucket has Object Lock in COMPLIANCE mode with the retention variable', () => {
    expect(checkObjectLock(mod, bucketOf('audit'))).toEqual([]);
    const lock = Object.values(mod.resource.aws_s3_bucket_object_lock_configuration)[0];
    expect(JSON.stringify(lock)).toContain('${var.audit_retention_days}');
  });

  test('the identity bucket denies reads to everyone but the reidentify role', async () => {
    const { statements } = await policyStatements(mod, mod.resource.aws_s3_bucket_policy[bucketOf('identity')].policy, 'identity');
    const deny = statements.find((s) => s.effect === 'Deny' && s.actions.includes('s3:GetObject'));
    expect(deny?.conditions).toEqual([{ test: 'StringNotEquals', variable: 'aws:PrincipalArn', values: ['${aws_iam_role.function["reidentify"].arn}'] }]);
  });

  describe('the checks flag a bucket that loses a property', () => {
    test('dropped SSE configuration', () => {
      const m = clone(mod);
      delete m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('lake')];
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual(['aws_s3_bucket.this["lake"]: expected 1 SSE configuration, found 0']);
    });

    test('AES256 instead of aws:kms, and the AWS-managed key', () => {
      const m = clone(mod);
      const def = blocks(blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('marts')], 'rule')[0], 'apply_server_side_encryption_by_default')[0];
      def.sse_algorithm = 'AES256';
      def.kms_master_key_id = 'alias/aws/s3';
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["marts"]: sse_algorithm is AES256, not aws:kms');
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["marts"]: kms_master_key_id must reference'))).toBe(true);
    });

    test('two buckets sharing one key', () => {
      const m = clone(mod);
      const def = blocks(blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('identity')], 'rule')[0], 'apply_server_side_encryption_by_default')[0];
      def.kms_master_key_id = '${aws_kms_key.this["lake"].arn}';
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')]).join('\n')).toMatch(/shares aws_kms_key\.this\["lake"\]/);
    });

    test('bucket key disabled (or enabled on the identity store)', () => {
      const m = clone(mod);
      blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('triage')], 'rule')[0].bucket_key_enabled = false;
      blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('identity')], 'rule')[0].bucket_key_enabled = true;
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual([
        'aws_s3_bucket.this["identity"]: bucket_key_enabled is not false',
        'aws_s3_bucket.this["triage"]: bucket_key_enabled is not true',
      ]);
    });

    test('a public access flag turned off, or the block removed', () => {
      const m = clone(mod);
      m.resource.aws_s3_bucket_public_access_block[bucketOf('audit')].restrict_public_buckets = false;
      delete m.resource.aws_s3_bucket_public_access_block[bucketOf('identity')];
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["audit"]: public access block restrict_public_buckets is not true');
      expect(f).toContain('aws_s3_bucket.this["identity"]: expected 1 public access block, found 0');
    });

    test('versioning suspended and lifecycle removed', () => {
      const m = clone(mod);
      blocks(m.resource.aws_s3_bucket_versioning[bucketOf('lake')], 'versioning_configuration')[0].status = 'Suspended';
      delete m.resource.aws_s3_bucket_lifecycle_configuration[bucketOf('marts')];
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["lake"]: versioning is not Enabled');
      expect(f).toContain('aws_s3_bucket.this["marts"]: no enabled lifecycle rule');
    });

    test('TLS deny removed or inverted', async () => {
      const m = clone(mod);
      const doc = m.data.aws_iam_policy_document['bucket["lake"]'];
      doc.statement = blocks(doc, 'statement').filter((s) => s.sid !== 'DenyInsecureTransport');
      const cond = blocks(blocks(m.data.aws_iam_policy_document['bucket["marts"]'], 'statement')[0], 'condition')[0];
      cond.values = ['true'];
      delete m.resource.aws_s3_bucket_policy[bucketOf('audit')];
      const f = await checkBucketTlsPolicies(m);
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["lake"]: bucket policy has no Deny'))).toBe(true);
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["marts"]: bucket policy has no Deny'))).toBe(true);
      expect(f).toContain('aws_s3_bucket.this["audit"]: expected 1 bucket policy, found 0');
      expect(f).toHaveLength(3);
    });

    test('object lock in GOVERNANCE mode, or not enabled', () => {
      const m = clone(mod);
      const lock = Object.values(m.resource.aws_s3_bucket_object_lock_configuration)[0];
      blocks(blocks(lock, 'rule')[0], 'default_retention')[0].mode = 'GOVERNANCE';
      m.resource.aws_s3_bucket[bucketOf('audit')].object_lock_enabled = false;
      expect(checkObjectLock(m, bucketOf('audit'))).toEqual([
        'aws_s3_bucket.this["audit"]: object_lock_enabled is not true',
        'aws_s3_bucket.this["audit"]: object lock mode is GOVERNANCE, not COMPLIANCE',
      ]);
    });

    test('a setting changed in local.buckets shows in that bucket\'s instances only', async () => {
      const src = clone(modSource);
      const buckets = src.locals.buckets as Record<string, Obj>;
      buckets.identity.bucket_key_enabled = true;
      buckets.audit.object_lock_enabled = null;
      const m = await expandConfig(src);
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual(['aws_s3_bucket.this["identity"]: bucket_key_enabled is not false']);
      expect(checkObjectLock(m, bucketOf('audit'))).toEqual(['aws_s3_bucket.this["audit"]: object_lock_enabled is not true', 'aws_s3_bucket.this["audit"]: no object lock default retention']);
      expect(Object.keys(m.resource.aws_s3_bucket_object_lock_configuration)).toEqual([]);
    });
  });
});
