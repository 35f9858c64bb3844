/**
 * Conditional create (https://hl7.org/fhir/R4/http.html#ccreate), the identifier index, conditional references
 * (https://hl7.org/fhir/R4/http.html#trules), fullUrl links in batches, bdl-7 and `POST /Bundle`, on the Ingestor
 * over in-memory doubles. Every refusal: its status, its expression, and nothing written (lake, identity store,
 * version index and identifier index).
 */
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4';
import { ClientError, type OperationOutcomeError } from '../../src/fhir/errors';
import { getStatus } from '../../src/fhir/outcomes';
import { identifierToken, identifierTokens, parseCondition } from '../../src/core/ingest/conditional';
import { ingestRig, rejection, testIdentifierHasher, type IngestRig } from './ingest-doubles';

const SYNTHEA = 'https://github.com/synthetichealth/synthea';
const NPI = 'http://hl7.org/fhir/sid/us-npi';

const outcomeOf = (err: Error): OperationOutcome => (err as OperationOutcomeError).outcome;
const text = (o: OperationOutcome): string => o.issue.map((i) => i.diagnostics ?? '').join(' | ');
const expressions = (o: OperationOutcome): string[] => o.issue.flatMap((i) => i.expression ?? []);

const rig = (): IngestRig => ingestRig({ identifiers: testIdentifierHasher });
const org = (value: string): Resource => ({ resourceType: 'Organization', identifier: [{ system: SYNTHEA, value }], name: 'Hospital' }) as Resource;
const practitioner = (npi: string): Resource => ({ resourceType: 'Practitioner', identifier: [{ system: NPI, value: npi }] }) as Resource;
const post = (resource: Resource, fullUrl?: string, ifNoneExist?: string): BundleEntry => ({
  ...(fullUrl ? { fullUrl } : {}),
  resource: resource as BundleEntry['resource'],
  request: { method: 'POST', url: resource.resourceType, ...(ifNoneExist ? { ifNoneExist } : {}) },
});
const bundle = (type: 'batch' | 'transaction', entry: BundleEntry[]): Bundle => ({ resourceType: 'Bundle', type, entry });
const encounter = (refs: { org?: string; practitioner?: string; location?: string }): Resource =>
  ({
    resourceType: 'Encounter',
    status: 'finished',
    class: { code: 'AMB' },
    ...(refs.org ? { serviceProvider: { reference: refs.org } } : {}),
    ...(refs.practitioner ? { participant: [{ individual: { reference: refs.practitioner } }] } : {}),
    ...(refs.location ? { location: [{ location: { reference: refs.location } }] } : {}),
  }) as Resource;

/** Everything stored anywhere, to compare before/after a refusal. */
function snapshot(r: IngestRig): string {
  return JSON.stringify({ lake: r.lake.keys(), versions: [...r.versions.records], identity: [...r.identity.records.keys()], events: r.events.events.length });
}

async function send(r: IngestRig, body: unknown, extra: Record<string, unknown> = {}): Promise<any> {
  const out = await r.ingestor.write(r.request({ method: 'POST', body, ...extra }));
  return out;
}

describe('the conditions', () => {
  test.each([
    ['identifier=https://x|1', { token: 's:https://x|1' }],
    ['identifier=|1', { token: 'n:1' }],
    ['identifier=1', { token: 'a:1' }],
    ['Practitioner?identifier=http%3A%2F%2Fhl7.org%2Ffhir%2Fsid%2Fus-npi%7C99', { token: `s:${NPI}|99` }],
    ['_id=abc', { id: 'abc' }],
  ])('%s is read', (q, want) => expect(parseCondition(q)).toEqual(want));

  test.each([['name=Smith'], ['identifier=a&name=b'], ['identifier=https://x|'], ['']])('%s is refused naming what is supported', (q) => {
    const c = parseCondition(q);
    expect('error' in c && c.error).toMatch(/identifier=\[system\]\|\[value\], identifier=\[value\] or _id=\[id\]/);
  });

  test('tokens of a resource: system|value and any-system, |value without a system', () => {
    expect(identifierTokens({ identifier: [{ system: 's', value: 'v' }, { value: 'w' }, { system: 's' }] }).sort()).toEqual(['a:v', 'a:w', 'n:w', 's:s|v'].sort());
    expect(identifierToken('s|')).toBeUndefined();
  });
});

describe('conditional create (If-None-Exist)', () => {
  test('0 matches: created (201); the same condition again: 200 naming it, nothing written', async () => {
    const r = rig();
    const first = await send(r, org('o-1'), { type: 'Organization', ifNoneExist: `identifier=${SYNTHEA}|o-1` });
    expect(first.response[1].id).toBe('id-1');
    expect(getStatus(first.response[0])).toBe(201);
    const before = snapshot(r);
    const commits = r.versions.commits;
    const again = await send(r, org('o-1'), { type: 'Organization', ifNoneExist: `identifier=${SYNTHEA}|o-1` });
    expect(getStatus(again.response[0])).toBe(200);
    expect(again.response[1]).toMatchObject({ resourceType: 'Organization', id: 'id-1', meta: { versionId: '1' } });
    expect(text(again.response[0])).toMatch(/Organization\/id-1 matches the condition; nothing was written/);
    expect(again.objectKeys).toEqual([]);
    expect(snapshot(r)).toBe(before);
    expect(r.versions.commits).toBe(commits);
  });

  test('any-system and _id conditions find the resource too; another value creates', async () => {
    const r = rig();
    await send(r, org('o-1'), { type: 'Organization' });
    expect((await send(r, org('o-1'), { type: 'Organization', ifNoneExist: 'identifier=o-1' })).response[1].id).toBe('id-1');
    expect((await send(r, org('o-1'), { type: 'Organization', ifNoneExist: '_id=id-1' })).response[1].id).toBe('id-1');
    const other = await send(r, org('o-2'), { type: 'Organization', ifNoneExist: `identifier=${SYNTHEA}|o-2` });
    expect(getStatus(other.response[0])).toBe(201);
    expect(other.response[1].id).toBe('id-2');
  });

  test('matches are per source: another source creates its own', async () => {
    const a = rig();
    await send(a, org('o-1'), { type: 'Organization', ifNoneExist: `identifier=${SYNTHEA}|o-1` });
    const b = await a.ingestor.write({ ...a.request({ method: 'POST', type: 'Organization', body: org('o-1'), ifNoneExist: `identifier=${SYNTHEA}|o-1` }), principal: { source: 'gp-b', clientId: 'b' } });
    expect(getStatus(b.response[0])).toBe(201);
  });

  test('several matches: 412, nothing written', async () => {
    const r = rig();
    await send(r, org('o-1'), { type: 'Organization' });
    await send(r, org('o-1'), { type: 'Organization' });
    const before = snapshot(r);
    const err = await rejection(send(r, org('o-1'), { type: 'Organization', ifNoneExist: `identifier=${SYNTHEA}|o-1` }));
    expect(err).toBeInstanceOf(ClientError);
    expect(getStatus(outcomeOf(err))).toBe(412);
    expect(text(outcomeOf(err))).toMatch(/several Organization resources match/);
    expect(expressions(outcomeOf(err))).toEqual(['Organization']);
    expect(snapshot(r)).toBe(before);
  });

  test('an unsupported search parameter: 400 naming what is supported, nothing written', async () => {
    const r = rig();
    const err = await rejection(send(r, org('o-1'), { type: 'Organization', ifNoneExist: 'name=Hospital' }));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(text(outcomeOf(err))).toMatch(/search on 'name' is not supported; supported: identifier=/);
    expect(snapshot(r)).toBe(snapshot(rig()));
  });

  test('50 concurrent conditional creates of one identifier: one resource, 49 answers naming it', async () => {
    const r = rig();
    const outs = await Promise.all(
      Array.from({ length: 50 }, () => send(r, practitioner('9999'), { type: 'Practitioner', ifNoneExist: `identifier=${NPI}|9999` })),
    );
    const created = outs.filter((o) => getStatus(o.response[0]) === 201);
    expect(created).toHaveLength(1);
    const id = created[0].response[1].id;
    const named = outs.filter((o) => getStatus(o.response[0]) === 200 && o.response[1].id === id);
    expect(named).toHaveLength(49);
    const practitionerKeys = [...r.versions.records.keys()].filter((k) => k.startsWith('Practitioner/'));
    expect(practitionerKeys).toEqual([r.indexKey('Practitioner', id)]);
    expect(r.lake.keys().filter((k) => k.startsWith('raw/Practitioner/'))).toHaveLength(1);
  });

  test('the index holds no identifier value in clear', async () => {
    const r = rig();
    await send(r, practitioner('123456789'), { type: 'Practitioner', ifNoneExist: `identifier=${NPI}|123456789` });
    const index = [...r.versions.records].filter(([k]) => k.startsWith('ident/'));
    expect(index.length).toBeGreaterThan(0);
    expect(JSON.stringify(index)).not.toContain('123456789');
    expect(JSON.stringify(index)).not.toContain('us-npi');
  });
});

describe('conditional references and batch/transaction links', () => {
  const hospital = (): Bundle =>
    bundle('batch', [
      post(org('o-1'), 'urn:uuid:o1', `identifier=${SYNTHEA}|o-1`),
      post({ resourceType: 'Location', identifier: [{ system: SYNTHEA, value: 'l-1' }], managingOrganization: { reference: `Organization?identifier=${SYNTHEA}|o-1` } } as Resource, 'urn:uuid:l1', `identifier=${SYNTHEA}|l-1`),
      post(practitioner('77'), 'urn:uuid:p1', `identifier=${NPI}|77`),
    ]);

  test('a batch of conditional creates resolves its own conditional references; sent twice it creates nothing new', async () => {
    const r = rig();
    const first = await send(r, hospital());
    const entries = first.response[1].entry as BundleEntry[];
    expect(entries.map((e) => e.response!.status)).toEqual(['201 Created', '201 Created', '201 Created']);
    const location = r.lake.ndjson(r.lake.keys().find((k) => k.startsWith('raw/Location/'))!)[0];
    expect(location.managingOrganization.reference).toBe(`Organization/${entries[0].resource!.id}`);
    const before = snapshot(r);
    const again = await send(r, hospital());
    expect((again.response[1].entry as BundleEntry[]).map((e) => e.response!.status)).toEqual(['200 OK', '200 OK', '200 OK']);
    expect((again.response[1].entry as BundleEntry[]).map((e) => e.resource!.id)).toEqual(entries.map((e) => e.resource!.id));
    expect(snapshot(r)).toBe(before);
  });

  test('a patient transaction refers to them by identifier: references become Type/{id} of the match', async () => {
    const r = rig();
    const h = (await send(r, hospital())).response[1].entry as BundleEntry[];
    const tx = bundle('transaction', [
      post(encounter({ org: `Organization?identifier=${SYNTHEA}|o-1`, practitioner: `Practitioner?identifier=${NPI}|77`, location: `Location?identifier=${SYNTHEA}|l-1` }), 'urn:uuid:e1'),
    ]);
    await send(r, tx);
    const enc = r.lake.ndjson(r.lake.keys().find((k) => k.startsWith('raw/Encounter/'))!)[0];
    expect(enc.serviceProvider.reference).toBe(`Organization/${h[0].resource!.id}`);
    expect(enc.participant[0].individual.reference).toBe(`Practitioner/${h[2].resource!.id}`);
    expect(enc.location[0].location.reference).toBe(`Location/${h[1].resource!.id}`);
  });

  test.each([
    ['0 matches', async (_r: IngestRig) => undefined, /no Practitioner matches it/],
    [
      '2 matches',
      async (r: IngestRig) => {
        await send(r, practitioner('77'), { type: 'Practitioner' });
        await send(r, practitioner('77'), { type: 'Practitioner' });
      },
      /several Practitioner resources match it/,
    ],
  ])('a conditional reference with %s fails the transaction (412, expression), nothing written', async (_n, seed, message) => {
    const r = rig();
    await seed(r);
    const before = snapshot(r);
    const tx = bundle('transaction', [post(org('o-9'), 'urn:uuid:o9'), post(encounter({ practitioner: `Practitioner?identifier=${NPI}|77` }), 'urn:uuid:e1')]);
    const err = await rejection(send(r, tx));
    expect(getStatus(outcomeOf(err))).toBe(412);
    expect(text(outcomeOf(err))).toMatch(message);
    expect(expressions(outcomeOf(err))).toEqual(['Bundle.entry[1].resource.participant[0].individual.reference']);
    expect(snapshot(r)).toBe(before);
  });

  test('in a batch, only the entry with the unresolved conditional reference fails', async () => {
    const r = rig();
    const out = await send(r, bundle('batch', [post(org('o-9')), post(encounter({ practitioner: `Practitioner?identifier=${NPI}|404` }))]));
    const st = (out.response[1].entry as BundleEntry[]).map((e) => e.response!.status);
    expect(st).toEqual(['201 Created', '412 Precondition Failed']);
    expect(r.lake.keys().filter((k) => k.startsWith('raw/Encounter/'))).toEqual([]);
  });

  test('a conditional reference by another parameter: 400 naming what is supported', async () => {
    const r = rig();
    const err = await rejection(send(r, bundle('transaction', [post(encounter({ org: 'Organization?name=Hospital' }))])));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(text(outcomeOf(err))).toMatch(/Conditional reference: search on 'name' is not supported/);
    expect(expressions(outcomeOf(err))).toEqual(['Bundle.entry[0].resource.serviceProvider.reference']);
    expect(snapshot(r)).toBe(snapshot(rig()));
  });

  test('bdl-7: a duplicate fullUrl is 400 naming both entries, nothing written', async () => {
    const r = rig();
    const err = await rejection(send(r, bundle('transaction', [post(org('a'), 'urn:uuid:x'), post(org('b'), 'urn:uuid:y'), post(org('c'), 'urn:uuid:x')])));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(text(outcomeOf(err))).toMatch(/bdl-7: Bundle.entry\[2\].fullUrl repeats the fullUrl of Bundle.entry\[0\]/);
    expect(expressions(outcomeOf(err))).toEqual(expect.arrayContaining(['Bundle.entry[2].fullUrl', 'Bundle.entry[0].fullUrl']));
    expect(snapshot(r)).toBe(snapshot(rig()));
  });

  test('batch urn:uuid references are resolved (extension); one to a failed entry fails saying to send a transaction', async () => {
    const r = rig();
    const out = await send(
      r,
      bundle('batch', [
        post(org('o-1'), 'urn:uuid:ok'),
        post({ resourceType: 'Observation' } as Resource, 'urn:uuid:bad'), // no status: refused by validation
        post(encounter({ org: 'urn:uuid:ok' }), 'urn:uuid:e1'),
        post({ resourceType: 'Observation', status: 'final', code: {}, hasMember: [{ reference: 'urn:uuid:bad' }] } as Resource, 'urn:uuid:o2'),
      ]),
    );
    const es = out.response[1].entry as BundleEntry[];
    expect(es.map((e) => e.response!.status)).toEqual(['201 Created', '400 Bad Request', '201 Created', '400 Bad Request']);
    expect(text(es[3].response!.outcome as OperationOutcome)).toMatch(/refers to Bundle.entry\[1\], which failed.*send the Bundle as a transaction/);
    expect(expressions(es[3].response!.outcome as OperationOutcome)).toEqual(['Bundle.entry[3].resource.hasMember[0].reference']);
    const enc = r.lake.ndjson(r.lake.keys().find((k) => k.startsWith('raw/Encounter/'))!)[0];
    expect(enc.serviceProvider.reference).toBe(`Organization/${es[0].resource!.id}`);
  });

  test('a urn:uuid that is no entry of the Bundle: the entry fails, never stored unlinked', async () => {
    const r = rig();
    const out = await send(r, bundle('batch', [post(encounter({ org: 'urn:uuid:nowhere' }))]));
    const es = out.response[1].entry as BundleEntry[];
    expect(es[0].response!.status).toBe('400 Bad Request');
    expect(text(es[0].response!.outcome as OperationOutcome)).toMatch(/fullUrl of no entry/);
    expect(r.lake.keys()).toEqual([]);
  });

  test('a transaction POSTed to /Bundle: 400 pointing at the base URL, nothing written', async () => {
    const r = rig();
    const err = await rejection(send(r, bundle('transaction', [post(org('o-1'))]), { type: 'Bundle' }));
    expect(getStatus(outcomeOf(err))).toBe(400);
    expect(text(outcomeOf(err))).toMatch(/POST it to \[base\]/);
    expect(expressions(outcomeOf(err))).toEqual(['Bundle.type']);
    expect(snapshot(r)).toBe(snapshot(rig()));
  });
});

describe('the CapabilityStatement', () => {
  test('says conditionalCreate and which parameters', async () => {
    const { capabilityStatement } = await import('../../src/fhir/capability');
    const cs = capabilityStatement({ baseUrl: 'http://x/fhir', version: '1', resourceTypes: ['Practitioner'], maxBodyBytes: 1, validationLevel: 'strict', authEnabled: false, date: '2024-01-01' });
    const res = cs.rest![0].resource![0];
    expect(res.conditionalCreate).toBe(true);
    expect(res.documentation).toMatch(/identifier=\[system\]\|\[value\], identifier=\[value\] and _id=\[id\]/);
  });
});

describe('references inside a nested Bundle', () => {
  test('a document Bundle sent as a batch entry keeps its own urn:uuid links (not refused as unknown)', async () => {
    const r = rig();
    const doc = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: { resourceType: 'Organization', name: 'x' } },
        { fullUrl: 'urn:uuid:22222222-2222-4222-8222-222222222222', resource: { resourceType: 'Location', managingOrganization: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' } } },
      ],
    };
    const out = await send(r, bundle('batch', [{ resource: doc as BundleEntry['resource'], request: { method: 'POST', url: 'Bundle' } }]));
    expect((out.response[1].entry as BundleEntry[]).map((e) => e.response!.status)).toEqual(['201 Created']);
  });
});

describe('Patient conditional references', () => {
  test('are left to the pseudonymiser (which makes them the person\'s pseudonym): never refused, never resolved by the index', async () => {
    const r = rig();
    const ref = 'Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9000000009';
    await send(r, bundle('transaction', [post({ resourceType: 'Encounter', status: 'finished', class: { code: 'AMB' }, subject: { reference: ref } } as Resource)]));
    const enc = r.lake.ndjson(r.lake.keys().find((k) => k.startsWith('raw/Encounter/'))!)[0];
    expect(enc.subject.reference).toBe(ref); // the test double does not pseudonymise; the real engine's tests cover it
    expect(r.transform.calls).toBe(1);
  });
});
