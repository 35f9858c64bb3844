/**
 * The fuzz suite through the running stack (issue #17, point 7): at least 5,000 seeded mutations of valid FHIR
 * requests (test/unit/fuzz-cases.ts: byte flips, truncation, invalid UTF-8, wrong JSON types, duplicated properties,
 * deep nesting, huge strings, odd decimals, odd headers and charsets, odd methods and paths) sent over HTTP by four
 * clients, bounded in time (FUZZ_E2E_SECONDS, default 300: it stops early only to fail). Prints the count per status;
 * fails on any 5xx, on a request with no answer, and when fewer than 5,000 were sent.
 */
import { stack, token } from './helpers';
import { fuzzCase } from '../unit/fuzz-cases';

const CASES = Number(process.env.FUZZ_E2E_CASES ?? 5000);
const SECONDS = Number(process.env.FUZZ_E2E_SECONDS ?? 300);
const SEED = Number(process.env.FUZZ_SEED ?? 20240518);
const CLIENTS = 4;

jest.setTimeout((SECONDS + 60) * 1000);

test(`${CASES} seeded mutations through the running stack: no 5xx`, async () => {
  // a source of its own (the marts and lake counts of other tests are per source); every scope, $validate included
  const auth = `Bearer ${await token('e2e-fuzz', 'system/*.write system/*.read')}`;
  const counts = new Map<string, number>();
  const failures: string[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  const t0 = Date.now();
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < CASES && Date.now() < deadline) {
      const i = next++;
      const c = fuzzCase(SEED, i, { largeRate: 0.002 });
      const url = `${stack().baseUrl.replace(/\/fhir$/, '')}${c.path}`;
      const body = c.method === 'GET' || c.method === 'HEAD' ? undefined : c.body;
      let status: string;
      try {
        const res = await fetch(url, { method: c.method, headers: { Authorization: auth, ...c.headers }, body: body as BodyInit | undefined, signal: AbortSignal.timeout(60_000) });
        await res.arrayBuffer();
        status = String(res.status);
        if (res.status >= 500 && failures.length < 20) failures.push(`#${i} ${c.what} → ${res.status}`);
      } catch (err) {
        status = 'no answer';
        if (failures.length < 20) failures.push(`#${i} ${c.what} → ${(err as Error).name}: ${(err as Error).message}`);
      }
      counts.set(status, (counts.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const sent = [...counts.values()].reduce((a, b) => a + b, 0);
  const table = [...counts].sort().map(([s, n]) => `${s}: ${n}`).join(', ');
  // eslint-disable-next-line no-console
  console.log(`fuzz (running stack, seed ${SEED}): ${sent} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s — ${table}`);
  expect(failures).toEqual([]);
  expect(sent).toBeGreaterThanOrEqual(CASES);
  expect([...counts.keys()].filter((s) => Number(s) >= 500)).toEqual([]);
});
