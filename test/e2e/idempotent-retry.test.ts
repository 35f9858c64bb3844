/**
 * A client that loses the response of a transaction (a timeout, a dropped connection) and sends it again with the
 * same `Idempotency-Key` (issue #13 item 4, issue #14): it gets the first response, nothing is written again, and
 * every current-view count of the marts is unchanged.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describeShared, send, SHARED, stack, token } from './helpers';
import { sql, waitForEtl } from './marts-helpers';
import { lakeEvents } from '../../scripts/etl-replay';
import { bucket } from './helpers';

const SOURCE = 'idem-retry';
const VIEWS = ['patient', 'patient_link', 'encounter', 'observation', 'condition', 'procedure', 'immunization', 'medication_request', 'care_plan', 'organization', 'practitioner', 'location'];

/** Sends a request and drops the connection once the body is out: the client never sees the answer. */
function sendAndDrop(url: string, body: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) } });
    req.on('error', () => resolve());
    req.on('response', (res) => {
      res.destroy();
      resolve();
    });
    req.end(body, () => setTimeout(() => (req.destroy(), resolve()), 30));
  });
}

/** Rows per current view for the source (views the ETL has not made yet count as absent). */
async function viewCounts(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of VIEWS) {
    try {
      const [row] = await sql(`SELECT count(*)::INTEGER AS n FROM ${v} WHERE _source = '${SOURCE}'`);
      out[v] = row.n;
    } catch {
      // a view no committed object of the suite has created yet
    }
  }
  return out;
}

/** The response locations of a transaction-response Bundle, in entry order. */
const locations = (json: any): string[] => (json?.entry ?? []).map((e: any) => e.response?.location);

describeShared('a transaction re-sent with its Idempotency-Key after a lost response', () => {
  test('the first response again, nothing written again, every current-view count unchanged', async () => {
    const dir = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');
    const files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => ({ f, size: fs.statSync(path.join(dir, f)).size }))
      .sort((a, b) => a.size - b.size)
      .slice(0, 3)
      .map((x) => path.join(dir, x.f));
    const auth = { Authorization: `Bearer ${await token(SOURCE)}`, 'Content-Type': 'application/fhir+json' };
    const bodies = files.map((f) => fs.readFileSync(f, 'utf8'));
    const keys = files.map((_, i) => `idem-retry-${i}-${Date.now()}`);

    // 1. each Bundle sent once, its connection dropped as soon as the body is out
    await Promise.all(bodies.map((b, i) => sendAndDrop(stack().baseUrl, b, { ...auth, 'Idempotency-Key': keys[i]! })));
    // 2. the client retries with the same key: one answer per Bundle (the first request's, or this one's if the first
    //    never committed: either way the Bundle is written once)
    const first: string[][] = [];
    for (const [i, b] of bodies.entries()) {
      const r = await send('POST', '', b, { ...auth, 'Idempotency-Key': keys[i]! });
      expect(r.status).toBe(200);
      expect(r.json.type).toBe('transaction-response');
      first.push(locations(r.json));
    }
    await waitForEtl(SOURCE);
    const objectsBefore = (await lakeEvents(bucket(), { source: SOURCE })).length;
    const before = await viewCounts();
    const patients = bodies.reduce((n, b) => n + JSON.parse(b).entry.filter((e: any) => e.resource?.resourceType === 'Patient').length, 0);
    expect(patients).toBeGreaterThan(0);
    expect(before.patient).toBe(patients);
    expect(before.encounter).toBeGreaterThan(0);

    // 3. sent again with the same keys (a second lost response): the same answers, nothing new written
    for (const [i, b] of bodies.entries()) {
      const r = await send('POST', '', b, { ...auth, 'Idempotency-Key': keys[i]! });
      expect(r.status).toBe(200);
      expect(locations(r.json)).toEqual(first[i]);
    }
    // the same key with another body is refused (422), nothing written
    const other = JSON.parse(bodies[0]!);
    other.entry = other.entry.slice(0, 1);
    const refused = await send('POST', '', JSON.stringify(other), { ...auth, 'Idempotency-Key': keys[0]! });
    expect(refused.status).toBe(422);

    await waitForEtl(SOURCE);
    expect((await lakeEvents(bucket(), { source: SOURCE })).length).toBe(objectsBefore);
    expect(await viewCounts()).toEqual(before);
  });
});
