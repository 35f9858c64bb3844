/**
 * The fuzz suite in process (issue #17): at least 100,000 seeded mutations of valid FHIR requests (test/unit/fuzz-cases.ts:
 * byte flips, truncation, invalid UTF-8, wrong JSON types at any element, duplicated properties, deep nesting, huge
 * strings, odd decimals, odd headers and charsets, odd methods and paths) through the exported API handlers of
 * src/handlers/api.ts, over the harness application (real validation and pseudonymisation, in-memory stores).
 * Prints the count per status; fails on any 5xx, and when no mutation was refused or none was accepted (a suite
 * that exercised nothing).
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { apiEvent, closeHarness, getHarness } from './api-harness';
import { fuzzCase, type FuzzCase } from './fuzz-cases';

jest.mock('../../src/bootstrap', () => ({ getApp: () => require('./api-harness').harnessApp() }));
import * as api from '../../src/handlers/api';

const CASES = Number(process.env.FUZZ_CASES ?? 100_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20240517);

/** The Lambda function serverless.yml routes a request to. */
function handlerFor(c: FuzzCase): (e: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult> {
  const seg = c.path.split('?')[0]!.split('/').filter(Boolean);
  if (seg[0] !== 'fhir') return api.notAllowed;
  const rest = seg.slice(1);
  if (c.method === 'GET' && rest.length === 1 && rest[0] === 'metadata') return api.metadata;
  if (c.method === 'POST' && (rest.at(-1) === '$validate') && rest.length <= 2) return api.validate;
  if ((c.method === 'POST' && rest.length <= 1) || (c.method === 'PUT' && rest.length === 2)) return api.ingest;
  return api.notAllowed;
}

afterAll(() => closeHarness());

test(`${CASES} seeded mutations through the handlers in process: no 5xx`, async () => {
  const h = getHarness();
  const counts = new Map<number, number>();
  const failures: string[] = [];
  const t0 = Date.now();
  for (let i = 0; i < CASES; i++) {
    const c = fuzzCase(SEED, i, { largeRate: 0.003 });
    let status: number;
    try {
      const r = await handlerFor(c)(apiEvent(c.method, c.path, c.headers, c.body));
      status = r.statusCode;
      if (status >= 500 && failures.length < 20) failures.push(`#${i} ${c.what} → ${status} ${r.body.slice(0, 200)}`);
    } catch (err) {
      status = 599;
      if (failures.length < 20) failures.push(`#${i} ${c.what} → threw ${(err as Error)?.stack?.slice(0, 300)}`);
    }
    counts.set(status, (counts.get(status) ?? 0) + 1);
    if (i % 2000 === 1999) {
      // keep memory flat: what was stored is not under test here
      h.lake.objects.clear();
      h.audit.length = 0;
      h.events.events.length = 0;
    }
  }
  const table = [...counts].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}: ${n}`).join(', ');
  // eslint-disable-next-line no-console
  console.log(`fuzz (in process, seed ${SEED}): ${CASES} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${table}`);
  expect(failures).toEqual([]);
  expect([...counts.keys()].filter((s) => s >= 500)).toEqual([]);
  const ok = [...counts].filter(([s]) => s < 300).reduce((n, [, k]) => n + k, 0);
  const refused = [...counts].filter(([s]) => s >= 400).reduce((n, [, k]) => n + k, 0);
  expect(ok).toBeGreaterThan(CASES / 50);
  expect(refused).toBeGreaterThan(CASES / 2);
}, 900_000);
