/**
 * No client id and no request path in any line of the running stack's API log (issue 17, point 6): PUTs to
 * `/fhir/Patient/MRN-<random>` and POSTs carrying identifiable data (names, an MRN identifier, a birth date, an
 * address) are sent to the stack, accepted and refused, then the API log file (global-setup.js: `stack().logFile`,
 * everything serverless-offline and the handlers print) is scanned: neither the client ids, nor the request
 * paths, nor the identifiable values appear; serverless-offline's per-request lines are there, without the path.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { Bundle, Patient } from 'fhir/r4';
import { apiLogLines, send, stack } from './helpers';

const rand = () => randomBytes(6).toString('hex').toUpperCase();
const MRN = `MRN-${rand()}`;
const MRN_IN_BUNDLE = `MRN-${rand()}`;
const MRN_REFUSED = `MRN-${rand()}`;
const MRN_UNAUTHENTICATED = `MRN-${rand()}`;
const FAMILY = `Quellweather${rand()}`;
const GIVEN = `Ottoline${rand()}`;
const STREET = `${rand()} Harrowgate Lane`;

const patient = (id?: string): Patient => ({
  resourceType: 'Patient',
  ...(id !== undefined && { id }),
  identifier: [{ system: 'https://hospital.example/mrn', value: id ?? MRN }],
  name: [{ family: FAMILY, given: [GIVEN] }],
  birthDate: '1961-07-04',
  gender: 'female',
  address: [{ line: [STREET], city: 'Leeds', postalCode: 'LS1 4AB' }],
  telecom: [{ system: 'phone', value: '07700 900123' }],
});

/** Waits until the API log holds the `request` line of every id (the log reaches the file asynchronously). */
async function waitForRequestLines(ids: string[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const seen = new Set(apiLogLines().filter((l) => l.message === 'request').map((l) => l.correlationId));
    if (ids.every((id) => seen.has(id))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the API log has no request line for some of ${ids.join(', ')}`);
}

describe('the API log holds no client id and no request path', () => {
  let log = '';
  const ids: string[] = [];

  beforeAll(async () => {
    const sent: [string, number][] = [];
    const call = async (method: string, path: string, body: unknown, expected: number, headers: Record<string, string> = {}) => {
      const r = await send(method, path, body, headers);
      sent.push([`${method} ${path}`, r.status]);
      expect(r.status).toBe(expected);
      ids.push(r.headers.get('x-request-id')!);
    };
    // accepted: an update with a client id (create on first PUT), again (version 2), a create, a transaction
    await call('PUT', `/Patient/${MRN}`, patient(MRN), 201);
    await call('PUT', `/Patient/${MRN}`, { ...patient(MRN), gender: 'other' }, 200);
    await call('POST', '/Patient', patient(), 201);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: patient(MRN_IN_BUNDLE), request: { method: 'PUT', url: `Patient/${MRN_IN_BUNDLE}` } },
        {
          resource: { resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: `Patient/${MRN_IN_BUNDLE}` } },
          request: { method: 'POST', url: 'Observation' },
        },
      ],
    };
    await call('POST', '', bundle, 200);
    await call('POST', '/Patient/$validate', patient(), 200);
    // refused: invalid content, an id that does not match the URL, no token
    await call('PUT', `/Patient/${MRN_REFUSED}`, { ...patient(MRN_REFUSED), birthDate: 'yesterday' }, 400);
    await call('PUT', `/Patient/${MRN_REFUSED}`, patient(MRN), 400);
    await call('PUT', `/Patient/${MRN_UNAUTHENTICATED}`, patient(MRN_UNAUTHENTICATED), 401, { Authorization: '' });
    await waitForRequestLines(ids);
    log = fs.readFileSync(stack().logFile, 'utf8');
  });

  test('the log file is the one serverless-offline and the handlers write (per-request lines present)', () => {
    expect(log.length).toBeGreaterThan(0);
    // serverless-offline's own per-request lines, one for each PUT above, now without their path
    expect((log.match(/^PUT \(λ: ingest\)$/gmu) ?? []).length).toBeGreaterThanOrEqual(5);
    expect(log).toMatch(/^POST \(λ: validate\)$/mu);
    // and our handler's JSON line for each request
    const requestLines = apiLogLines().filter((l) => l.message === 'request' && ids.includes(l.correlationId));
    expect(requestLines.map((l) => l.correlationId).sort()).toEqual([...ids].sort());
  });

  test('no client id from a URL or a body', () => {
    for (const id of [MRN, MRN_IN_BUNDLE, MRN_REFUSED, MRN_UNAUTHENTICATED]) expect(log).not.toContain(id);
  });

  test('no identifiable value from a body', () => {
    for (const v of [FAMILY, GIVEN, STREET, '07700 900123', 'LS1 4AB', '1961-07-04']) expect(log).not.toContain(v);
  });

  test('no FHIR instance path anywhere in the log (any request of the suite so far)', () => {
    const paths = log.match(/\/fhir\/[A-Z][A-Za-z]*\/(?!\$|\{)[^\s"'?#)]+/g) ?? [];
    expect(paths).toEqual([]);
    expect(log).not.toMatch(/\/Patient\/MRN-/);
  });
});
