/**
 * Static checks of the root configuration in terraform/ and of what the module hands to serverless.yml (there is no
 * terraform binary here, so no `validate`/`plan`): the providers pinned, the partial S3 backend with a backend file
 * and tfvars per environment, every root variable passed into the module, the workspace precondition, and the SSM
 * parameters and outputs serverless.yml reads.
 */
import * as path from 'path';
import { TF_DIR, blocks, isObj, keyOf, parseFile, roleOf } from './terraform-config';
import type { Obj, TfConfig } from './terraform-config';
import { FUNCTIONS, REQUIRED_SSM, loadTerraform } from './terraform-fixtures';
import { concrete } from './terraform-policies';

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let root: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  ({ modSource, mod, root, bootstrap } = await loadTerraform());
});

describe('root module, backend and environments', () => {
  test('aws provider ~> 5 and terraform >= 1.5 are pinned in the root and the module', () => {
    for (const cfg of [root, mod, bootstrap]) {
      const tf = cfg.terraform.find((t) => blocks(t, 'required_providers').length > 0);
      expect(tf).toBeDefined();
      const aws = blocks(tf, 'required_providers')[0].aws;
      expect(isObj(aws) && aws.source).toBe('hashicorp/aws');
      expect(isObj(aws) && aws.version).toBe('~> 5.0');
      expect(String(tf?.required_version)).toMatch(/>=\s*1\.5/);
    }
  });

  test('the backend is a partial S3 configuration and each environment has a backend file with a lock table', async () => {
    const backend = root.terraform.flatMap((t) => blocks(t, 'backend'));
    expect(backend).toHaveLength(1);
    expect(blocks(backend[0], 's3')).toEqual([{}]);
    for (const env of ['dev', 'staging', 'prod']) {
      const b = await parseFile(path.join(TF_DIR, 'env', `${env}.backend.hcl`));
      expect(Object.keys(b).sort()).toEqual(['bucket', 'dynamodb_table', 'encrypt', 'key', 'kms_key_id', 'region']);
      expect(b.encrypt).toBe(true);
    }
  });

  test('each tfvars sets its own environment and only variables the root declares', async () => {
    for (const env of ['dev', 'staging', 'prod']) {
      const vars = await parseFile(path.join(TF_DIR, 'env', `${env}.tfvars`));
      expect(vars.environment).toBe(env);
      for (const k of Object.keys(vars)) expect(Object.keys(root.variable)).toContain(k);
      for (const [k, v] of Object.entries(root.variable)) {
        if (!('default' in v)) expect(Object.keys(vars)).toContain(k);
      }
    }
  });

  test('the root passes every variable it declares into the module, and the module declares them', () => {
    const call = root.module.tributary;
    expect(call.source).toBe('./modules/tributary');
    for (const [k, v] of Object.entries(call)) {
      if (k === 'source') continue;
      expect(Object.keys(mod.variable)).toContain(k);
      expect(v).toBe(`\${var.${k}}`);
    }
    const local = new Set(['aws_region', 'allowed_account_ids', 'tags']);
    for (const k of Object.keys(root.variable)) if (!local.has(k)) expect(Object.keys(call)).toContain(k);
  });

  test('planning requires the workspace named after the environment', () => {
    const pre = blocks(blocks(root.data.aws_caller_identity?.current, 'lifecycle')[0], 'precondition');
    expect(JSON.stringify(pre)).toContain('terraform.workspace == var.environment');
  });
});

describe('outputs and SSM parameters for serverless.yml', () => {
  test('every name serverless.yml needs is an SSM String parameter under /tributary/<environment>/', () => {
    const core = mod.locals.ssm_core;
    expect(isObj(core)).toBe(true);
    for (const name of REQUIRED_SSM) expect(Object.keys(core as Obj)).toContain(name);
    const p = modSource.resource.aws_ssm_parameter.config;
    expect(p.type).toBe('String');
    expect(p.for_each).toBe('${local.ssm_core}');
    expect(p.name).toBe('${local.ssm_prefix}/${each.key}');
    expect(mod.locals.ssm_prefix).toBe('/${var.service_name}/${var.environment}');
    expect(mod.variable.service_name.default).toBe('tributary');
  });

  test('the private API option: endpoint type always published, VPC endpoint ids as a StringList only when private_api', () => {
    expect((mod.locals.ssm_core as Obj).api_endpoint_type).toBe('${var.private_api ? "PRIVATE" : "REGIONAL"}');
    expect(mod.variable.private_api.default).toBe(false);
    const ids = mod.resource.aws_ssm_parameter.api_vpc_endpoint_ids;
    expect(ids.count).toBe('${var.private_api ? 1 : 0}');
    expect(ids.type).toBe('StringList');
    expect(ids.name).toBe('${local.ssm_prefix}/api_vpc_endpoint_ids');
    expect(ids.value).toBe('${join(",", aws_vpc_endpoint.execute_api[*].id)}');
  });

  test('the SSM parameters of the function roles and the study key point at their instances of the maps', () => {
    const core = mod.locals.ssm_core as Obj;
    const snake = (fn: string): string => fn.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const fn of FUNCTIONS) {
      if (fn === 'analysis' || `${snake(fn)}_role_arn` in core) expect({ fn, value: core[`${snake(fn)}_role_arn`] }).toEqual({ fn, value: `\${aws_iam_role.${roleOf(fn)}.arn}` });
    }
    expect(core.study_kms_key_arn).toBe(`\${aws_kms_key.${keyOf('study')}.arn}`);
    expect(concrete(mod, String(mod.locals.analysis_workgroup_prefix), 'dev')).toBe('tributary-dev-study-');
    expect(mod.output.analysis_role_arn.value).toBe(core.analysis_role_arn);
    expect(mod.output.study_kms_key_arn.value).toBe(core.study_kms_key_arn);
  });

  test('every SSM name is also an output of the module and of the root', () => {
    for (const name of REQUIRED_SSM) {
      expect(Object.keys(mod.output)).toContain(name);
      expect(root.output[name]?.value).toBe(`\${module.tributary.${name}}`);
    }
  });
});
