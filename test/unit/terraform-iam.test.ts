/**
 * Static checks of least privilege in the module's IAM (terraform/modules/tributary/iam.tf, iam_statements.tf; there
 * is no terraform binary here, so no `validate`/`plan`). The function roles come from one map
 * (local.function_roles); the configuration is expanded into its instances first, so each role is compared,
 * statement by statement, with exactly what it had as blocks of its own (ROLES in terraform-roles.ts). No policy
 * grants a wildcard action or (but for one AWS-only case) Resource "*"; only reidentify reads or decrypts the identity
 * store; the ETL role never mentions it; no role can delete or unlock audit records; the audit-only roles write their
 * logs and append to the audit trail, nothing else.
 *
 * Every checker is a pure function over the parsed configuration returning findings; each one is also run
 * on a mutated copy (the property removed) to show that it does flag the problem.
 */
import { blocks, bucketOf, clone, keyOf, roleOf } from './terraform-config';
import type { Obj, TfConfig } from './terraform-config';
import { expandConfig } from './terraform-expand';
import { AUDIT_ONLY_FUNCTIONS, FUNCTIONS, loadTerraform } from './terraform-fixtures';
import {
  auditGrants,
  checkAuditAppendOnly,
  checkAuditAppendRoles,
  checkEtlIsolation,
  checkIdentityAccessByRole,
  checkIdentityKeyPolicy,
  checkNoWildcardActions,
  checkRoleResourcesScoped,
} from './terraform-iam-checks';
import { asList, refersTo, resolveLocal, rolePolicyStatements } from './terraform-policies';
import { ROLES, rolePolicies } from './terraform-roles';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  ({ modSource, mod, bootstrap } = await loadTerraform());
});

describe('IAM least privilege', () => {
  test('one role per function, the analyst role (people), the account-level API Gateway CloudWatch role, and the import state machine\'s and start rule\'s roles', () => {
    const importRoles = ['import["state_machine"]', 'import["events"]'];
    expect(Object.keys(mod.resource.aws_iam_role).sort()).toEqual([...FUNCTIONS.map(roleOf), 'analyst', 'api_gateway_cloudwatch', ...importRoles].sort());
    expect(Object.keys(mod.resource.aws_iam_role_policy).sort()).toEqual(
      [...FUNCTIONS.map(roleOf), ...AUDIT_ONLY_FUNCTIONS.map((fn) => `audit_append[${JSON.stringify(fn)}]`), 'analyst', 'api_gateway_cloudwatch', ...importRoles].sort(),
    );
  });

  test('the function roles, their policies and policy documents come from one map (local.function_roles), keyed like local.functions', () => {
    expect(Object.keys(modSource.locals.function_roles as Obj).sort()).toEqual([...FUNCTIONS].sort());
    expect(Object.keys(modSource.locals.function_statements as Obj).sort()).toEqual([...FUNCTIONS].sort());
    expect(Object.keys(modSource.resource.aws_iam_role).sort()).toEqual(['analyst', 'api_gateway_cloudwatch', 'function', 'import']);
    expect(Object.keys(modSource.resource.aws_iam_role_policy).sort()).toEqual(['analyst', 'api_gateway_cloudwatch', 'audit_append', 'function', 'import']);
    for (const r of [modSource.resource.aws_iam_role.function, modSource.resource.aws_iam_role_policy.function, modSource.data.aws_iam_policy_document.function]) {
      expect(r.for_each).toBe('${local.function_roles}');
    }
    expect(modSource.resource.aws_iam_role_policy.audit_append.for_each).toBe('${{ for name, role in local.function_roles : name => role if role.audit_append_policy }}');
  });

  test.each(FUNCTIONS)('the role of %s: its name, description, trust, and exactly the statements it had, no more', async (fn) => {
    const e = ROLES[fn];
    expect(mod.resource.aws_iam_role[roleOf(fn)]).toEqual({
      name: `\${local.prefix}-${e.name}`,
      description: e.description,
      assume_role_policy: `\${data.aws_iam_policy_document.${e.assume}.json}`,
      permissions_boundary: '${var.permissions_boundary_arn}',
      // Before: set on reidentify only; 3600 is the AWS default the other roles had.
      max_session_duration: 3600,
    });
    const { policies, findings } = await rolePolicies(mod, roleOf(fn));
    expect(findings).toEqual([]);
    expect(policies).toEqual(e.policies);
  });

  test('the per-role expectations fail when a role gains or loses a statement, an action or a resource', async () => {
    const m = clone(mod);
    const etl = m.data.aws_iam_policy_document[roleOf('etl')];
    const statements = blocks(etl, 'statement');
    statements[1].actions = [...(statements[1].actions as string[]), 'sqs:SendMessage'];
    statements[3].resources = ['${aws_s3_bucket.this["marts"].arn}/*'];
    etl.statement = statements.filter((s) => s.sid !== 'QueueKey');
    const { policies } = await rolePolicies(m, roleOf('etl'));
    const expected = ROLES.etl.policies.etl;
    expect(policies.etl.filter((x) => !expected.includes(x))).toEqual([
      'ConsumeQueue: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes, sqs:SendMessage on ${aws_sqs_queue.etl.arn}',
      'RawLakeRead: s3:GetObject on ${aws_s3_bucket.this["marts"].arn}/*',
    ]);
    expect(expected.filter((x) => !policies.etl.includes(x)).map((x) => x.split(':')[0])).toEqual(['ConsumeQueue', 'QueueKey', 'RawLakeRead']);
    const n = clone(mod);
    n.resource.aws_iam_role_policy.extra = { name: 'extra', role: `\${aws_iam_role.${roleOf('validate')}.id}`, policy: `\${data.aws_iam_policy_document.${roleOf('etl')}.json}` };
    expect(Object.keys((await rolePolicies(n, roleOf('validate'))).policies).sort()).toEqual(['audit-append', 'extra', 'validate']);
  });

  test('a statement changed in the source map reaches every role that lists it (the expansion follows local.*_statements)', async () => {
    const src = clone(modSource);
    const landing = src.locals.landing_statements as Obj[];
    landing[0].actions = ['s3:PutObject', 's3:GetObject'];
    const m = await expandConfig(src);
    expect(await checkIdentityAccessByRole(m)).toEqual(
      ['ingest', 'triage', 'recovery', 'ops', 'importChunk'].map((fn) => `aws_iam_role.${roleOf(fn)}: may read the identity bucket`).sort(),
    );
    for (const fn of ['ingest', 'triage']) {
      const { policies } = await rolePolicies(m, roleOf(fn));
      expect(policies[fn]).toContain('IdentityStoreWriteOnly: s3:PutObject, s3:GetObject on ${aws_s3_bucket.this["identity"].arn}/*');
      expect(policies).not.toEqual(ROLES[fn].policies);
    }
  });

  test('no policy grants "*", s3:* or kms:* (or any service wildcard), and every policy is analysable', async () => {
    expect(await checkNoWildcardActions(mod)).toEqual([]);
    expect(await checkNoWildcardActions(bootstrap)).toEqual([]);
  });

  test('role policies never allow Resource "*" (but for the import state machine\'s log delivery, which AWS authorises on "*" only)', async () => {
    // CloudWatch Logs' vended log delivery actions (CreateLogDelivery, PutResourcePolicy...) have no resource-level
    // permissions: Step Functions' execution logging needs them on "*" (import.tf; the statement's actions are
    // checked exactly in test/unit/import-terraform.test.ts).
    const logDelivery = 'data.aws_iam_policy_document.import["state_machine"][LogDelivery]';
    expect(await checkRoleResourcesScoped(mod, [logDelivery])).toEqual([]);
    expect(await checkRoleResourcesScoped(mod)).toEqual([`aws_iam_role.import["state_machine"] ${logDelivery}: Allow on Resource "*"`]);
  });

  test('the identity key policy: decrypt for reidentify only; writers encrypt only; root administers without decrypt', async () => {
    expect(await checkIdentityKeyPolicy(mod)).toEqual([]);
  });

  test('only the reidentify role can decrypt the identity key or read the identity bucket', async () => {
    expect(await checkIdentityAccessByRole(mod)).toEqual([]);
  });

  test('ingest, recovery and the import chunk step can write the identity store and delete a rolled-back record (PutObject, DeleteObject, GenerateDataKey/Encrypt) but nothing more', async () => {
    for (const fn of ['ingest', 'recovery', 'importChunk']) {
      const { statements } = await rolePolicyStatements(mod, roleOf(fn));
      const onIdentity = statements.filter((s) => s.resources.some((r) => /identity/.test(r)));
      expect(onIdentity.flatMap((s) => s.actions).sort()).toEqual(['kms:Encrypt', 'kms:GenerateDataKey', 's3:DeleteObject', 's3:PutObject']);
    }
  });

  test('the ETL policy does not mention the identity store at all', async () => {
    expect(await checkEtlIsolation(mod)).toEqual([]);
  });

  test('no role can delete or unlock audit records', async () => {
    expect(await checkAuditAppendOnly(mod)).toEqual([]);
    const m = clone(mod);
    const d = m.data.aws_iam_policy_document[roleOf('ingest')];
    d.statement = [...blocks(d, 'statement'), { sid: 'Tidy', actions: ['s3:Delete*'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] }];
    expect(await checkAuditAppendOnly(m)).toEqual([
      'aws_iam_role.function["ingest"] data.aws_iam_policy_document.function["ingest"][Tidy]: s3:DeleteObject, s3:DeleteObjectVersion, s3:DeleteBucket on the audit bucket',
    ]);
  });

  test('ingest\'s audit grants: append (PutObject), read and list the chain, the audit key; nothing else', async () => {
    expect(await auditGrants(mod, roleOf('ingest'))).toEqual(
      [
        's3:PutObject ${aws_s3_bucket.this["audit"].arn}/*',
        's3:GetObject ${aws_s3_bucket.this["audit"].arn}/*',
        's3:ListBucket ${aws_s3_bucket.this["audit"].arn}',
        'kms:GenerateDataKey ${aws_kms_key.this["audit"].arn}',
        'kms:Decrypt ${aws_kms_key.this["audit"].arn}',
      ].sort(),
    );
  });

  test('metadata, validate, notAllowed and authorizer: their own logs and exactly ingest\'s audit grants, nothing else', async () => {
    expect(await checkAuditAppendRoles(mod, AUDIT_ONLY_FUNCTIONS)).toEqual([]);
    for (const fn of AUDIT_ONLY_FUNCTIONS) expect(await auditGrants(mod, roleOf(fn))).toEqual(await auditGrants(mod, roleOf('ingest')));
  });

  test('the audit-only roles touch no lake, identity, triage or marts bucket, and no other key', async () => {
    const others = ['lake', 'identity', 'triage', 'marts'].flatMap((x) => [`aws_s3_bucket.${bucketOf(x)}`, `aws_kms_key.${keyOf(x)}`]);
    others.push('aws_kms_key.hmac', 'aws_kms_key.this["versions"]', 'aws_kms_key.this["messaging"]', 'aws_dynamodb_table.versions', 'aws_sns_topic.ingest');
    for (const fn of AUDIT_ONLY_FUNCTIONS) {
      const { statements, findings } = await rolePolicyStatements(mod, roleOf(fn));
      expect(findings).toEqual([]);
      expect(statements.length).toBeGreaterThan(0);
      const hits = statements.flatMap((s) => s.resources.filter((r) => r === '*' || others.some((o) => refersTo(r, o))));
      expect({ fn, hits }).toEqual({ fn, hits: [] });
    }
  });

  describe('the checks flag a policy that loses a property', () => {
    const addStatement = (m: TfConfig, doc: string, statement: Obj): void => {
      const d = m.data.aws_iam_policy_document[doc];
      d.statement = [...blocks(d, 'statement'), statement];
    };

    test('s3:*, kms:* and * in Allow statements', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('ingest'), { sid: 'Oops', actions: ['s3:*'], resources: ['${aws_s3_bucket.this["lake"].arn}/*'] });
      addStatement(m, roleOf('etl'), { sid: 'Oops2', actions: ['*'], resources: ['${aws_s3_bucket.this["marts"].arn}'] });
      addStatement(m, 'kms_identity', {
        sid: 'Oops3',
        actions: ['kms:*'],
        resources: ['*'],
        principals: [{ type: 'AWS', identifiers: ['${local.root_arn}'] }],
      });
      expect((await checkNoWildcardActions(m)).sort()).toEqual(
        [
          'data.aws_iam_policy_document.function["etl"][Oops2]: action "*"',
          'data.aws_iam_policy_document.function["ingest"][Oops]: Allow of service wildcard s3:*',
          'data.aws_iam_policy_document.kms_identity[Oops3]: Allow of service wildcard kms:*',
        ].sort(),
      );
    });

    test('an inline jsonencode policy is analysed too', async () => {
      const m = clone(mod);
      m.resource.aws_iam_role_policy[roleOf('etl')].policy =
        '${jsonencode({\n    Version = "2012-10-17"\n    Statement = [{\n      Effect   = "Allow"\n      Action   = ["s3:*"]\n      Resource = "${aws_s3_bucket.this["identity"].arn}/*"\n    }]\n  })}';
      expect(await checkNoWildcardActions(m)).toEqual(['aws_iam_role_policy.function["etl"].policy[0]: Allow of service wildcard s3:*']);
      expect(await checkEtlIsolation(m)).toEqual(['aws_iam_role.function["etl"] aws_iam_role_policy.function["etl"][0]: mentions the identity store or everything (${aws_s3_bucket.this["identity"].arn}/*)']);
      expect(await checkIdentityAccessByRole(m)).toEqual(['aws_iam_role.function["etl"]: may read the identity bucket']);
    });

    test('an unanalysable policy (heredoc JSON) is reported', async () => {
      const m = clone(mod);
      m.resource.aws_iam_role_policy[roleOf('metadata')].policy = '{"Version":"2012-10-17","Statement":[]}';
      expect(await checkNoWildcardActions(m)).toEqual([
        'aws_iam_role_policy.function["metadata"].policy: policy is neither an aws_iam_policy_document nor jsonencode({...})',
      ]);
    });

    test('Resource "*" in a role policy', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('metadata'), { sid: 'Wide', actions: ['logs:PutLogEvents'], resources: ['*'] });
      const logDelivery = 'data.aws_iam_policy_document.import["state_machine"][LogDelivery]';
      expect(await checkRoleResourcesScoped(m, [logDelivery])).toEqual(['aws_iam_role.function["metadata"] data.aws_iam_policy_document.function["metadata"][Wide]: Allow on Resource "*"']);
    });

    test('root (admin) given kms:Decrypt on the identity key', async () => {
      const m = clone(mod);
      const admin = blocks(m.data.aws_iam_policy_document.kms_identity, 'statement')[0];
      admin.actions = [...asList(resolveLocal(m, admin.actions)), 'kms:Decrypt'];
      expect(await checkIdentityKeyPolicy(m)).toEqual([
        'data.aws_iam_policy_document.kms_identity[KeyAdministrationWithoutUse]: allows decrypt/re-encrypt/grants to ${local.root_arn} (only the reidentify role may decrypt)',
      ]);
    });

    test('the identity key admin list widened to kms:Create* (CreateGrant)', async () => {
      const m = clone(mod);
      m.locals.kms_restricted_admin_actions = ['kms:Create*', 'kms:Describe*'];
      expect(await checkIdentityKeyPolicy(m)).toHaveLength(1);
    });

    test('ingest added to the decrypt statement, or writers given more than encrypt', async () => {
      const m = clone(mod);
      const st = blocks(m.data.aws_iam_policy_document.kms_identity, 'statement');
      blocks(st[2], 'principals')[0].identifiers = ['${aws_iam_role.function["reidentify"].arn}', '${aws_iam_role.function["ingest"].arn}'];
      st[1].actions = ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:DescribeKey'];
      const f = await checkIdentityKeyPolicy(m);
      expect(f).toContain(
        'data.aws_iam_policy_document.kms_identity[ReidentifyDecrypt]: allows decrypt/re-encrypt/grants to ${aws_iam_role.function["reidentify"].arn}, ${aws_iam_role.function["ingest"].arn} (only the reidentify role may decrypt)',
      );
      expect(f).toContain('data.aws_iam_policy_document.kms_identity[WritersEncryptOnly]: ingest may only GenerateDataKey/Encrypt, also gets kms:DescribeKey');
      expect(f).toContain('data.aws_iam_policy_document.kms_identity[ReidentifyDecrypt]: ingest may only GenerateDataKey/Encrypt, also gets kms:Decrypt');
      expect(f).toContain('aws_kms_key.this["identity"]: no statement lets the reidentify role decrypt');
    });

    test('ingest role given kms:Decrypt on the identity key; ETL given a wildcard kms resource', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('ingest'), { sid: 'Peek', actions: ['kms:Decrypt'], resources: ['${aws_kms_key.this["identity"].arn}'] });
      addStatement(m, roleOf('etl'), { sid: 'AnyKey', actions: ['kms:Decrypt'], resources: ['*'] });
      expect(await checkIdentityAccessByRole(m)).toEqual([
        'aws_iam_role.function["etl"]: may kms:Decrypt the identity key',
        'aws_iam_role.function["ingest"]: may kms:Decrypt the identity key',
      ]);
    });

    test('reidentify losing its access is flagged too', async () => {
      const m = clone(mod);
      const d = m.data.aws_iam_policy_document[roleOf('reidentify')];
      d.statement = blocks(d, 'statement').filter((s) => s.sid !== 'IdentityKeyDecrypt');
      expect(await checkIdentityAccessByRole(m)).toEqual(['aws_iam_role.function["reidentify"]: cannot kms:Decrypt the identity key']);
    });

    test('the ETL policy mentioning the identity bucket, even in a condition', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('etl'), {
        sid: 'Sneaky',
        actions: ['s3:ListBucket'],
        resources: ['${aws_s3_bucket.this["marts"].arn}'],
        condition: [{ test: 'StringLike', variable: 's3:prefix', values: ['${aws_s3_bucket.this["identity"].bucket}'] }],
      });
      expect(await checkEtlIsolation(m)).toEqual([
        'aws_iam_role.function["etl"] data.aws_iam_policy_document.function["etl"][Sneaky]: mentions the identity store or everything (${aws_s3_bucket.this["identity"].bucket})',
      ]);
    });

    test('an audit-only role given data access, another log group, or a wider audit action', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('authorizer'), { sid: 'Data', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.this["lake"].arn}/*'] });
      blocks(m.data.aws_iam_policy_document[roleOf('validate')], 'statement')[0].resources = ['${aws_cloudwatch_log_group.function["ingest"].arn}:*'];
      addStatement(m, roleOf('notAllowed'), { sid: 'Versions', actions: ['s3:GetObjectVersion'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] });
      expect(await checkAuditAppendRoles(m, AUDIT_ONLY_FUNCTIONS)).toEqual([
        'aws_iam_role.function["validate"] data.aws_iam_policy_document.function["validate"][Logs]: logs beyond its own log group: ${aws_cloudwatch_log_group.function["ingest"].arn}:*',
        'aws_iam_role.function["validate"]: cannot write its log group aws_cloudwatch_log_group.function["validate"]',
        `aws_iam_role.function["notAllowed"] data.aws_iam_policy_document.function["notAllowed"][Versions]: beyond logs and ingest's audit grants: s3:GetObjectVersion \${aws_s3_bucket.this["audit"].arn}/*`,
        `aws_iam_role.function["authorizer"] data.aws_iam_policy_document.function["authorizer"][Data]: beyond logs and ingest's audit grants: s3:GetObject \${aws_s3_bucket.this["lake"].arn}/*`,
      ]);
    });

    test('an audit-only role that cannot append (the audit key statement dropped from the shared document)', async () => {
      const m = clone(mod);
      const d = m.data.aws_iam_policy_document.audit_append;
      d.statement = blocks(d, 'statement').filter((s) => s.sid !== 'AuditKey');
      expect(await checkAuditAppendRoles(m, AUDIT_ONLY_FUNCTIONS)).toEqual(
        AUDIT_ONLY_FUNCTIONS.map(
          (fn) => `aws_iam_role.${roleOf(fn)}: cannot append to the audit trail, missing kms:Decrypt \${aws_kms_key.this["audit"].arn}, kms:GenerateDataKey \${aws_kms_key.this["audit"].arn}`,
        ),
      );
    });

    test('identity access or audit deletion given to the audit-only roles', async () => {
      const m = clone(mod);
      addStatement(m, 'audit_append', { sid: 'Peek', actions: ['kms:Decrypt'], resources: ['${aws_kms_key.this["identity"].arn}'] });
      addStatement(m, roleOf('validate'), { sid: 'Read', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.this["identity"].arn}/*'] });
      expect((await checkIdentityAccessByRole(m)).sort()).toEqual(
        [
          'aws_iam_role.function["metadata"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["validate"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["validate"]: may read the identity bucket',
          'aws_iam_role.function["notAllowed"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["authorizer"]: may kms:Decrypt the identity key',
        ].sort(),
      );
      const n = clone(mod);
      addStatement(n, 'audit_append', { sid: 'Tidy', actions: ['s3:DeleteObject'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] });
      expect((await checkAuditAppendOnly(n)).sort()).toEqual(
        AUDIT_ONLY_FUNCTIONS.map((fn) => `aws_iam_role.${roleOf(fn)} data.aws_iam_policy_document.audit_append[Tidy]: s3:DeleteObject on the audit bucket`).sort(),
      );
    });
  });
});
