/**
 * Unit tests of the StructureDefinition-generated validator (src/fhir/validation/profile.ts).
 * Needs generated/profile-model.json (`node scripts/gen-profile-validator.mjs`, run here if missing).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { OperationOutcomeIssue } from 'fhir/r4';

const root = path.resolve(__dirname, '../..');
if (!fs.existsSync(path.join(root, 'generated/profile-model.json'))) {
  execFileSync(process.execPath, [path.join(root, 'scripts/gen-profile-validator.mjs')], { stdio: 'inherit' });
}
// eslint-disable-next-line import/first
import { createProfileValidator, loadUserRules, RulesConfigError, type ProfileValidator, type InvariantRt } from '../../src/fhir/validation/profile';
// eslint-disable-next-line import/first
import { readProfileModel, readRulesText } from '../../src/paths';

const model = readProfileModel();

const errors = (issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] => issues.filter((i) => i.severity === 'error');
const exprs = (issues: OperationOutcomeIssue[]): string[] => errors(issues).flatMap((i) => i.expression ?? []);
const diag = (issues: OperationOutcomeIssue[]): string => errors(issues).map((i) => i.diagnostics).join(' | ');

const patient = (): Record<string, unknown> => ({
  resourceType: 'Patient',
  id: 'p1',
  text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jane Doe</p></div>' },
  name: [{ family: 'Doe', given: ['Jane', 'Q'] }],
  gender: 'female',
  birthDate: '1970-01-01',
});
const observation = (): Record<string, unknown> => ({
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8310-5' }] },
  effectiveDateTime: '2020-01-01T10:00:00Z',
  valueQuantity: { value: 37.2, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
});

let v: ProfileValidator;
beforeAll(() => {
  v = createProfileValidator({ model });
});

describe('structure', () => {
  test('a valid resource has no errors (dom-6 warning only when there is no narrative)', () => {
    expect(errors(v.validate(patient()))).toEqual([]);
    const o = v.validate(observation());
    expect(errors(o)).toEqual([]);
    expect(o.some((i) => i.severity === 'warning' && /dom-6/.test(i.diagnostics ?? ''))).toBe(true);
  });

  test('unknown elements, wrong arrays, empty arrays, nulls', () => {
    const p = patient();
    p.unknownElement = 1;
    p.gender = ['female'];
    p.name = [];
    p.telecom = { system: 'phone', value: '1' };
    const issues = v.validate(p);
    expect(exprs(issues)).toEqual(expect.arrayContaining(['Patient.unknownElement', 'Patient.gender', 'Patient.name', 'Patient.telecom']));
    expect(diag(issues)).toMatch(/Unrecognized property 'unknownElement'/);
    expect(diag(issues)).toMatch(/Array cannot be empty/);
  });

  test('cardinality: missing required elements and max', () => {
    const o = observation();
    delete o.status;
    delete o.code;
    const issues = v.validate(o);
    expect(diag(issues)).toMatch(/Observation\.status: minimum required = 1/);
    expect(diag(issues)).toMatch(/Observation\.code: minimum required = 1/);
    const q = { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: 'a', type: 'group', item: [{ type: 'string' }] }] };
    // contentReference: Questionnaire.item.item is a Questionnaire.item
    expect(diag(v.validate(q))).toMatch(/Questionnaire\.item\.linkId: minimum required/);
    expect(exprs(v.validate(q))).toContain('Questionnaire.item[0].item[0]');
  });

  test('choice types: one value[x] only, unknown typed names rejected', () => {
    const o = observation();
    o.valueString = 'x';
    expect(diag(v.validate(o))).toMatch(/Only one of value\[x\]/);
    const o2 = observation();
    delete o2.valueQuantity;
    o2.valueBla = 1;
    expect(exprs(v.validate(o2))).toContain('Observation.valueBla');
    const o3 = observation();
    delete o3.valueQuantity;
    o3.value = 1;
    expect(diag(v.validate(o3))).toMatch(/Unrecognized property 'value'/);
  });

  test('primitive formats', () => {
    const cases: [string, unknown, string][] = [
      ['birthDate', 'not a date', 'Patient.birthDate'],
      ['birthDate', '2021-02-30', 'Patient.birthDate'],
      ['id', 'bad_id', 'Patient.id'],
      ['id', 'x'.repeat(65), 'Patient.id'],
      ['active', 'true', 'Patient.active'],
      ['multipleBirthInteger', 1.5, 'Patient.multipleBirthInteger'],
      ['deceasedDateTime', '2020-01-01T10:00:00', 'Patient.deceasedDateTime'],
      ['implicitRules', 'has space', 'Patient.implicitRules'],
      ['language', '', 'Patient.language'],
    ];
    for (const [k, val, e] of cases) {
      const p = patient();
      p[k] = val;
      expect(exprs(v.validate(p))).toContain(e);
    }
    const ok = patient();
    ok.deceasedDateTime = '2020-01-01T10:00:00+01:00';
    ok.multipleBirthInteger = 2;
    expect(errors(v.validate(ok))).toEqual([]);
  });

  test('base64Binary and Attachment size', () => {
    const media = (data: string, size?: number): Record<string, unknown> => ({
      resourceType: 'Media',
      status: 'completed',
      content: { contentType: 'text/plain', data, ...(size === undefined ? {} : { size }) },
    });
    expect(errors(v.validate(media('aGVscCBpJ20gYSBidWc=')))).toEqual([]);
    expect(exprs(v.validate(media('%%%2@()()')))).toContain('Media.content.data');
    expect(diag(v.validate(media('aGVscCBpJ20gYSBidWc=', 100)))).toMatch(/Stated Attachment Size 100 does not match actual attachment size 14/);
    expect(diag(v.validate(media('aGVscCBpJ20gYSBidWc=', 100), 'structure-only'))).toBe('');
  });

  test('_primitive extension shapes', () => {
    const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
    const p = patient();
    p._birthDate = ext;
    p.name = [{ given: [null, 'Q'], _given: [ext, null] }];
    expect(errors(v.validate(p))).toEqual([]);
    const bad = patient();
    bad._birthDate = { foo: 1 };
    bad.name = [{ given: [null, 'Q'] }];
    const issues = v.validate(bad);
    expect(exprs(issues)).toEqual(expect.arrayContaining(['Patient._birthDate.foo', 'Patient.name[0].given[0]']));
    const empty = patient();
    delete empty.birthDate;
    empty._birthDate = {};
    expect(diag(v.validate(empty))).toMatch(/ele-1/);
  });

  test('extensions: ext-1 and core extension definitions', () => {
    const p = patient();
    p.extension = [{ url: 'http://example.org/x' }];
    expect(diag(v.validate(p))).toMatch(/ext-1/);
    const m = patient();
    m.name = [{ family: 'F', extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/humanname-mothers-family', valueString: 'M' }] }];
    expect(diag(v.validate(m))).toMatch(/not allowed to be used at this point/);
    const ok = patient();
    ok.name = [{ family: 'F', _family: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/humanname-mothers-family', valueString: 'M' }] } }];
    expect(errors(v.validate(ok))).toEqual([]);
    const t = patient();
    t.extension = [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueString: 'x' }];
    expect(diag(v.validate(t))).toMatch(/allows for the types \[Address\] but found type string/);
  });
});

describe('bindings, invariants and business rules (strict)', () => {
  test('required bindings on code and CodeableConcept', () => {
    const o = observation();
    o.status = 'done';
    const issues = v.validate(o);
    expect(issues.find((i) => i.expression?.[0] === 'Observation.status')?.code).toBe('code-invalid');
    expect(errors(v.validate(o, 'structure-only'))).toEqual([]);
    const c = {
      resourceType: 'Condition',
      subject: { reference: 'Patient/p1' },
      clinicalStatus: { coding: [{ system: 'http://snomed.info/sct', code: '55561003' }] },
    };
    expect(exprs(v.validate(c))).toContain('Condition.clinicalStatus');
    c.clinicalStatus.coding.push({ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' });
    expect(errors(v.validate(c))).toEqual([]);
  });

  test('invariants: obs-6, per-1, qty-3, ref-1, dom-3, ras-2, que-12', () => {
    const o = observation();
    o.dataAbsentReason = { text: 'x' };
    expect(diag(v.validate(o))).toMatch(/Constraint failed: obs-6/);
    const e = { resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, period: { start: '2020-02-01', end: '2020-01-01' } };
    const ei = v.validate(e);
    expect(diag(ei)).toMatch(/per-1/);
    expect(exprs(ei)).toContain('Encounter.period');
    const q = observation();
    (q.valueQuantity as Record<string, unknown>).system = undefined;
    delete (q.valueQuantity as Record<string, unknown>).system;
    expect(diag(v.validate(q))).toMatch(/qty-3/);
    const r = observation();
    r.subject = { reference: '#nothere' };
    expect(diag(v.validate(r))).toMatch(/ref-1/);
    const d = observation();
    d.contained = [{ resourceType: 'Patient', id: 'c1' }];
    expect(diag(v.validate(d))).toMatch(/dom-3/);
    d.subject = { reference: '#c1' };
    expect(errors(v.validate(d))).toEqual([]);
    const ra = { resourceType: 'RiskAssessment', status: 'final', subject: { reference: 'Patient/1' }, prediction: [{ probabilityDecimal: 101 }] };
    expect(diag(v.validate(ra))).toMatch(/ras-2/);
    const qu = {
      resourceType: 'Questionnaire',
      status: 'draft',
      item: [{ linkId: 'a', type: 'string', enableWhen: [{ question: 'b', operator: 'exists', answerBoolean: true }, { question: 'c', operator: 'exists', answerBoolean: true }] }],
    };
    expect(diag(v.validate(qu))).toMatch(/que-12/);
  });

  test('narrative XHTML (txt-1, entities, namespace)', () => {
    const p = patient();
    p.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>' };
    expect(diag(v.validate(p))).toMatch(/txt-1/);
    p.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">&reg;</div>' };
    expect(diag(v.validate(p))).toMatch(/Invalid entity/);
    p.text = { status: 'generated', div: '<div>x</div>' };
    expect(diag(v.validate(p))).toMatch(/namespace/);
  });

  test('Bundle entries are validated as their own type, with Bundle.entry[n].resource expressions', () => {
    const o = observation();
    delete o.status;
    const b = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:6c8b5f0e-1f3a-4a7e-9a43-1f8c2b1d0001', resource: patient(), request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:6c8b5f0e-1f3a-4a7e-9a43-1f8c2b1d0002', resource: o, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const issues = v.validate(b);
    expect(exprs(issues)).toEqual(['Bundle.entry[1].resource']);
    expect(diag(issues)).toMatch(/Observation\.status: minimum required/);
    const rel = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'Patient/1', resource: patient() }] };
    expect(diag(v.validate(rel))).toMatch(/fullUrl must be an absolute URL/);
    expect(exprs(v.validate(b, 'strict', 'Bundle'))).toEqual(['Bundle.entry[1].resource']);
  });

  test('contained resources are validated; validateContained:false skips them', () => {
    const o = observation();
    o.contained = [{ resourceType: 'Patient', id: 'bad_id' }];
    o.subject = { reference: '#bad_id' };
    expect(exprs(v.validate(o))).toContain('Observation.contained[0].id');
    const ignore = createProfileValidator({ model, validateContained: false });
    expect(errors(ignore.validate(o))).toEqual([]);
  });
});

describe('levels', () => {
  test('structure-only skips bindings and invariants but not structure', () => {
    const o = observation();
    o.status = 'done';
    o.dataAbsentReason = { text: 'x' };
    expect(errors(v.validate(o, 'structure-only'))).toEqual([]);
    o.foo = 1;
    expect(exprs(v.validate(o, 'structure-only'))).toEqual(['Observation.foo']);
  });

  test('minimal only checks the resourceType', () => {
    expect(errors(v.validate({ resourceType: 'Observation', foo: 1 }, 'minimal'))).toEqual([]);
    expect(diag(v.validate({ resourceType: 'Nope' }, 'minimal'))).toMatch(/Unknown resourceType/);
    expect(diag(v.validate([], 'minimal'))).toMatch(/JSON object/);
    expect(diag(v.validate({}, 'minimal'))).toMatch(/Missing resourceType/);
  });
});

describe('user rules', () => {
  const yaml = `rules:
  - id: obs-effective
    resourceType: Observation
    expression: effective.exists()
    severity: error
    message: Observation must have effective[x]
  - id: pat-gender
    resourceType: Patient
    expression: gender.exists()
    severity: warning
    message: Patient should have a gender
`;
  test('applied at strict only, with the rule id and message', () => {
    const rv = createProfileValidator({ model, userRules: loadUserRules(yaml, v.resourceTypes) });
    const o = observation();
    expect(errors(rv.validate(o))).toEqual([]);
    delete o.effectiveDateTime;
    const issues = rv.validate(o);
    expect(errors(issues).map((i) => i.diagnostics)).toEqual(['Rule failed: obs-effective: Observation must have effective[x]']);
    expect(errors(rv.validate(o, 'structure-only'))).toEqual([]);
    const p = patient();
    delete p.gender;
    const pi = rv.validate(p);
    expect(errors(pi)).toEqual([]);
    expect(pi.some((i) => i.severity === 'warning' && /pat-gender/.test(i.diagnostics ?? ''))).toBe(true);
    // inside a Bundle too
    const b = { resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:6c8b5f0e-1f3a-4a7e-9a43-1f8c2b1d0003', resource: o }] };
    expect(exprs(rv.validate(b))).toEqual(['Bundle.entry[0].resource']);
  });

  test('bad files are rejected with a message naming the rule', () => {
    expect(() => loadUserRules(yaml.replace('effective.exists()', 'effective.exists(('))).toThrow(/rule 'obs-effective'.*does not compile/);
    expect(() => loadUserRules(yaml.replace('    severity: error\n', ''))).toThrow(/rule 'obs-effective' is missing the field 'severity'/);
    expect(() => loadUserRules(yaml.replace('severity: error', 'severity: fatal'))).toThrow(RulesConfigError);
    expect(() => loadUserRules(yaml.replace('resourceType: Observation', 'resourceType: Obs'), v.resourceTypes)).toThrow(/unknown resourceType 'Obs'/);
    expect(() => loadUserRules('- id: x\n')).toThrow(/rule 'x' is missing the field 'resourceType'/);
  });

  test('the shipped rules/rules.yaml loads and has no active rule', () => {
    const file = path.join(root, 'rules/rules.yaml');
    expect(loadUserRules(readRulesText(file).text, v.resourceTypes, file)).toEqual([]);
    expect(loadUserRules('')).toEqual([]);
  });
});

describe('fast path agrees with the fhirpath package', () => {
  test('every invariant decided by the JSON evaluator gives the fhirpath result (R4 examples sample)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fhirpath = require('fhirpath') as typeof import('fhirpath');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const r4 = require('fhirpath/fhir-context/r4');
    const compiled = new Map<InvariantRt, (n: unknown, env: Record<string, unknown>) => unknown[]>();
    const mismatches: string[] = [];
    const seen = new Map<string, number>();
    let checked = 0;
    const cv = createProfileValidator({
      model,
      onFastPath: (inv, node, ok, env) => {
        const n = seen.get(inv.k) ?? 0;
        if (n >= 40) return; // bound the cost per invariant
        seen.set(inv.k, n + 1);
        let fn = compiled.get(inv);
        if (!fn) {
          fn = fhirpath.compile({ base: inv.b, expression: inv.x }, r4, { traceFn: () => undefined }) as (n: unknown, env: Record<string, unknown>) => unknown[];
          compiled.set(inv, fn);
        }
        let r: unknown[];
        try {
          r = fn(node, { resource: env.resource, rootResource: env.rootResource, context: node, ucum: 'http://unitsofmeasure.org' });
        } catch {
          return;
        }
        checked++;
        const fpOk = !(r.length === 1 && r[0] === false);
        if (fpOk !== ok) mismatches.push(`${inv.k} on ${JSON.stringify(node).slice(0, 120)}: fast=${ok} fhirpath=${fpOk}`);
      },
    });
    const dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && !/^(StructureDefinition|ValueSet|CodeSystem|SearchParameter|ConceptMap|package)/.test(f));
    for (const f of files) {
      const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      if (r.resourceType) cv.validate(r);
    }
    console.log(`fast path cross-check: ${checked} evaluations of ${seen.size} invariants compared with fhirpath, ${mismatches.length} mismatches`);
    expect(checked).toBeGreaterThan(1000);
    expect(mismatches).toEqual([]);
  });

  test('validation does not modify the resource', () => {
    const o = observation();
    o.referenceRange = [{ low: { value: 1 }, text: 'x' }];
    const before = JSON.stringify(o);
    v.validate(o);
    expect(JSON.stringify(o)).toBe(before);
  });

  test('skipped invariants and bindings are reported', () => {
    const ev = createProfileValidator({ model, eager: true });
    const skipped = ev.skippedInvariants();
    expect(Object.keys(skipped)).toEqual(expect.arrayContaining(['txt-1', 'txt-2']));
    console.log('skipped invariants:', JSON.stringify(skipped, null, 1));
    expect(ev.skippedBindings.some((b) => b.startsWith('Attachment.contentType'))).toBe(true);
  });
});
