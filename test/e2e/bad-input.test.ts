/**
 * Bad input through the running local stack (issue #17, point 4), where the transport matters: bytes that are not
 * UTF-8 reach the handler as sent (scripts/offline-fhir-bodies.js) and are refused, a body over the local server's
 * own 10 MB limit gets the FHIR 413 OperationOutcome, a body that never completes gets a 408 OperationOutcome within
 * the body timeout, and decimals keep their exact text from the request to the lake NDJSON and the marts. The
 * in-process cases (each wrong type, depth, charset, duplicate key, …) are in test/unit/bad-input.test.ts.
 */
import net from 'node:net';
import { bucket, checkOpenApi, stack, token } from './helpers';
import { main as queryMain } from '../../scripts/query';

jest.setTimeout(180_000);

const SOURCE = 'e2e-bad-input';
let auth: Record<string, string>;
beforeAll(async () => {
  auth = { Authorization: `Bearer ${await token(SOURCE, 'system/*.write')}` };
});

/** Raw POST (bytes allowed); the response is checked against openapi.yaml. */
async function post(path: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const url = `${stack().baseUrl}${path}`;
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/fhir+json', ...auth, ...headers }, body: body as BodyInit });
  const text = await res.text();
  checkOpenApi('POST', url, stack().baseUrl, res.status, res.headers, text);
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Keys under raw/ of this test's source. */
const lakeKeys = async (): Promise<string[]> => (await bucket().list('raw/')).filter((k) => k.includes(`/source=${SOURCE}/`));

/** Sends `head` and `body` on a raw socket and waits for the server to answer or close; returns the answer and the time. */
function rawExchange(head: string, body: string, waitMs: number): Promise<{ text: string; ms: number }> {
  const u = new URL(stack().baseUrl);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let text = '';
    const s = net.connect(Number(u.port), u.hostname, () => s.write(head + body));
    s.on('data', (d) => (text += d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text, ms: Date.now() - t0 });
    });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer within ${waitMs} ms (got ${JSON.stringify(text.slice(0, 100))})`));
    }, waitMs);
  });
}

test('bytes that are not UTF-8 (Latin-1 "Müller") → 400 OperationOutcome, nothing stored', async () => {
  const before = await lakeKeys();
  const r = await post('/Patient', new Uint8Array(Buffer.from('{"resourceType":"Patient","name":[{"family":"Müller"}]}', 'latin1')));
  expect(r.status).toBe(400);
  expect(r.json.issue[0].diagnostics).toMatch(/not valid UTF-8 \(byte 0xFC at offset 46\)/);
  expect(await lakeKeys()).toEqual(before);
});

test('UTF-8 "Müller" is stored as sent (the bytes reach the handler unchanged)', async () => {
  const r = await post('/Patient', new Uint8Array(Buffer.from('{"resourceType":"Patient","name":[{"family":"Müller"}]}', 'utf8')));
  expect(r.status).toBe(201);
  expect(r.json.name[0].family).toBe('Müller');
});

test('a charset other than UTF-8 → 415', async () => {
  const r = await post('/Patient', '{"resourceType":"Patient"}', { 'Content-Type': 'application/fhir+json; charset=iso-8859-1' });
  expect(r.status).toBe(415);
  expect(r.json.issue[0].diagnostics).toMatch(/charset 'iso-8859-1' is not supported/);
});

test('a body over the local server\'s own 10 MB limit → the FHIR 413 OperationOutcome (not hapi\'s)', async () => {
  const big = `{"resourceType":"Patient","text":{"status":"generated","div":"${'x'.repeat(11 * 1024 * 1024)}"}}`;
  const r = await post('/Patient', big);
  expect(r.status).toBe(413);
  expect(r.json).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'too-costly' }] });
  // and one over MAX_BODY_BYTES but under 10 MB: the handler's own 413
  const mid = `{"resourceType":"Patient","text":{"status":"generated","div":"${'x'.repeat(6 * 1024 * 1024)}"}}`;
  const r2 = await post('/Patient', mid);
  expect(r2.status).toBe(413);
  expect(r2.json.issue[0].diagnostics).toMatch(/the limit is \d+ bytes/);
});

test('a body that never completes (Content-Length larger than what is sent) → 408 OperationOutcome within the timeout', async () => {
  const head = `POST /fhir/Patient HTTP/1.1\r\nHost: ${new URL(stack().baseUrl).host}\r\nContent-Type: application/fhir+json\r\nContent-Length: 1000\r\n\r\n`;
  const { text, ms } = await rawExchange(head, '{"resourceType":"Patient"', 30_000);
  expect(text).toMatch(/^HTTP\/1\.1 408 /);
  expect(text).toMatch(/content-type: application\/fhir\+json/i);
  expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'timeout' }] });
  expect(ms).toBeLessThan(20_000);
});

test('a chunked body that never ends → 408 within the timeout', async () => {
  const head = `POST /fhir/Patient HTTP/1.1\r\nHost: ${new URL(stack().baseUrl).host}\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const { text, ms } = await rawExchange(head, '5\r\n{"res\r\n', 30_000);
  expect(text).toMatch(/^HTTP\/1\.1 408 /);
  expect(ms).toBeLessThan(20_000);
});

test('decimals keep their exact text from the request to the lake NDJSON and the marts', async () => {
  const SENT = ['1.50', '0.10000000000000000001', '1e-400'];
  const code = `dec-${Date.now()}`;
  for (const v of SENT) {
    const body = `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://example.org/codes","code":"${code}"}]},"valueQuantity":{"value":${v},"unit":"mg"}}`;
    const r = await post('/Observation', body);
    expect(r.status).toBe(201);
  }
  const lake = (await Promise.all((await lakeKeys()).filter((k) => k.startsWith('raw/Observation/')).map(async (k) => Buffer.from((await bucket().get(k))!).toString('utf8')))).join('');
  for (const v of SENT) expect(lake).toContain(`"valueQuantity":{"value":${v},"unit":"mg"}`);
  // the ETL runs on each commit event; wait for the three rows
  let rows: any[] = [];
  for (let i = 0; i < 120 && rows.length < 3; i++) {
    let out = '';
    const rc = await queryMain(['--json', '--data-dir', stack().dataDir, `SELECT value_quantity, value_quantity_text FROM observation WHERE code = '${code}'`], { out: (t) => (out += t), err: () => undefined });
    rows = rc === 0 ? JSON.parse(out) : [];
    if (rows.length < 3) await new Promise((r) => setTimeout(r, 500));
  }
  expect(rows.map((r) => r.value_quantity_text).sort()).toEqual([...SENT].sort());
  for (const r of rows) expect(r.value_quantity).toBe(Number(r.value_quantity_text));
});
