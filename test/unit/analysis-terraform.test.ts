/**
 * Static checks of the safe-analysis Terraform (terraform/modules/tributary/analysis.tf, with the analysis
 * function's role in local.function_roles of iam.tf and the study key in local.kms_keys of kms.tf), parsed with
 * @cdktf/hcl2json like the test/unit/terraform-*.test.ts files (no terraform binary here):
 * - one Athena workgroup per study, with its result location (the marts bucket, analysis-results/<study>/) and
 *   SSE-KMS encryption enforced;
 * - the analysis function's role can query only through the study workgroups and read only the tables the
 *   registry's approved analyses read (analyses/*.sql), plus the two every run reads (resource_versions, which the
 *   current-version views join, and patient_history, which the output checker scans against); nothing of the
 *   lake, identity store or triage area; it MACs only with the study key, which is not the lake's pseudonym key;
 * - the analyst role (people, with MFA) reads released files and nothing else: no Athena, no marts, no study key;
 * - the function is wired (log group, SSM parameters, serverless.yml, its workgroup prefix).
 * The locals built with `for` expressions are evaluated for the default studies, and the checkers return findings
 * (both in test/unit/analysis-terraform-checks.ts); each checker also runs on a broken copy to show that it flags
 * the problem.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  MARTS_S3,
  REPO,
  analysisLists,
  approvedNeeds,
  checkAnalysisGrants,
  checkAnalystGrants,
  checkAnalystTrust,
  checkNeeds,
  checkStudyKey,
  checkWorkgroups,
  clone,
  concrete,
  first,
  functionStatements,
  glob,
  list,
  loadModule,
  roleStatements,
  runNeeds,
  workgroupArn,
} from './analysis-terraform-checks';
import type { AnalysisLists, Module, Obj, Statement } from './analysis-terraform-checks';

let mod: Module;
let lists: AnalysisLists;
let workgroups: string[];
beforeAll(async () => {
  mod = await loadModule();
  lists = analysisLists(mod);
  workgroups = lists.studies.map((st) => workgroupArn(mod, st));
});

describe('Athena: one workgroup per study', () => {
  test('enforced result location in the marts bucket under the study, SSE-KMS under the marts key, a scan cutoff', () => {
    expect(checkWorkgroups(mod)).toEqual([]);
    expect(Object.keys(mod.variables.analysis_studies.default)).toEqual(['covid19-pht']);
    expect(workgroups).toEqual(['arn:aws:athena:eu-west-2:111111111111:workgroup/tributary-dev-study-covid19-pht']);
  });

  test('the checker flags a workgroup that is not enforced, writes elsewhere or unencrypted', () => {
    const m = clone(mod);
    const cfg = first(m.resource.aws_athena_workgroup!.study!.configuration);
    cfg.enforce_workgroup_configuration = false;
    first(cfg.result_configuration).output_location = 's3://somewhere-else/';
    first(first(cfg.result_configuration).encryption_configuration).encryption_option = 'SSE_S3';
    expect(checkWorkgroups(m)).toHaveLength(3);
  });

  test('the function may query in the study workgroups only: not the operators\' one, nor one merely named like a study\'s', () => {
    const st = functionStatements(mod, 'analysis', lists).find((s) => s.actions.includes('athena:StartQueryExecution'))!;
    expect(st.resources).toEqual(workgroups);
    const operators = `arn:aws:athena:eu-west-2:111111111111:workgroup/${concrete(mod, String(mod.resource.aws_athena_workgroup!.analytics!.name))}`;
    expect(st.resources.some((r) => glob(r, operators) || glob(r, 'arn:aws:athena:eu-west-2:111111111111:workgroup/tributary-dev-study-made-by-hand'))).toBe(false);
  });
});

describe('the analysis function reads only what approved analyses need', () => {
  test('the default studies grant exactly the marts the approved analyses read (covid19.sql)', () => {
    const needs = approvedNeeds();
    expect(needs['covid19-pht']).toEqual(['care_plan_activity', 'condition', 'encounter', 'patient', 'procedure']);
    expect(checkNeeds(mod.variables.analysis_studies.default, needs)).toEqual([]);
    expect(checkNeeds({ 'covid19-pht': { marts: [...needs['covid19-pht']!, 'observation'] } }, needs)).toEqual(['study covid19-pht: granted observation, which no approved analysis of it reads']);
    expect(checkNeeds({ 'covid19-pht': { marts: ['patient'] } }, needs)).toHaveLength(4);
  });

  test('the tables and folders granted are what runs over those marts read (views, history tables, resource_versions, the lake-pseudonym scan)', () => {
    expect(runNeeds(lists.marts)).toEqual({ tables: lists.tables, folders: lists.folders });
    // A study without the patient mart still gets patient_history: the output checker's scan reads it on every run.
    const other = analysisLists(mod, { other: { marts: ['observation'] } });
    expect(runNeeds(other.marts)).toEqual({ tables: other.tables, folders: other.folders });
    expect(other.tables).toEqual(['observation', 'observation_history', 'patient_history', 'resource_versions']);
    expect(other.folders).toEqual(['observation', 'patient', 'resource_versions']);
  });

  test('queries only in study workgroups; catalogue, files and listing of the needed tables only; the marts, study and audit keys only', () => {
    const st = functionStatements(mod, 'analysis', lists);
    expect(checkAnalysisGrants(st, lists, workgroups)).toEqual([]);
    const text = JSON.stringify(st);
    expect(/tributary-dev-(lake|identity|triage)|key\/(lake|identity|hmac|triage)/.test(text)).toBe(false);
    expect(st.some((s) => s.actions.includes('kms:GenerateMac') && s.resources.some((r) => r.endsWith('key/study')))).toBe(true);
    expect(st.some((s) => s.actions.includes('s3:GetObject') && s.resources.includes(`${MARTS_S3}/marts/resource_versions/*`))).toBe(true);
    expect(st.flatMap((s) => s.resources).filter((r) => r === '*')).toEqual([]);
  });

  test('the checker flags lake reads, another mart, a wider listing, the operators\' workgroup, a wildcard action, and a need left out', () => {
    const st = functionStatements(mod, 'analysis', lists);
    const extra: Statement[] = [
      { where: '[Lake]', effect: 'Allow', actions: ['s3:GetObject'], resources: ['arn:aws:s3:::tributary-dev-lake/*'], conditions: [] },
      { where: '[Obs]', effect: 'Allow', actions: ['s3:GetObject'], resources: [`${MARTS_S3}/marts/observation/*`], conditions: [] },
      { where: '[Wg]', effect: 'Allow', actions: ['athena:StartQueryExecution'], resources: ['arn:aws:athena:eu-west-2:111111111111:workgroup/tributary-dev'], conditions: [] },
      { where: '[All]', effect: 'Allow', actions: ['athena:*'], resources: workgroups, conditions: [] },
      { where: '[List]', effect: 'Allow', actions: ['s3:ListBucket'], resources: [MARTS_S3], conditions: [] },
    ];
    const f = checkAnalysisGrants([...st, ...extra], lists, workgroups);
    for (const sid of ['Lake', 'Obs', 'Wg', 'All', 'List']) expect(f.filter((x) => x.includes(`[${sid}]`)).length).toBeGreaterThanOrEqual(1);
    const without = st.map((s) => ({ ...s, resources: s.resources.filter((r) => !r.endsWith('/resource_versions') && !r.endsWith('/marts/patient/*')) }));
    expect(checkAnalysisGrants(without, lists, workgroups)).toEqual(['cannot read the catalogue entry of resource_versions', 'cannot read the files under marts/patient/']);
  });
});

describe('the study key and the analyst role', () => {
  test('the study key is an HMAC key of its own, for the analysis function only; it cannot use the lake\'s pseudonym key', () => {
    expect(checkStudyKey(mod)).toEqual([]);
    const m = clone(mod);
    first(list(m.docs.kms_hmac.statement).find((s: Obj) => s.sid === 'PseudonymiseOnly').principals).identifiers.push('${aws_iam_role.function["analysis"].arn}');
    list(m.docs.kms_study.statement).find((s: Obj) => s.sid === 'StudyPseudonymsOnly').principals[0].identifiers.push('${aws_iam_role.analyst.arn}');
    expect(checkStudyKey(m)).toEqual([
      'kms_study[StudyPseudonymsOnly]: GenerateMac for ${aws_iam_role.function["analysis"].arn}, ${aws_iam_role.analyst.arn}',
      'aws_kms_key.hmac: ${aws_iam_role.function["analysis"].arn} may use the lake\'s pseudonym key',
    ]);
  });

  test('analysts read released files only: no Athena, no marts, no study key', () => {
    const st = roleStatements(mod, 'analyst', lists);
    expect(checkAnalystGrants(st)).toEqual([]);
    expect(st.map((s) => `${s.where}: ${s.actions.join(', ')} on ${s.resources.join(', ')}`)).toEqual([
      `analyst[ReleasesRead]: s3:GetObject on ${MARTS_S3}/releases/*`,
      `analyst[ReleasesList]: s3:ListBucket on ${MARTS_S3}`,
      'analyst[ReleasesKey]: kms:Decrypt on arn:aws:kms:eu-west-2:111111111111:key/marts',
    ]);
    const wider: Statement[] = [
      ...st,
      { where: '[Query]', effect: 'Allow', actions: ['athena:StartQueryExecution'], resources: workgroups, conditions: [] },
      { where: '[Marts]', effect: 'Allow', actions: ['s3:GetObject'], resources: [`${MARTS_S3}/marts/patient/*`], conditions: [] },
      { where: '[Mac]', effect: 'Allow', actions: ['kms:GenerateMac'], resources: ['arn:aws:kms:eu-west-2:111111111111:key/study'], conditions: [] },
      { where: '[AnyDecrypt]', effect: 'Allow', actions: ['kms:Decrypt'], resources: ['arn:aws:kms:eu-west-2:111111111111:key/marts'], conditions: [] },
    ];
    expect(checkAnalystGrants(wider).map((x) => x.split(':')[0])).toEqual(['[Query]', '[Marts]', '[Mac]', '[AnyDecrypt]']);
    expect(checkAnalystGrants([])).toEqual(['the analyst role cannot read released files']);
  });

  test('analysts assume their role with MFA', () => {
    expect(checkAnalystTrust(mod)).toEqual([]);
    const m = clone(mod);
    delete list(m.docs.analyst_assume.statement)[0].condition;
    expect(checkAnalystTrust(m)).toEqual(['analyst_assume[AnalystsWithMfa]: no MFA condition']);
  });
});

describe('wiring of the analysis function', () => {
  test('a Terraform function (log group, role), its role and the study key published to SSM, read by serverless.yml', () => {
    expect(String(mod.locals.functions)).toContain('"analysis"');
    expect(Object.keys(mod.locals.function_roles)).toContain('analysis');
    expect(mod.locals.ssm_core).toMatchObject({ analysis_role_arn: '${aws_iam_role.function["analysis"].arn}', study_kms_key_arn: '${aws_kms_key.this["study"].arn}' });
    const sls = YAML.parse(fs.readFileSync(path.join(REPO, 'serverless.yml'), 'utf8'));
    expect(sls.functions.analysis).toMatchObject({
      handler: 'dist/src/handlers/analysis.run',
      role: '${self:custom.cfg.analysisRoleArn}',
      environment: { STUDY_KMS_KEY_ARN: '${self:custom.cfg.studyKmsKeyArn}', ANALYSIS_WORKGROUP_PREFIX: '${self:service}-${sls:stage}-study-' },
      events: [{ http: { path: 'ops/analyses/{id}/run', method: 'post', authorizer: '${self:custom.authorizer}' } }],
    });
    const aws = YAML.parse(fs.readFileSync(path.join(REPO, 'config/aws.yml'), 'utf8'));
    expect(aws.studyKmsKeyArn).toBe('${ssm:/tributary/${sls:stage}/study_kms_key_arn}');
    expect(aws.analysisRoleArn).toBe('${ssm:/tributary/${sls:stage}/analysis_role_arn}');
  });

  test('the workgroup prefix serverless.yml gives the function is the one Terraform names the workgroups with, in every stage', () => {
    const sls = YAML.parse(fs.readFileSync(path.join(REPO, 'serverless.yml'), 'utf8'));
    const prefix = String(sls.functions.analysis.environment.ANALYSIS_WORKGROUP_PREFIX);
    for (const stage of ['dev', 'staging', 'prod']) {
      const fromSls = prefix.replace('${self:service}', String(sls.service)).replace('${sls:stage}', stage);
      const fromTf = concrete(mod, '${local.analysis_workgroup_prefix}', stage);
      expect({ stage, prefix: fromSls }).toEqual({ stage, prefix: fromTf });
      expect(String(mod.resource.aws_athena_workgroup!.study!.name)).toBe('${local.analysis_workgroup_prefix}${each.key}');
    }
  });
});
