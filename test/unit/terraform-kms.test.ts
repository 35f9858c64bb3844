/**
 * Static checks of the module's KMS keys (terraform/modules/tributary/kms.tf) and the bootstrap's (there is no
 * terraform binary here, so no `validate`/`plan`). The keys and their aliases come from one map (local.kms_keys);
 * each instance keeps its description, spec, rotation, deletion window, policy and alias (KEYS in
 * terraform-fixtures.ts). Symmetric keys rotate; only the roles that land resources may GenerateMac with the
 * pseudonym key, and only the analysis function with the study key.
 *
 * The key checker is a pure function over the parsed configuration returning findings; it is also run on a
 * mutated copy (the property removed) to show that it does flag the problem.
 */
import { clone, keyOf, roleOf } from './terraform-config';
import type { Obj, TfConfig } from './terraform-config';
import { FUNCTIONS, KEYS, loadTerraform } from './terraform-fixtures';
import { asList, policyStatements, refersTo, resolveLocal, rolePolicyStatements, statementAllows } from './terraform-policies';
import { statementLine } from './terraform-roles';
import { checkKmsKeys } from './terraform-storage-checks';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  ({ modSource, mod, bootstrap } = await loadTerraform());
});

describe('KMS keys', () => {
  test('every store has its own key; symmetric keys rotate; every key has a policy', () => {
    expect(Object.keys(mod.resource.aws_kms_key).sort()).toEqual(['hmac', ...Object.keys(KEYS).map(keyOf)].sort());
    expect(checkKmsKeys(mod)).toEqual([]);
    expect(checkKmsKeys(bootstrap)).toEqual([]);
  });

  test('the keys and their aliases come from one map (local.kms_keys)', () => {
    expect(Object.keys(modSource.locals.kms_keys as Obj).sort()).toEqual(Object.keys(KEYS).sort());
    for (const type of ['aws_kms_key', 'aws_kms_alias']) {
      expect({ type, blocks: Object.keys(modSource.resource[type]).sort(), forEach: modSource.resource[type].this.for_each }).toEqual({ type, blocks: ['hmac', 'this'], forEach: '${local.kms_keys}' });
    }
  });

  test.each(Object.keys(KEYS))('KMS key %s keeps its description, spec, rotation, deletion window, policy and alias', (k) => {
    const hmac = KEYS[k].spec === 'HMAC_256';
    expect(mod.resource.aws_kms_key[keyOf(k)]).toEqual({
      description: `\${local.prefix} ${KEYS[k].description}`,
      customer_master_key_spec: KEYS[k].spec,
      key_usage: hmac ? 'GENERATE_VERIFY_MAC' : 'ENCRYPT_DECRYPT',
      // KMS rotates symmetric keys; it cannot rotate HMAC keys.
      enable_key_rotation: !hmac,
      deletion_window_in_days: '${var.kms_deletion_window_days}',
      policy: `\${data.aws_iam_policy_document.${KEYS[k].policy}.json}`,
    });
    expect(mod.resource.aws_kms_alias[keyOf(k)]).toEqual({ name: `alias/\${local.prefix}-${k}`, target_key_id: `\${aws_kms_key.${keyOf(k)}.key_id}` });
  });

  test('the pseudonym key is HMAC_256 / GENERATE_VERIFY_MAC, per generation, with an alias on the active one', () => {
    const hmac = mod.resource.aws_kms_key.hmac;
    expect(hmac.customer_master_key_spec).toBe('HMAC_256');
    expect(hmac.key_usage).toBe('GENERATE_VERIFY_MAC');
    expect(hmac.for_each).toBe('${toset(var.hmac_key_versions)}');
    expect(mod.resource.aws_kms_alias.hmac.target_key_id).toBe('${aws_kms_key.hmac[var.hmac_active_key_version].key_id}');
  });

  test('only the roles that land resources (ingest, triage, recovery, ops, the import chunk step) may GenerateMac with the pseudonym key', async () => {
    const { statements } = await policyStatements(mod, mod.resource.aws_kms_key.hmac.policy, 'hmac');
    const mac = statements.filter((s) => statementAllows(s, 'kms:GenerateMac'));
    expect(mac.flatMap((s) => s.principals.flatMap((p) => p.identifiers)).sort()).toEqual([
      '${aws_iam_role.function["importChunk"].arn}',
      '${aws_iam_role.function["ingest"].arn}',
      '${aws_iam_role.function["ops"].arn}',
      '${aws_iam_role.function["recovery"].arn}',
      '${aws_iam_role.function["triage"].arn}',
    ]);
    for (const fn of ['ingest', 'triage', 'recovery', 'ops', 'importChunk']) {
      const r = await rolePolicyStatements(mod, roleOf(fn));
      expect(r.statements.some((s) => statementAllows(s, 'kms:GenerateMac') && s.resources.some((x) => refersTo(x, 'aws_kms_key.hmac')))).toBe(true);
    }
    for (const fn of ['etl', 'metadata', 'validate', 'notAllowed', 'authorizer', 'reidentify', 'importPlan', 'importFinish']) {
      const r = await rolePolicyStatements(mod, roleOf(fn));
      expect(r.statements.some((s) => statementAllows(s, 'kms:GenerateMac'))).toBe(false);
    }
  });

  test('only the analysis function may GenerateMac with the study key; it cannot use the pseudonym key, nor anyone else the study key', async () => {
    const { statements, findings } = await policyStatements(mod, mod.resource.aws_kms_key[keyOf('study')].policy, 'study');
    expect(findings).toEqual([]);
    const use = statements.filter((s) => s.effect === 'Allow' && s.actions.some((a) => !asList(resolveLocal(mod, mod.locals.kms_restricted_admin_actions)).includes(a)));
    expect(use.map(statementLine)).toEqual(['StudyPseudonymsOnly: kms:GenerateMac on * (with NotAction/NotResource/Principal)']);
    expect(use[0].principals).toEqual([{ type: 'AWS', identifiers: [`\${aws_iam_role.${roleOf('analysis')}.arn}`] }]);
    // Administration without use, and without kms:Create* (CreateGrant could hand GenerateMac out).
    expect(statements.find((s) => s.sid === 'KeyAdministrationWithoutUse')?.actions).toEqual(asList(resolveLocal(mod, mod.locals.kms_restricted_admin_actions)));
    const onStudy = async (fn: string): Promise<string[]> =>
      (await rolePolicyStatements(mod, roleOf(fn))).statements.filter((s) => s.resources.some((r) => r === '*' || refersTo(r, `aws_kms_key.${keyOf('study')}`))).map(statementLine);
    expect(await onStudy('analysis')).toEqual(['StudyKey: kms:GenerateMac on ${aws_kms_key.this["study"].arn}']);
    for (const fn of FUNCTIONS.filter((f) => f !== 'analysis')) expect({ fn, grants: await onStudy(fn) }).toEqual({ fn, grants: [] });
    const analysis = await rolePolicyStatements(mod, roleOf('analysis'));
    expect(analysis.statements.some((s) => s.resources.some((r) => refersTo(r, 'aws_kms_key.hmac')))).toBe(false);
  });

  test('the checker flags a symmetric key without rotation and an HMAC key claiming rotation', () => {
    const m = clone(mod);
    m.resource.aws_kms_key[keyOf('lake')].enable_key_rotation = false;
    delete m.resource.aws_kms_key[keyOf('audit')].enable_key_rotation;
    m.resource.aws_kms_key.hmac.enable_key_rotation = true;
    delete m.resource.aws_kms_key[keyOf('logs')].policy;
    expect(checkKmsKeys(m).sort()).toEqual(
      [
        'aws_kms_key.this["audit"]: symmetric key without enable_key_rotation = true',
        'aws_kms_key.hmac: HMAC_256 keys cannot rotate automatically',
        'aws_kms_key.this["lake"]: symmetric key without enable_key_rotation = true',
        'aws_kms_key.this["logs"]: no key policy (the default grants kms:* to the account)',
      ].sort(),
    );
  });
});
