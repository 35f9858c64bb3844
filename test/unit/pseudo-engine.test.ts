/**
 * Pseudonymisation engine (issue 3): pseudonyms, NHS numbers, references, hashed ids, generalisation,
 * extensions, narrative, identity records, tags. Real HMAC through a counting in-memory KeyService.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Resource } from 'fhir/r4';
import type { KeyService } from '../../src/fhir/pseudo';
import { getStatus } from '../../src/fhir/outcomes';
import { ClientError } from '../../src/fhir/errors';
import {
  createPseudonymiser,
  generalizeDate,
  generalizePostalCode,
  identityValues,
  isValidNhsNumber,
  KEY_TAG_SYSTEM,
  MASKED,
  NARRATIVE_PLACEHOLDER,
  normaliseNhsNumber,
  parsePolicy,
  POLICY_TAG_SYSTEM,
  PSEUDED,
  SOURCE_PATIENT_KEY_SYSTEM,
  type Policy,
  type Pseudonymiser,
} from '../../src/fhir/pseudo';

const POLICY_TEXT = readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8');
const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

/** Real HMAC-SHA256, counting calls. */
function countingKeys(secret = 'unit-test-key', version = 'unit-1'): KeyService & { calls: string[] } {
  const calls: string[] = [];
  return {
    keyVersion: version,
    calls,
    async mac(m: string) {
      calls.push(m);
      return createHmac('sha256', secret).update(m).digest('hex');
    },
  };
}

async function engine(policy: Policy = parsePolicy(POLICY_TEXT), keys = countingKeys()): Promise<Pseudonymiser> {
  return createPseudonymiser({ policy, keys, clock: { now: () => new Date('2024-05-01T12:00:00Z') } });
}

const patient = (id: string, nhs: string | undefined, extra: Record<string, unknown> = {}): Resource =>
  ({
    resourceType: 'Patient',
    id,
    ...(nhs ? { identifier: [{ system: NHS, value: nhs }] } : {}),
    ...extra,
  }) as Resource;

const txn = (...entries: { resource?: any; fullUrl?: string; request?: any }[]): Bundle => ({ resourceType: 'Bundle', type: 'transaction', entry: entries });

describe('NHS numbers', () => {
  test('Modulus 11 check digit', () => {
    expect(isValidNhsNumber('9434765919')).toBe(true);
    expect(isValidNhsNumber('9000000009')).toBe(true);
    expect(isValidNhsNumber('9434765918')).toBe(false); // wrong check digit
    expect(isValidNhsNumber('9912003890')).toBe(false); // UK Core BabyPatient example
    expect(isValidNhsNumber('123456789')).toBe(false); // 9 digits
    expect(isValidNhsNumber('1000000010')).toBe(false); // remainder gives check 10: never valid
    expect(normaliseNhsNumber(' 943 476-5919 ')).toBe('9434765919');
  });

  test('an invalid NHS number is rejected with a 422 OperationOutcome carrying the expression', async () => {
    const p = await engine();
    const bundle = txn({ resource: patient('ok', '9434765919') }, { resource: patient('bad', '943 476 5918') });
    const err = await p.pseudonymise(bundle, { source: 'gp' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientError);
    const oo = (err as ClientError).outcome;
    expect(getStatus(oo)).toBe(422);
    expect(oo.issue[0]!.expression).toEqual(['Bundle.entry[1].resource.identifier[0].value']);
    expect(JSON.stringify(oo)).not.toContain('5918');
  });

  test('an invalid NHS number in a conditional or logical reference is rejected too', async () => {
    const p = await engine();
    const obs = { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' }, subject: { reference: `Patient?identifier=${NHS}|9434765918` } };
    const e1 = (await p.pseudonymise(obs as Resource, { source: 'gp' }).catch((e: unknown) => e)) as ClientError;
    expect(e1).toBeInstanceOf(ClientError);
    expect(e1.outcome.issue[0]!.expression).toEqual(['Observation.subject.reference']);
    const obs2 = { ...obs, subject: { identifier: { system: NHS, value: '9434765918' } } };
    const e2 = (await p.pseudonymise(obs2 as Resource, { source: 'gp' }).catch((e: unknown) => e)) as ClientError;
    expect(e2.outcome.issue[0]!.expression).toEqual(['Observation.subject.identifier.value']);
    expect(e2.status).toBe(422);
  });
});

describe('pseudonyms', () => {
  test('the same NHS number from two sources with different ids and spellings gets one pseudonym', async () => {
    const p = await engine();
    const a = await p.pseudonymise(patient('gp-1', '943 476 5919', { name: [{ family: 'Smith', given: ['Jo'] }] }), { source: 'gp' });
    const b = await p.pseudonymise(patient('PAS-77', '9434765919', { name: [{ family: 'SMYTHE', given: ['Joanne'] }] }), { source: 'hospital' });
    expect(a.resources[0]!.id).toBe(b.resources[0]!.id);
    expect(a.resources[0]!.id).toMatch(/^p-[a-z2-7]{32}$/);
    expect(a.identities[0]!.pseudonym).toBe(a.resources[0]!.id);
    expect(a.identities[0]!.source).toBe('gp');
    expect(b.identities[0]!.source).toBe('hospital');
  });

  test('different NHS numbers, local identifiers and source ids give different pseudonyms (namespaced inputs)', async () => {
    const p = await engine();
    const ids = new Set<string>();
    for (const nhs of ['9434765919', '9434765870', '9000000009', '4010232137']) ids.add((await p.pseudonymise(patient('x', nhs), { source: 'gp' })).resources[0]!.id!);
    // A local identifier whose value is an NHS number does not collide with the NHS-number pseudonym.
    const local = { resourceType: 'Patient', id: 'x', identifier: [{ system: 'https://gp.example/mrn', value: '9434765919' }] } as Resource;
    ids.add((await p.pseudonymise(local, { source: 'gp' })).resources[0]!.id!);
    // No identifier: source|Patient/id, so two sources' "x" differ.
    ids.add((await p.pseudonymise(patient('x', undefined), { source: 'gp' })).resources[0]!.id!);
    ids.add((await p.pseudonymise(patient('x', undefined), { source: 'hospital' })).resources[0]!.id!);
    expect(ids.size).toBe(7);
  });

  test('a different key gives different pseudonyms; the key version is recorded', async () => {
    const k2 = countingKeys('another-key', 'unit-2');
    const a = await (await engine()).pseudonymise(patient('a', '9434765919'), { source: 'gp' });
    const b = await (await engine(parsePolicy(POLICY_TEXT), k2)).pseudonymise(patient('a', '9434765919'), { source: 'gp' });
    expect(a.resources[0]!.id).not.toBe(b.resources[0]!.id);
    expect(b.resources[0]!.meta!.tag).toContainEqual({ system: KEY_TAG_SYSTEM, code: 'unit-2' });
    expect(b.identities[0]!.record.keyVersion).toBe('unit-2');
  });

  test('KeyService calls: one to derive the id key, then per distinct person its pseudonym and its source-local key, batched', async () => {
    const keys = countingKeys();
    const p = await engine(parsePolicy(POLICY_TEXT), keys);
    expect(keys.calls).toEqual(['tributary:v1:id-hash-key']);
    const bundle = txn(
      { resource: patient('a', '9434765919'), fullUrl: 'urn:uuid:00000000-0000-4000-8000-000000000001' },
      { resource: patient('b', '9434765870') },
      { resource: { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 't' }, subject: { reference: 'urn:uuid:00000000-0000-4000-8000-000000000001' } } },
      { resource: { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 't' }, subject: { reference: `Patient?identifier=${NHS}|9434765919` } } },
    );
    await p.pseudonymise(bundle, { source: 'gp' });
    // id key + 2 people's pseudonyms (nhs:) + their 2 source-local keys (src:gp|Patient/a, src:gp|Patient/b), one batch
    expect(keys.calls.length).toBe(5);
    expect(keys.calls.filter((c) => c.includes('nhs:9434765919'))).toHaveLength(1);
    expect(keys.calls.filter((c) => c.includes('src:gp|Patient/'))).toHaveLength(2);
  });
});

describe('references and ids', () => {
  const bundle = (): Bundle =>
    txn(
      { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: patient('src-pat-1', '9434765919'), request: { method: 'PUT', url: 'Patient/src-pat-1' } },
      {
        fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222',
        resource: { resourceType: 'Encounter', id: 'enc-9', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' } },
        request: { method: 'POST', url: 'Encounter' },
      },
      {
        fullUrl: 'urn:uuid:33333333-3333-4333-8333-333333333333',
        resource: {
          resourceType: 'Observation',
          id: 'obs-5',
          status: 'final',
          code: { text: 'HR' },
          subject: { reference: 'Patient/src-pat-1' },
          encounter: { reference: 'urn:uuid:22222222-2222-4222-8222-222222222222' },
          hasMember: [{ reference: 'Observation/obs-6' }, { reference: 'https://other.example/fhir/Observation/obs-77' }],
          performer: [{ reference: `Patient?identifier=${NHS}|943 476 5919` }, { identifier: { system: NHS, value: '9434765919' }, display: 'Jo Smith' }],
          specimen: { reference: 'https://directory.example.nhs.uk/Location/ABC' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
      { request: { method: 'DELETE', url: 'Observation/obs-old' } },
    );

  test('every form of reference to the patient becomes Patient/{pseudonym}; other ids are hashed per source', async () => {
    const p = await engine();
    const r = await p.pseudonymise(bundle(), { source: 'gp' });
    const [pat, enc, obs] = r.resources as any[];
    const ps = pat.id;
    expect(enc.subject.reference).toBe(`Patient/${ps}`);
    expect(obs.subject.reference).toBe(`Patient/${ps}`);
    expect(obs.performer[0].reference).toBe(`Patient/${ps}`);
    expect(obs.performer[1]).toEqual({ reference: `Patient/${ps}` }); // logical reference by NHS number, display gone
    expect(enc.id).toMatch(/^h-[a-z2-7]{32}$/);
    expect(obs.encounter.reference).toBe(`Encounter/${enc.id}`);
    expect(obs.hasMember[0].reference).toBe(`Observation/${p.hashId('gp', 'Observation', 'obs-6')}`);
    expect(obs.hasMember[1].reference).toBe(`Observation/${p.hashId('gp', 'Observation', 'https://other.example/fhir/Observation/obs-77')}`);
    // Absolute references to public registries (policy publicReferenceTypes) are kept.
    expect(obs.specimen.reference).toBe('https://directory.example.nhs.uk/Location/ABC');
  });

  test('the idMap maps client ids and fullUrls to lake ids; the output bundle leaks no fullUrl', async () => {
    const p = await engine();
    const r = await p.pseudonymise(bundle(), { source: 'gp' });
    const ps = r.resources[0]!.id;
    expect(r.idMap.get('Patient/src-pat-1')).toBe(`Patient/${ps}`);
    expect(r.idMap.get('Encounter/enc-9')).toBe(`Encounter/${r.resources[1]!.id}`);
    expect(r.idMap.get('urn:uuid:33333333-3333-4333-8333-333333333333')).toBe(`Observation/${r.resources[2]!.id}`);
    expect(r.entries.map((e) => e.sourceId)).toEqual(['src-pat-1', 'enc-9', 'obs-5', undefined]);
    const text = JSON.stringify(r.bundle);
    for (const leak of ['src-pat-1', 'enc-9', 'obs-5', 'obs-old', '11111111-1111', '22222222-2222', '33333333-3333']) expect(text).not.toContain(leak);
    expect(r.bundle!.entry![0]!.request).toEqual({ method: 'PUT', url: `Patient/${ps}` });
    expect(r.bundle!.entry![3]!.request).toEqual({ method: 'DELETE', url: `Observation/${p.hashId('gp', 'Observation', 'obs-old')}` });
    expect(r.bundle!.entry![1]!.fullUrl).toMatch(/^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('hashed ids are stable per source and differ between sources', async () => {
    const p = await engine();
    const obs = { resourceType: 'Observation', id: '123', status: 'final', code: { text: 'x' } } as Resource;
    const a1 = (await p.pseudonymise(obs, { source: 'gp' })).resources[0]!.id;
    const a2 = (await p.pseudonymise(obs, { source: 'gp' })).resources[0]!.id;
    const b = (await p.pseudonymise(obs, { source: 'ambulance' })).resources[0]!.id;
    expect(a1).toBe(a2);
    expect(a1).not.toBe(b);
  });

  test('patients referenced but not sent: the resolver is asked, else source|Patient/id', async () => {
    const resolver = { asked: [] as string[][], async resolve(_s: string, ids: string[]) {
      this.asked.push(ids);
      return new Map(ids.filter((i) => i === 'known').map((i) => [i, 'p-known']));
    } };
    const p = await createPseudonymiser({ policy: parsePolicy(POLICY_TEXT), keys: countingKeys(), patientResolver: resolver });
    const obs = (id: string, pat: string) => ({ resourceType: 'Observation', id, status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${pat}` } });
    const r = await p.pseudonymise([obs('1', 'known'), obs('2', 'unknown')] as Resource[], { source: 'gp' });
    expect(resolver.asked).toEqual([['known', 'unknown']]);
    expect((r.resources[0] as any).subject.reference).toBe('Patient/p-known');
    const fallback = (await p.pseudonymise(patient('unknown', undefined), { source: 'gp' })).resources[0]!.id;
    expect((r.resources[1] as any).subject.reference).toBe(`Patient/${fallback}`);
    expect(r.idMap.get('Patient/unknown')).toBe(`Patient/${fallback}`);
  });

  test('contained resources get local ids c1.. and local references follow', async () => {
    const p = await engine();
    const eob = {
      resourceType: 'ExplanationOfBenefit',
      id: 'eob-1',
      contained: [{ resourceType: 'Coverage', id: 'coverage-of-9434765919', status: 'active', beneficiary: { reference: 'Patient/x' }, payor: [{ display: 'ACME' }] }],
      insurance: [{ focal: true, coverage: { reference: '#coverage-of-9434765919' } }],
    } as unknown as Resource;
    const r = (await p.pseudonymise(eob, { source: 'gp' })).resources[0] as any;
    expect(r.contained[0].id).toBe('c1');
    expect(r.insurance[0].coverage.reference).toBe('#c1');
    expect(JSON.stringify(r)).not.toContain('9434765919');
  });
});

describe('policy methods on a patient', () => {
  const full = (): Resource =>
    ({
      resourceType: 'Patient',
      id: 'p1',
      meta: { versionId: '7', lastUpdated: '2024-01-01T00:00:00Z', source: 'https://gp/Patient/p1', profile: ['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient'] },
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Joanne Smith 9434765919</div>' },
      extension: [
        { url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' },
        { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace', valueAddress: { city: 'Leeds' } },
        { url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Brown' },
        { url: 'https://unknown.example/ext', valueString: 'anything' },
      ],
      identifier: [{ system: NHS, value: '9434765919' }],
      name: [{ family: 'Smith', given: ['Joanne'] }],
      telecom: [{ system: 'phone', value: '0113 496 0000' }],
      gender: 'female',
      birthDate: '1970-09-11',
      _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1970-09-11T10:00:00Z' }] },
      address: [{ line: ['1 Park Row'], city: 'Leeds', postalCode: 'LS1 4AP', country: 'GB' }],
      maritalStatus: { text: 'Married' },
    }) as unknown as Resource;

  test('vault, generalise, redact, keep, extension allow-list, tags', async () => {
    const p = await engine();
    const r = await p.pseudonymise(full(), { source: 'gp' });
    const out = r.resources[0] as any;
    expect(out.birthDate).toBe('1970');
    expect(out._birthDate).toBeUndefined();
    expect(out.address).toEqual([{ postalCode: 'LS1', country: 'GB' }]);
    expect(out.name).toBeUndefined();
    expect(out.telecom).toBeUndefined();
    // the person's pseudonym, then the source-local key (what a reference sent before this Patient got)
    expect(out.identifier).toEqual([
      { system: 'https://tributary.nhs.example/Id/pseudonym', value: out.id },
      { system: SOURCE_PATIENT_KEY_SYSTEM, value: expect.stringMatching(/^p-[a-z2-7]{32}$/) },
    ]);
    expect(out.identifier[1].value).not.toBe(out.id);
    expect(out.extension).toEqual([{ url: 'http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex', valueCode: 'F' }]);
    expect(out.text).toEqual({ status: 'empty', div: NARRATIVE_PLACEHOLDER });
    expect(out.maritalStatus).toEqual({ text: 'Married' });
    expect(out.meta.versionId).toBeUndefined();
    expect(out.meta.source).toBeUndefined();
    expect(out.meta.profile).toEqual(['https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient']);
    expect(out.meta.security).toContainEqual(PSEUDED);
    expect(out.meta.tag).toContainEqual({ system: POLICY_TAG_SYSTEM, code: '1.0.0' });
    const rec = r.identities[0]!.record;
    expect(rec).toMatchObject({ pseudonym: out.id, source: 'gp', resourceType: 'Patient', sourceIds: ['Patient/p1'], policyVersion: '1.0.0', keyVersion: 'unit-1', receivedAt: '2024-05-01T12:00:00.000Z' });
    const byPath = Object.fromEntries(rec.elements.map((e) => [e.path, e]));
    expect(byPath['Patient.birthDate']).toEqual({ path: 'Patient.birthDate', value: '1970-09-11', extension: (full() as any)._birthDate });
    expect(byPath['Patient.name']!.value).toEqual([{ family: 'Smith', given: ['Joanne'] }]);
    expect(byPath['Patient.identifier']!.value).toEqual([{ system: NHS, value: '9434765919' }]);
    expect(Object.keys(byPath).sort()).toEqual(['Patient.address', 'Patient.birthDate', 'Patient.identifier', 'Patient.name', 'Patient.telecom']);
  });

  test('parameters: month precision, narrative removed, US ZIP', async () => {
    const policy = parsePolicy(POLICY_TEXT.replace('datePrecision: year', 'datePrecision: month').replace('narrative: placeholder', 'narrative: remove'));
    const r = (await (await engine(policy)).pseudonymise(full(), { source: 'gp' })).resources[0] as any;
    expect(r.birthDate).toBe('1970-09');
    expect(r.text).toBeUndefined();
    expect(generalizePostalCode('01940')).toBe('019');
    expect(generalizePostalCode('01940-1234', 5)).toBe('01940');
    expect(generalizePostalCode('ls174df')).toBe('LS17');
    expect(generalizePostalCode('EC1A 1BB')).toBe('EC1A');
    expect(generalizePostalCode('not a postcode')).toBeUndefined();
    expect(generalizeDate('1970-09-11T10:00:00Z', 'year')).toBe('1970');
  });

  test('kept free text is scrubbed of the identifiers of the people in the request', async () => {
    const p = await engine();
    const obs = {
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { text: 'Smith family history' },
      subject: { reference: 'Patient/p1' },
      valueString: 'Joanne (not Jo) called from 0113 4960000 on 11/09/1970',
      note: [{ text: 'NHS 943 476 5919 confirmed', authorString: 'Dr Who' }],
      effectiveDateTime: '1970-09-11',
    };
    const r = await p.pseudonymise([full(), obs as unknown as Resource], { source: 'gp' });
    const o = r.resources[1] as any;
    expect(o.code.text).toBe('[redacted] family history');
    // Names under 3 characters are not hunted (they would hit ordinary words).
    expect(o.valueString).toBe('[redacted] (not Jo) called from [redacted] on [redacted]');
    expect(o.note).toEqual([{ text: 'NHS [redacted] confirmed' }]);
    expect(o.effectiveDateTime).toBe('1970'); // a date-only value equal to the birth date
    expect(r.stats.scrubbedStrings).toBe(3);
  });

  test('names in Reference.display of people are scrubbed; displays of references to other things are kept', async () => {
    const p = await engine();
    const bundle = txn(
      { fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001', resource: { resourceType: 'Practitioner', id: 'pr' }, request: { method: 'POST', url: 'Practitioner' } },
      {
        fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002',
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'Hemoglobin [Mass/volume] in Blood' }, subject: { reference: 'Patient/p9', display: 'Oluwaseun Featherstonehaugh' } },
        request: { method: 'POST', url: 'Observation' },
      },
      {
        resource: {
          resourceType: 'DiagnosticReport',
          status: 'final',
          code: { text: 'Seen by Zebedee Quixote: Hemoglobin normal, Featherstonehaugh informed' },
          result: [{ reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002', display: 'Hemoglobin [Mass/volume] in Blood' }],
          performer: [{ reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001', display: 'Dr. Zebedee Quixote' }],
        },
        request: { method: 'POST', url: 'DiagnosticReport' },
      },
    );
    const r = await p.pseudonymise(bundle, { source: 'gp' });
    const [, obs, report] = r.resources as any[];
    // an Observation's display is not a name: the lab test's own text stays whole
    expect(obs.code.text).toBe('Hemoglobin [Mass/volume] in Blood');
    // the practitioner (urn:uuid resolving to a Practitioner in the request) and the patient are hunted
    expect(report.code.text).toBe('Seen by [redacted] [redacted]: Hemoglobin normal, [redacted] informed');
  });

  test('with an IdentityLookup, text in resources sent without their patient is scrubbed of the identity record', async () => {
    const keys = countingKeys();
    const first = await (await engine(parsePolicy(POLICY_TEXT), keys)).pseudonymise(full(), { source: 'gp' });
    const stored = first.identities; // what the pipeline puts in the vault
    const lookups: string[][] = [];
    const p = await createPseudonymiser({
      policy: parsePolicy(POLICY_TEXT),
      keys,
      patientResolver: { resolve: async (_s, ids) => new Map(ids.map((i) => [i, first.resources[0]!.id!])) },
      identityLookup: {
        lookup: async (ps) => {
          lookups.push(ps);
          return identityValues(stored.filter((x) => ps.includes(x.pseudonym)));
        },
      },
    });
    const obs = { resourceType: 'Observation', id: 'o', status: 'final', code: { text: 'Spoke to Joanne Smith' }, subject: { reference: 'Patient/p1' }, valueString: 'rang 0113 496 0000 from 1 Park Row' };
    const r = await p.pseudonymise(obs as unknown as Resource, { source: 'gp' });
    const o = r.resources[0] as any;
    expect(lookups).toEqual([[first.resources[0]!.id]]);
    expect(o.subject.reference).toBe(`Patient/${first.resources[0]!.id}`);
    expect(o.code.text).toBe('Spoke to [redacted] [redacted]');
    expect(o.valueString).toBe('rang [redacted] from [redacted]');
    // Without the lookup the engine cannot know these values.
    const plain = (await (await engine(parsePolicy(POLICY_TEXT), keys)).pseudonymise(obs as unknown as Resource, { source: 'gp' })).resources[0] as any;
    expect(plain.code.text).toBe('Spoke to Joanne Smith');
  });

  test('a required element the policy empties becomes data-absent-reason masked (schema stays valid)', async () => {
    const p = await engine();
    const eob = { resourceType: 'ExplanationOfBenefit', id: 'e', status: 'active', type: { text: 'x' }, use: 'claim', patient: { reference: 'Patient/1' }, created: '2020-01-01', insurer: { display: 'ACME Health' }, provider: { display: 'Dr Who' }, outcome: 'complete', insurance: [{ focal: true, coverage: { display: 'private' } }] };
    const r = (await p.pseudonymise(eob as unknown as Resource, { source: 'gp' })).resources[0] as any;
    expect(r.insurer).toEqual({ extension: [MASKED] });
    expect(r.provider).toEqual({ extension: [MASKED] });
    expect(r.insurance[0].coverage).toEqual({ extension: [MASKED] });
  });

  test('unknown resource types are refused with a 400', async () => {
    const p = await engine();
    const err = (await p.pseudonymise({ resourceType: 'Unicorn', id: 'u' } as unknown as Resource, { source: 'gp' }).catch((e: unknown) => e)) as ClientError;
    expect(err).toBeInstanceOf(ClientError);
    expect(err.status).toBe(400);
  });
});
