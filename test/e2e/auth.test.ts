/**
 * Authentication and authorisation over the running stack, with REAL signed tokens: every bad token is a 401
 * OperationOutcome, a valid token without the scope a 403, and none of them writes anything to the lake, the
 * identity store or the event path. A second source cannot overwrite the first source's resource.
 *
 * The refused requests send a Patient with an NHS number, name, birth date and address, so an accepted one
 * WOULD write a lake object, an identity record and an event; a positive control shows the checks see those
 * writes. Each check looks only at what the request itself could have written (other test files write to the
 * same stack at the same time): lake objects, manifests and events by the response's request id, identity
 * records and events by the person's pseudonym (computed here with the stack's key, and checked against the
 * lake by the positive control).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair, importJWK } from 'jose';
import type { Patient } from 'fhir/r4';
import { LocalKeyService } from '../../src/adapters/local/key-service';
import { createPseudonymiser, NHS_NUMBER_SYSTEM, parsePolicy, type Pseudonymiser } from '../../src/fhir/pseudo';
import { readPolicyText } from '../../src/paths';
import { auditRecords, auditRequestId, bucket, send, stack, subscribeEvents, token, type EventSubscription } from './helpers';

/** The source of the tokens of this file's probes (bad tokens claim it too). */
const PROBE_SOURCE = 'auth-probe';

/** A valid NHS number (Modulus 11 check digit) not used before in this run: a new person for the identity store. */
const usedNhs = new Set<string>();
function nhsNumber(): string {
  for (;;) {
    const nine = `6${crypto.randomInt(0, 1e8).toString().padStart(8, '0')}`;
    let sum = 0;
    for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i);
    const check = (11 - (sum % 11)) % 11;
    if (check === 10 || usedNhs.has(nine)) continue;
    usedNhs.add(nine);
    return `${nine}${check}`;
  }
}

/** A Patient an accepted request would write to the lake AND the identity store (and announce as an event). */
function identifiablePatient(): Patient {
  return {
    resourceType: 'Patient',
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: nhsNumber() }],
    name: [{ family: 'Quarrendon', given: ['Probity'] }],
    gender: 'female',
    birthDate: '1958-02-11',
    address: [{ line: ['3 Refusal Row'], city: 'Leeds', postalCode: 'LS2 9JT' }],
  };
}

let engine: Promise<Pseudonymiser> | undefined;
/** The pseudonym the stack gives this patient (the same policy and key, from the stack's data dir). */
async function pseudonymOf(patient: Patient): Promise<string> {
  engine ??= (async () =>
    createPseudonymiser({
      policy: parsePolicy(await readPolicyText(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'))),
      keys: await LocalKeyService.open(stack().dataDir),
    }))();
  const r = await (await engine).pseudonymise(structuredClone(patient), { source: PROBE_SOURCE });
  expect(r.identities).toHaveLength(1);
  return r.identities[0].pseudonym;
}

let sub: EventSubscription;
beforeAll(async () => {
  sub = await subscribeEvents();
});
afterAll(() => sub?.close());

const sha256 = (b: Uint8Array | undefined): string => crypto.createHash('sha256').update(b ?? new Uint8Array()).digest('hex');

/** What is stored about these people: identity records (key → hash of the ciphertext) and events naming them. */
async function byPerson(pseudonyms: string[]): Promise<{ identity: Record<string, string>; events: number }> {
  const store = bucket('tributary-identity');
  const identity: Record<string, string> = {};
  for (const p of pseudonyms) for (const k of await store.list(`identity/${p}/`)) identity[k] = sha256(await store.get(k));
  const events = sub.events.filter((e) => ((e.resources as { id: string }[] | undefined) ?? []).some((r) => pseudonyms.includes(r.id))).length;
  return { identity, events };
}

/** What these requests wrote: lake objects, staged copies and commit manifests, triage items, events. */
async function byRequest(requestIds: string[]): Promise<{ lake: string[]; triage: string[]; events: unknown[] }> {
  const mine = (k: string): boolean => requestIds.some((id) => k.includes(id));
  const lake: string[] = [];
  for (const prefix of ['raw/', 'staging/', 'commits/']) lake.push(...(await bucket().list(prefix)).filter(mine));
  const triage = (await bucket('tributary-triage').list('')).filter(mine);
  return { lake, triage, events: sub.events.filter((e) => requestIds.includes(e.requestId as string)) };
}

/** Every request this file expected to be refused, for the last look at the end. */
const refused: { requestIds: string[]; pseudonyms: string[] } = { requestIds: [], pseudonyms: [] };

/** The request id of a refused response; checks it is there (the checks below key on it) and audited as refused. */
function refusedId(r: { status: number; headers: Headers }): string {
  const id = r.headers.get('x-request-id') ?? '';
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  const audit = auditRecords().filter((a) => auditRequestId(a) === id);
  expect(audit.map((a) => a.outcomeDesc.slice(0, 3))).toEqual([String(r.status)]);
  refused.requestIds.push(id);
  return id;
}

/** After a refused request: nothing of it in the lake, the identity store (before = after) or the events. */
async function expectNothingWritten(requestIds: string[], pseudonyms: string[], personBefore: Awaited<ReturnType<typeof byPerson>>): Promise<void> {
  refused.pseudonyms.push(...pseudonyms);
  // events are delivered asynchronously: give a wrong one time to arrive (the positive control's arrive in ms)
  await new Promise((res) => setTimeout(res, 500));
  expect(await byRequest(requestIds)).toEqual({ lake: [], triage: [], events: [] });
  expect(await byPerson(pseudonyms)).toEqual(personBefore);
}

function unsigned(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: stack().issuer, aud: 'tributary', sub: 'attacker', client_id: 'attacker', tributary_source: PROBE_SOURCE, scope: 'system/*.write', iat: now, exp: now + 600, ...extra };
}

const cases: [string, () => Promise<string | undefined>][] = [
  ['missing token', async () => undefined],
  ['expired', () => token(PROBE_SOURCE, 'system/*.write', { now: new Date(Date.now() - 7200_000), expiresIn: 600 })],
  ['not yet valid', () => token(PROBE_SOURCE, 'system/*.write', { notBeforeIn: 3600 })],
  ['wrong issuer', () => token(PROBE_SOURCE, 'system/*.write', { issuer: 'https://evil.example' })],
  ['wrong audience', () => token(PROBE_SOURCE, 'system/*.write', { audience: 'someone-else' })],
  [
    'wrong signature (another key)',
    async () => {
      const { privateKey } = await generateKeyPair('RS256');
      const jwks = JSON.parse(fs.readFileSync(path.join(stack().dataDir, 'issuer/jwks.json'), 'utf8'));
      return new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid: jwks.keys[0].kid }).sign(privateKey);
    },
  ],
  ['alg none', async () => unsigned(claims())],
  [
    'HS256 signed with the public key',
    async () => {
      const jwks = JSON.parse(fs.readFileSync(path.join(stack().dataDir, 'issuer/jwks.json'), 'utf8'));
      const pub = await importJWK(jwks.keys[0], 'RS256');
      const pem = await exportSPKI(pub as CryptoKey);
      return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: jwks.keys[0].kid }).sign(new TextEncoder().encode(pem));
    },
  ],
  ['garbage', async () => 'not.a.jwt'],
];

/**
 * The identity store keys of one committed request for a person from `source` (append-only:
 * `identity/{pseudonym}/{source}/{requestId}-{n}.enc` plus its `.committed` marker, docs/commit-protocol.md).
 */
const oneCommittedRecord = (p: string, source: string) => [
  expect.stringMatching(new RegExp(`^identity/${p}/${source}/[0-9a-f-]+-0\\.committed$`)),
  expect.stringMatching(new RegExp(`^identity/${p}/${source}/[0-9a-f-]+-0\\.enc$`)),
];

/**
 * The positive control: the same kind of Patient with a valid token writes a lake object (and its manifest), an
 * identity record under the pseudonym computed by pseudonymOf(), and an event, all found by the same
 * byRequest()/byPerson() the refusals are checked with. Returns the request id.
 */
async function acceptedControl(): Promise<string> {
  const patient = identifiablePatient();
  const p = await pseudonymOf(patient);
  expect(await byPerson([p])).toEqual({ identity: {}, events: 0 });
  const r = await send('POST', '/Patient', patient, { Authorization: `Bearer ${await token(PROBE_SOURCE, 'system/*.write')}` });
  expect(r.status).toBe(201);
  const id = r.headers.get('x-request-id')!;
  expect(await sub.waitFor((e) => e.requestId === id)).toHaveLength(1);
  const written = await byRequest([id]);
  expect(written.lake).toEqual([
    expect.stringMatching(new RegExp(`^raw/Patient/source=${PROBE_SOURCE}/date=[0-9-]+/${id}\\.ndjson$`)),
    expect.stringMatching(new RegExp(`^commits/date=[0-9-]+/${id}\\.json$`)),
  ]);
  expect(written.events).toHaveLength(1);
  // the lake holds the Patient under the pseudonym computed here, and the identity record is filed under it
  const line = JSON.parse(Buffer.from((await bucket().get(written.lake[0]))!).toString('utf8'));
  expect(line.id).toBe(p);
  const person = await byPerson([p]);
  expect(Object.keys(person.identity).sort()).toEqual(oneCommittedRecord(p, PROBE_SOURCE));
  expect(person.events).toBe(1);
  return id;
}

describe('bearer tokens', () => {
  test('positive control: a valid token writes the identity record, the lake object and the event the refusals are checked for', async () => {
    await acceptedControl();
  });

  test.each(cases)('%s → 401 OperationOutcome, nothing written to the lake, the identity store or the events', async (_name, make) => {
    const patient = identifiablePatient();
    const p = await pseudonymOf(patient);
    const person = await byPerson([p]);
    expect(person).toEqual({ identity: {}, events: 0 });
    const t = await make();
    const auth = { Authorization: t ? `Bearer ${t}` : '' };
    const r = await send('POST', '/Patient', patient, auth);
    expect(r.status).toBe(401);
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(r.json.issue[0].code).toBe('login');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const tx = await send('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient, request: { method: 'POST', url: 'Patient' } }] }, auth);
    expect(tx.status).toBe(401);
    await expectNothingWritten([refusedId(r), refusedId(tx)], [p], person);
  });

  test('metadata needs no token', async () => {
    const r = await send('GET', '/metadata', undefined, { Authorization: '' });
    expect(r.status).toBe(200);
  });
});

describe('SMART system scopes', () => {
  test('a token without write scope for the type → 403, nothing written to the lake, the identity store or the events', async () => {
    const t = await token(PROBE_SOURCE, 'system/Observation.write system/*.read');
    const patient = identifiablePatient();
    const p = await pseudonymOf(patient);
    const person = await byPerson([p]);
    const r = await send('POST', '/Patient', patient, { Authorization: `Bearer ${t}` });
    expect(r.status).toBe(403);
    expect(r.json.issue[0].code).toBe('forbidden');
    await expectNothingWritten([refusedId(r)], [p], person);
  });

  test('v2 scopes: system/Patient.c may create but not update (the refused update writes nothing, changes no identity record)', async () => {
    const t = await token(PROBE_SOURCE, 'system/Patient.c');
    const patient = identifiablePatient();
    const p = await pseudonymOf(patient);
    const created = await send('POST', '/Patient', patient, { Authorization: `Bearer ${t}` });
    expect(created.status).toBe(201);
    await sub.waitFor((e) => e.requestId === created.headers.get('x-request-id'));
    const person = await byPerson([p]);
    expect(Object.keys(person.identity).sort()).toEqual(oneCommittedRecord(p, PROBE_SOURCE));
    const put = await send('PUT', `/Patient/${created.json.id}`, { ...patient, id: created.json.id, gender: 'other' }, { Authorization: `Bearer ${t}` });
    expect(put.status).toBe(403);
    await expectNothingWritten([refusedId(put)], [p], person);
  });

  test('per entry: an entry outside the scopes fails in a batch and fails the whole transaction (which writes nothing)', async () => {
    const t = await token(PROBE_SOURCE, 'system/Patient.write');
    const entries = (patient: Patient) => [
      { resource: patient, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
    ];
    const batch = await send('POST', '', { resourceType: 'Bundle', type: 'batch', entry: entries(identifiablePatient()) }, { Authorization: `Bearer ${t}` });
    expect(batch.status).toBe(200);
    expect(batch.json.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '403']);
    const patient = identifiablePatient();
    const p = await pseudonymOf(patient);
    const person = await byPerson([p]);
    const tx = await send('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: entries(patient) }, { Authorization: `Bearer ${t}` });
    expect(tx.status).toBe(403);
    expect(tx.json.issue[0].expression).toEqual(['Bundle.entry[1]']);
    await expectNothingWritten([refusedId(tx)], [p], person);
  });
});

describe('source binding', () => {
  test("a second source's update of the first source's resource is 403 and the first version is intact", async () => {
    const id = `owned-${Date.now()}`;
    const a = await token('hospital-a', 'system/*.write');
    const b = await token('hospital-b', 'system/*.write');
    const patient = identifiablePatient();
    const p = await pseudonymOf(patient);
    const first = await send('PUT', `/Patient/${id}`, { ...patient, id }, { Authorization: `Bearer ${a}` });
    expect(first.status).toBe(201);
    await sub.waitFor((e) => e.requestId === first.headers.get('x-request-id'));
    const person = await byPerson([p]);
    expect(Object.keys(person.identity).sort()).toEqual(oneCommittedRecord(p, 'hospital-a'));
    const firstObjects = await byRequest([first.headers.get('x-request-id')!]);
    const steal = await send('PUT', `/Patient/${id}`, { ...patient, id, gender: 'male' }, { Authorization: `Bearer ${b}` });
    expect(steal.status).toBe(403);
    // nothing of the refused update anywhere; hospital-a's lake objects and identity record are unchanged
    await expectNothingWritten([refusedId(steal)], [p], person);
    expect(await byRequest([first.headers.get('x-request-id')!])).toEqual(firstObjects);
    // the owner can still update, and its version continues from 1
    const again = await send('PUT', `/Patient/${id}`, { ...patient, id, gender: 'other' }, { Authorization: `Bearer ${a}` });
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).toBe('W/"2"');
    // the source in the lake comes from the token, not from anything in the request
    const keys = (await bucket().list('raw/')).filter((k) => k.includes('source=hospital-b'));
    expect(keys).toEqual([]);
  });
});

describe('late writes', () => {
  test('after everything above: still nothing in the lake, the identity store or the events from any refused request', async () => {
    // a last accepted request, whose event arrives after any event published before it
    await acceptedControl();
    expect(refused.requestIds.length).toBeGreaterThanOrEqual(cases.length * 2 + 4);
    expect(await byRequest(refused.requestIds)).toEqual({ lake: [], triage: [], events: [] });
    // the people of the refused requests: identity records only for those a request of theirs was accepted for
    const person = await byPerson(refused.pseudonyms);
    const keys = Object.keys(person.identity);
    expect([...new Set(keys.map((k) => k.split('/')[2]))].sort()).toEqual([PROBE_SOURCE, 'hospital-a'].sort());
    // every record there is an accepted request's (committed): none is a refused request's
    for (const k of keys.filter((x) => x.endsWith('.enc'))) expect(keys).toContain(k.replace(/\.enc$/, '.committed'));
  });
});
