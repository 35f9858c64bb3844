/**
 * The pseudonymisation policy file: validated at start-up (ajv + the R4 model), errors name the bad rule,
 * precedence between rules, and the shipped policy/pseudonymisation.yaml.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from 'fhir/r4';
import { createPseudonymiser, parsePolicy, PolicyError, validatePolicy } from '../../src/fhir/pseudo';
import { readPolicyText } from '../../src/paths';

const POLICY_FILE = path.resolve(__dirname, '../../policy/pseudonymisation.yaml');
const keys = { keyVersion: 'k1', mac: async (m: string) => createHmac('sha256', 'k').update(m).digest('hex') };

const policyWith = (rules: string) => `version: "t1"\nrules:\n${rules}`;

function errorOf(text: string): string {
  try {
    parsePolicy(text);
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return (e as Error).message;
  }
  throw new Error('policy was accepted');
}

describe('policy validation', () => {
  test('the shipped policy loads, with its version and defaults', async () => {
    const p = parsePolicy(await readPolicyText(POLICY_FILE));
    expect(p.version).toBe('1.0.0');
    expect(p.rules.length).toBeGreaterThan(50);
    expect(p.parameters.datePrecision).toBe('year');
    expect(p.extensions.allow).toContain('https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory');
    expect(p.extensions.allow).not.toContain('http://hl7.org/fhir/StructureDefinition/patient-birthPlace');
    expect(p.extensions.allow).not.toContain('http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName');
  });

  test.each([
    ['an unknown element', '  - { path: Patient.name, method: vault }\n  - { path: Patient.nmae, method: vault }', /rule 1 \(path "Patient\.nmae", method "vault"\): "nmae" is not an element of Patient/],
    ['an unknown method', '  - { path: Patient.name, method: scramble }', /rule 0 \(path "Patient\.name", method "scramble"\).*must be equal to one of the allowed values \(vault, pseudonym, hash, generalize, redact, keep\)/],
    ['generalize on a name', '  - { path: Patient.name, method: generalize }', /rule 0 .*cannot generalize an element of type HumanName/],
    ['pseudonym outside Patient', '  - { path: Observation.identifier, method: pseudonym }', /rule 0 .*"pseudonym" applies to Patient elements only/],
    ['hash on a complex type', '  - { path: Patient.address, method: hash }', /rule 0 .*cannot hash an element of type Address/],
    ['systems on a non-identifier', '  - { path: Patient.name, method: keep, systems: [x] }', /rule 0 .*"systems" applies to Identifier elements/],
    ['keep without vault', '  - { path: Patient.birthDate, method: redact, keep: generalize }', /rule 0 .*"keep" goes with method "vault" only/],
    ['a whole resource redacted', '  - { path: Observation, method: redact }', /rule 0 .*a whole resource type only takes method "keep"/],
    ['an unknown type', '  - { path: Pateint.name, method: vault }', /rule 0 .*"Pateint" is neither a FHIR R4 resource type nor a data type/],
    ['an unknown property', '  - { path: Patient.name, method: vault, when: always }', /rule 0 .*must NOT have additional properties "when"/],
    ['a path that is not a path', '  - { path: "Patient.name.where(use=\'official\')", method: vault }', /rule 0 .*is not a supported path/],
  ])('%s is refused, naming the rule', (_what, rules, message) => {
    expect(errorOf(policyWith(rules))).toMatch(message);
  });

  test('file-level problems', () => {
    expect(errorOf('rules:\n  - { path: Patient.name, method: vault }')).toMatch(/must have required property 'version'/);
    expect(errorOf('version: "has space"\nrules:\n  - { path: Patient.name, method: vault }')).toMatch(/\/version/);
    expect(errorOf('version: "1"\nrules: [')).toMatch(/not valid YAML/);
    expect(errorOf('version: "1"\nparameters: { datePrecision: day }\nrules:\n  - { path: Patient.name, method: vault }')).toMatch(/\/parameters\/datePrecision.*year, month/);
  });

  test('path forms: nodesByType(), Resource., choice base names, recursive backbone elements', () => {
    const p = validatePolicy({
      version: 'x',
      rules: [
        { path: "nodesByType('HumanName')", method: 'redact' },
        { path: 'Resource.text', method: 'redact' },
        { path: 'Observation.value', method: 'keep' },
        { path: 'Questionnaire.item.item.text', method: 'keep' },
        { path: 'Coding.display', method: 'keep' },
      ],
    });
    expect(p.rules).toHaveLength(5);
  });
});

describe('rule precedence', () => {
  test('a resource path beats a data-type rule whatever the order; the first of a kind wins', async () => {
    const policy = parsePolicy(
      policyWith(
        [
          '  - { path: HumanName, method: keep }',
          '  - { path: Patient.name, method: redact }',
          '  - { path: Organization.contact.name, method: keep }',
          '  - { path: Organization.contact.name, method: redact }',
          '  - { path: Identifier, method: hash }',
          '  - { path: Reference.identifier, method: keep }',
        ].join('\n'),
      ),
    );
    const p = await createPseudonymiser({ policy, keys });
    const r = await p.pseudonymise(
      [
        { resourceType: 'Patient', id: 'a', name: [{ family: 'Smith' }] },
        { resourceType: 'Organization', id: 'b', contact: [{ name: { family: 'Jones' } }] },
        { resourceType: 'RelatedPerson', id: 'c', patient: { identifier: { system: 'urn:x', value: 'V123' } }, name: [{ family: 'Brown' }] },
      ] as unknown as Resource[],
      { source: 's' },
    );
    const [pat, org, rp] = r.resources as any[];
    expect(pat.name).toBeUndefined();
    expect(org.contact).toEqual([{ name: { family: 'Jones' } }]);
    // HumanName keep (no more specific rule) - but kept text is scrubbed of the request's people, Brown included.
    expect(rp.name).toEqual([{ family: '[redacted]' }]);
    expect(rp.patient.identifier).toEqual({ system: 'urn:x', value: 'V123' }); // Reference.identifier beats Identifier
  });

  test('an Identifier rule limited to systems applies per identifier', async () => {
    const p = await createPseudonymiser({ policy: parsePolicy(await readPolicyText(POLICY_FILE)), keys });
    const org = {
      resourceType: 'Organization',
      id: 'o',
      identifier: [
        { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RR8' },
        { system: 'https://internal.example/org', value: 'INTERNAL-42' },
      ],
      name: 'Leeds Teaching Hospitals NHS Trust',
    } as Resource;
    const out = (await p.pseudonymise(org, { source: 's' })).resources[0] as any;
    expect(out.identifier[0]).toEqual({ system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: 'RR8' });
    expect(out.identifier[1].value).toMatch(/^h-/);
    expect(out.name).toBe('Leeds Teaching Hospitals NHS Trust');
  });

  test('string elements no rule keeps are removed; conformance resources are kept whole', async () => {
    const p = await createPseudonymiser({ policy: parsePolicy(await readPolicyText(POLICY_FILE)), keys });
    const r = await p.pseudonymise(
      [
        { resourceType: 'Encounter', id: 'e', status: 'finished', class: { code: 'AMB' }, serviceProvider: { display: 'x' }, hospitalization: { preAdmissionIdentifier: { value: 'PRE-1' } }, priority: { text: 'urgent' } },
        { resourceType: 'Questionnaire', id: 'q', status: 'active', title: 'Fitness for work', item: [{ linkId: '1', text: 'Name of employer?', type: 'string', item: [{ linkId: '1.1', text: 'Address', type: 'string' }] }] },
        { resourceType: 'CarePlan', id: 'c', status: 'active', intent: 'plan', subject: { reference: 'Patient/x' }, description: 'Free text that could say anything', title: 'Plan' },
      ] as unknown as Resource[],
      { source: 's' },
    );
    const [enc, q, cp] = r.resources as any[];
    expect(enc.priority).toEqual({ text: 'urgent' });
    expect(enc.hospitalization.preAdmissionIdentifier.value).toMatch(/^h-/);
    expect(q.title).toBe('Fitness for work');
    expect(q.item[0].item[0].text).toBe('Address');
    expect(cp.description).toBeUndefined();
    expect(cp.title).toBeUndefined();
  });
});
