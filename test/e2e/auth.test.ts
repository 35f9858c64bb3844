/**
 * Authentication and authorisation over the running stack, with REAL signed tokens: every bad token is a 401
 * OperationOutcome, a valid token without the scope a 403, and none of them writes anything to the lake, the
 * identity store or the event path. A second source cannot overwrite the first source's resource.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair, importJWK } from 'jose';
import { bucket, lakeSnapshot, send, stack, token } from './helpers';

const patient = { resourceType: 'Patient', gender: 'female' };

/** Everything a refused request must leave untouched. */
async function stores(): Promise<string> {
  const lake = await lakeSnapshot();
  const identity = await bucket('tributary-identity').list('');
  const triage = await bucket('tributary-triage').list('');
  return JSON.stringify({ lake: lake.keys, lines: lake.lines, identity, triage });
}

/** Events reach subscribers through the local SNS endpoint; count what one captured. */
let events: string[] = [];
let server: import('node:http').Server;
beforeAll(async () => {
  const http = await import('node:http');
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      events.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const { SNSClient, SubscribeCommand } = await import('@aws-sdk/client-sns');
  const sns = new SNSClient({ region: 'eu-west-2', endpoint: stack().snsEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  await sns.send(
    new SubscribeCommand({ TopicArn: 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest', Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/` }),
  );
});
afterAll(() => server?.close());

function unsigned(payload: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: stack().issuer, aud: 'tributary', sub: 'attacker', client_id: 'attacker', tributary_source: 'e2e-source', scope: 'system/*.write', iat: now, exp: now + 600, ...extra };
}

const cases: [string, () => Promise<string | undefined>][] = [
  ['missing token', async () => undefined],
  ['expired', () => token('e2e-source', 'system/*.write', { now: new Date(Date.now() - 7200_000), expiresIn: 600 })],
  ['not yet valid', () => token('e2e-source', 'system/*.write', { notBeforeIn: 3600 })],
  ['wrong issuer', () => token('e2e-source', 'system/*.write', { issuer: 'https://evil.example' })],
  ['wrong audience', () => token('e2e-source', 'system/*.write', { audience: 'someone-else' })],
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

describe('bearer tokens', () => {
  test.each(cases)('%s → 401 OperationOutcome, nothing written anywhere', async (_name, make) => {
    const before = await stores();
    const eventsBefore = events.length;
    const t = await make();
    const r = await send('POST', '/Patient', patient, { Authorization: t ? `Bearer ${t}` : '' });
    expect(r.status).toBe(401);
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(r.json.issue[0].code).toBe('login');
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const tx = await send('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: patient, request: { method: 'POST', url: 'Patient' } }] }, { Authorization: t ? `Bearer ${t}` : '' });
    expect(tx.status).toBe(401);
    await new Promise((res) => setTimeout(res, 300));
    expect(await stores()).toBe(before);
    expect(events.length).toBe(eventsBefore);
  });

  test('a valid token is accepted and its event reaches an SNS subscriber', async () => {
    const before = events.length;
    const r = await send('POST', '/Patient', patient);
    expect(r.status).toBe(201);
    for (let i = 0; i < 50 && events.length === before; i++) await new Promise((res) => setTimeout(res, 100));
    expect(events.length).toBeGreaterThan(before);
  });

  test('metadata needs no token', async () => {
    const r = await send('GET', '/metadata', undefined, { Authorization: '' });
    expect(r.status).toBe(200);
  });
});

describe('SMART system scopes', () => {
  test('a token without write scope for the type → 403, nothing written', async () => {
    const t = await token('e2e-source', 'system/Observation.write system/*.read');
    const before = await stores();
    const r = await send('POST', '/Patient', patient, { Authorization: `Bearer ${t}` });
    expect(r.status).toBe(403);
    expect(r.json.issue[0].code).toBe('forbidden');
    expect(await stores()).toBe(before);
  });

  test('v2 scopes: system/Patient.c may create but not update', async () => {
    const t = await token('e2e-source', 'system/Patient.c');
    const created = await send('POST', '/Patient', patient, { Authorization: `Bearer ${t}` });
    expect(created.status).toBe(201);
    const put = await send('PUT', `/Patient/${created.json.id}`, { ...patient, id: created.json.id }, { Authorization: `Bearer ${t}` });
    expect(put.status).toBe(403);
  });

  test('per entry: an entry outside the scopes fails in a batch and fails the whole transaction', async () => {
    const t = await token('e2e-source', 'system/Patient.write');
    const entries = [
      { resource: patient, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
    ];
    const batch = await send('POST', '', { resourceType: 'Bundle', type: 'batch', entry: entries }, { Authorization: `Bearer ${t}` });
    expect(batch.status).toBe(200);
    expect(batch.json.entry.map((e: any) => e.response.status.slice(0, 3))).toEqual(['201', '403']);
    const before = await stores();
    const tx = await send('POST', '', { resourceType: 'Bundle', type: 'transaction', entry: entries }, { Authorization: `Bearer ${t}` });
    expect(tx.status).toBe(403);
    expect(tx.json.issue[0].expression).toEqual(['Bundle.entry[1]']);
    expect(await stores()).toBe(before);
  });
});

describe('source binding', () => {
  test("a second source's update of the first source's resource is 403 and the first version is intact", async () => {
    const id = `owned-${Date.now()}`;
    const a = await token('hospital-a', 'system/*.write');
    const b = await token('hospital-b', 'system/*.write');
    const first = await send('PUT', `/Patient/${id}`, { resourceType: 'Patient', id, gender: 'female' }, { Authorization: `Bearer ${a}` });
    expect(first.status).toBe(201);
    const before = await stores();
    const steal = await send('PUT', `/Patient/${id}`, { resourceType: 'Patient', id, gender: 'male' }, { Authorization: `Bearer ${b}` });
    expect(steal.status).toBe(403);
    expect(await stores()).toBe(before);
    // the owner can still update, and its version continues from 1
    const again = await send('PUT', `/Patient/${id}`, { resourceType: 'Patient', id, gender: 'other' }, { Authorization: `Bearer ${a}` });
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).toBe('W/"2"');
    // the source in the lake comes from the token, not from anything in the request
    const keys = (await lakeSnapshot()).keys.filter((k) => k.includes('source=hospital-b'));
    expect(keys).toEqual([]);
  });
});
