/**
 * The e2e suite's openapi.yaml hooks (test/e2e/helpers.ts) bite: a response off the contract fails `send()`'s
 * check, a fhir-kit-client call made through `fhirClient()`, and the newman run's `request` listener, while a
 * conforming response passes. A small HTTP server here plays a misbehaving API (no stack needed).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkOpenApi, fhirClient, fhirClientChecks, newmanProblems, OpenApiMismatch, type NewmanExchange } from '../e2e/helpers';

const OUTCOME_405 = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'read is not supported' }],
};
const REQUEST_ID = { 'X-Request-Id': '0b6f2a4e-2c1d-4e5f-9a8b-7c6d5e4f3a2b' };

/** What the fake API answers, by `METHOD /path`. */
const ROUTES: Record<string, { status: number; headers: Record<string, string>; body: string }> = {
  // conforming: a documented 405 with its required headers and an OperationOutcome
  'GET /fhir/Patient/good': { status: 405, headers: { ...REQUEST_ID, Allow: 'POST, PUT' }, body: JSON.stringify(OUTCOME_405) },
  // the required X-Request-Id header is missing
  'GET /fhir/Patient/no-request-id': { status: 405, headers: { Allow: 'POST, PUT' }, body: JSON.stringify(OUTCOME_405) },
  // an undocumented status
  'GET /fhir/Patient/teapot': { status: 418, headers: REQUEST_ID, body: JSON.stringify(OUTCOME_405) },
  // a 2xx (fhir-kit-client resolves it) without Location/ETag and with a body that is not the created resource
  'POST /fhir/Patient': { status: 201, headers: REQUEST_ID, body: JSON.stringify({ resourceType: 'OperationOutcome' }) },
};

let server: http.Server;
let baseUrl = '';
beforeAll(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const r = ROUTES[`${req.method} ${req.url}`] ?? { status: 404, headers: {}, body: '' };
      res.writeHead(r.status, { 'Content-Type': 'application/fhir+json', ...r.headers });
      res.end(r.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('checkOpenApi (behind send())', () => {
  test('a bogus response object is refused with every problem; a conforming one passes', () => {
    const bogus = () => checkOpenApi('POST', `${baseUrl}/Patient`, baseUrl, 201, { 'Content-Type': 'application/fhir+json' }, '{"resourceType":"Patient"}');
    expect(bogus).toThrow(OpenApiMismatch);
    expect(bogus).toThrow(/required header X-Request-Id is missing/);
    expect(bogus).toThrow(/required header Location is missing/);
    expect(() => checkOpenApi('GET', `${baseUrl}/Patient/1`, baseUrl, 418, REQUEST_ID, '')).toThrow(/status 418 is not documented/);
    expect(() =>
      checkOpenApi('GET', `${baseUrl}/Patient/1`, baseUrl, 405, { ...REQUEST_ID, Allow: 'POST, PUT', 'content-type': 'application/fhir+json' }, { resourceType: 'Patient' }),
    ).toThrow(/body does not match the schema/);
    expect(checkOpenApi('GET', `${baseUrl}/Patient/1`, baseUrl, 405, { ...REQUEST_ID, Allow: 'POST, PUT', 'content-type': 'application/fhir+json' }, OUTCOME_405)).toBe(true);
  });

  test('responses of other hosts or paths are not the API and are not checked', () => {
    expect(checkOpenApi('GET', 'http://127.0.0.1:1/elsewhere', baseUrl, 418, {}, 'x')).toBe(false);
    expect(checkOpenApi('GET', baseUrl.replace('/fhir', '/fhirx/Patient'), baseUrl, 418, {}, 'x')).toBe(false);
  });
});

describe('fhirClient(): fhir-kit-client responses are checked', () => {
  test('a conforming error response reaches the caller as fhir-kit-client’s own HTTP error', async () => {
    const client = fhirClient({ baseUrl });
    const before = fhirClientChecks.count;
    const err = await client.read({ resourceType: 'Patient', id: 'good' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(OpenApiMismatch);
    expect(err.response.status).toBe(405);
    expect(fhirClientChecks.count).toBe(before + 1);
  });

  test('responses off the contract reject the call with OpenApiMismatch, 2xx included', async () => {
    const client = fhirClient({ baseUrl, bearerToken: 'x' });
    await expect(client.read({ resourceType: 'Patient', id: 'no-request-id' })).rejects.toThrow(/required header X-Request-Id is missing/);
    await expect(client.read({ resourceType: 'Patient', id: 'teapot' })).rejects.toThrow(OpenApiMismatch);
    await expect(client.create({ resourceType: 'Patient', body: { resourceType: 'Patient' } })).rejects.toThrow(/required header Location is missing/);
  });

  test('plain fetch calls are left alone', async () => {
    fhirClient({ baseUrl });
    const res = await fetch(`${baseUrl}/Patient/teapot`);
    expect(res.status).toBe(418);
  });
});

describe('newmanProblems(): newman responses are checked', () => {
  /** Runs a collection of the given requests with newman against the fake API; problems by request. */
  async function newmanRun(requests: [string, string][]): Promise<{ seen: number; problems: string[] }> {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const newman = require('newman');
    const collection = {
      info: { name: 'hooks', schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json' },
      item: requests.map(([method, p]) => ({
        name: `${method} ${p}`,
        request: { method, url: `{{baseUrl}}${p}`, header: [{ key: 'Content-Type', value: 'application/fhir+json' }], body: method === 'GET' ? undefined : { mode: 'raw', raw: '{"resourceType":"Patient"}' } },
      })),
    };
    const problems: string[] = [];
    let seen = 0;
    await new Promise<void>((resolve, reject) => {
      newman
        .run({ collection, envVar: [{ key: 'baseUrl', value: baseUrl }], reporters: [] }, (err: Error | null) => (err ? reject(err) : resolve()))
        .on('request', (err: unknown, exchange: NewmanExchange) => {
          seen++;
          problems.push(...newmanProblems(baseUrl, err, exchange));
        });
    });
    return { seen, problems };
  }

  test('a conforming response gives no problem', async () => {
    expect(await newmanRun([['GET', '/Patient/good']])).toEqual({ seen: 1, problems: [] });
  });

  test('each response off the contract is reported', async () => {
    const r = await newmanRun([
      ['GET', '/Patient/no-request-id'],
      ['GET', '/Patient/teapot'],
      ['POST', '/Patient'],
    ]);
    expect(r.seen).toBe(3);
    expect(r.problems).toEqual([
      'GET /{type}/{id} → 405: required header X-Request-Id is missing',
      expect.stringMatching(/^GET \/\{type\}\/\{id\} → 418: status 418 is not documented/),
      'POST /{type} → 201: required header Location is missing',
      'POST /{type} → 201: required header ETag is missing',
      'POST /{type} → 201: required header Last-Modified is missing',
      expect.stringMatching(/^POST \/\{type\} → 201: body does not match the schema/),
    ]);
  });

  test('a response from outside the API (a wrong base URL) is reported, not silently skipped', async () => {
    const exchange = {
      request: { method: 'GET', url: { toString: () => 'http://127.0.0.1:1/other/Patient/1' } },
      response: { code: 418, headers: { all: () => [] }, text: () => '' },
    };
    expect(newmanProblems(baseUrl, null, exchange)).toEqual([expect.stringMatching(/not a response of the API/)]);
  });

  test('a request newman could not make is reported', () => {
    expect(newmanProblems(baseUrl, new Error('ECONNREFUSED'), undefined)).toEqual(['a request: ECONNREFUSED']);
  });
});
