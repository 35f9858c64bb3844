/**
 * Pseudonymisation over the running stack: the same NHS number from two sources lands under one pseudonym,
 * identifiers go to the encrypted identity store (ciphertext on disk) and never to the lake or the events,
 * an invalid NHS number is refused, and `reidentify` gives the originals back with an audit record.
 * The identifying values of every input are recorded for the whole-suite scan in zz-audit-trail.test.ts
 * (logs, audit records, lake, marts).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import { collectIdentifiers, findLeaks, type IdentifierValue } from '../../src/fhir/pseudo';
import { createLocalIdentityVault } from '../../src/adapters/local/identity-vault';
import { createLocalAuditLog } from '../../src/adapters/local/audit-log';
import { main as reidentify } from '../../scripts/reidentify';
import { bucket, describeShared, readAll, send, SHARED, stack, token } from './helpers';

const PLANTED = path.resolve(__dirname, '../fixtures/planted');
const readJson = (f: string): any => JSON.parse(fs.readFileSync(f, 'utf8'));
const manifest = readJson(path.join(PLANTED, 'manifest.json'));

/** Where this file leaves the values it sent, for the whole-suite scan at the end. */
export const VALUES_FILE = (): string => path.join(stack().dataDir, 'planted-values.json');
const sentValues: (IdentifierValue | string)[] = [];
function remember(input: unknown): void {
  sentValues.push(...collectIdentifiers(input));
  fs.writeFileSync(VALUES_FILE(), JSON.stringify([...sentValues, ...manifest.values]));
}

const events: string[] = [];
let server: http.Server;
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      events.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const sns = new SNSClient({ region: 'eu-west-2', endpoint: stack().snsEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  await sns.send(
    new SubscribeCommand({
      TopicArn: 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest',
      Protocol: 'http',
      Endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    }),
  );
});
afterAll(() => server?.close());

/** Lake objects written by one request (by the request id in their key). */
async function lakeObjectsOf(requestId: string): Promise<string[]> {
  const all = await readAll('raw/');
  return [...all].filter(([k]) => k.endsWith(`/${requestId}.ndjson`)).map(([, v]) => v);
}

describe('pseudonymisation at ingest', () => {
  let pseudonym = '';

  test('planted identifiers: two sources, one person, one pseudonym; nothing identifying in the lake or the events', async () => {
    const results: { source: string; requestId: string }[] = [];
    for (const [file, source] of Object.entries(manifest.sources) as [string, string][]) {
      const input = readJson(path.join(PLANTED, file));
      remember(input);
      const t = await token(source, 'system/*.write');
      const r = await send('POST', '', input, { Authorization: `Bearer ${t}`, Prefer: 'return=minimal' });
      expect(r.status).toBe(200);
      expect(r.json.entry.every((e: any) => /^20[01]/.test(e.response.status))).toBe(true);
      results.push({ source, requestId: r.headers.get('x-request-id')! });
    }
    const patientIds = new Set<string>();
    let lakeText = '';
    for (const { requestId } of results) {
      for (const text of await lakeObjectsOf(requestId)) {
        lakeText += text;
        for (const line of text.split('\n').filter(Boolean)) {
          const r = JSON.parse(line);
          expect(r.meta.security).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'PSEUDED' })]));
          expect(r.meta.tag.some((t: any) => /pseudonymisation-policy$/.test(t.system))).toBe(true);
          if (r.resourceType === 'Patient') patientIds.add(r.id);
        }
      }
    }
    expect(patientIds.size).toBe(1);
    pseudonym = [...patientIds][0];
    expect(pseudonym).toMatch(/^p-[a-z2-7]{32}$/);
    await new Promise((r) => setTimeout(r, 500));
    const values = [...sentValues, ...manifest.values];
    const inLake = findLeaks(lakeText, values);
    const inEvents = findLeaks(events.join('\n'), values);
    // eslint-disable-next-line no-console
    console.log(`planted identifiers (e2e): tried ${values.length} values, found ${inLake.length} in the lake, ${inEvents.length} in ${events.length} events`);
    expect(events.length).toBeGreaterThan(0);
    expect(inLake).toEqual([]);
    expect(inEvents).toEqual([]);
    // the scanner is not blind to the inputs
    expect(findLeaks(fs.readFileSync(path.join(PLANTED, 'transaction-gp.json'), 'utf8'), manifest.values).length).toBeGreaterThan(5);
  });

  test('identity store files on disk are ciphertext; reidentify returns the originals and writes an audit record', async () => {
    const dir = path.join(stack().dataDir, 's3', 'tributary-identity');
    const files: string[] = [];
    const walk = (d: string): void => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('._S3rver_object')) files.push(p);
      }
    };
    walk(dir);
    expect(files.some((f) => f.includes(pseudonym))).toBe(true);
    const onDisk = files.map((f) => fs.readFileSync(f).toString('latin1')).join('\n');
    expect(findLeaks(onDisk, manifest.values)).toEqual([]);

    const vault = await createLocalIdentityVault({ store: bucket('tributary-identity'), dataDir: stack().dataDir });
    const audit = createLocalAuditLog(stack().dataDir);
    const out: string[] = [];
    const code = await reidentify([pseudonym], { vault, audit, who: 'e2e-operator', out: (t: string) => out.push(t), err: () => undefined });
    expect(code).toBe(0);
    const printed = out.join('\n');
    expect(printed).toContain('Featherstonehaugh');
    expect(printed).toMatch(/943\s?476\s?5919|9434765919/);
    const records = JSON.parse(printed).records;
    // the identity store keeps history: one record per source per request that carried this person
    expect([...new Set(records.map((r: any) => r.source))].sort()).toEqual(['gp', 'hospital']);
    expect(records.length).toBeGreaterThanOrEqual(2);
  });

  test('an invalid NHS number is refused with its expression, and nothing is written', async () => {
    const before = (await bucket().list('raw/')).length;
    const r = await send('POST', '/Patient', {
      resourceType: 'Patient',
      identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765918' }],
    });
    expect(r.status).toBe(422);
    expect(r.json.issue[0].expression).toEqual(['Patient.identifier[0].value']);
    expect((await bucket().list('raw/')).length).toBe(before);
  });
});

describeShared('UK Core examples through the API', () => {
  test('each accepted; the invalid NHS number refused; no identifier reaches the lake', async () => {
    const dir = path.join(SHARED, 'fhir/ukcore/json');
    const t = await token('ukcore', 'system/*.write');
    const statuses: Record<string, number> = {};
    const requestIds: string[] = [];
    const perRequest = new Map<string, IdentifierValue[]>();
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      const input = readJson(path.join(dir, f));
      remember(input);
      const mine = collectIdentifiers(input);
      const isTx = input.resourceType === 'Bundle' && (input.type === 'transaction' || input.type === 'batch');
      const r = await send('POST', isTx ? '' : `/${input.resourceType}`, input, { Authorization: `Bearer ${t}`, 'X-Validation-Level': 'structure-only' });
      statuses[f] = r.status;
      if (r.status < 300) {
        requestIds.push(r.headers.get('x-request-id')!);
        perRequest.set(r.headers.get('x-request-id')!, mine);
      }
    }
    expect(statuses['UKCore-Patient-BabyPatient-Example.json']).toBe(422);
    const refused = Object.entries(statuses).filter(([, s]) => s >= 300).map(([f]) => f);
    // eslint-disable-next-line no-console
    console.log(`UK Core through the API: ${Object.keys(statuses).length} files, refused: ${refused.join(', ')}`);
    const wanted = new Set(requestIds.map((id) => `/${id}.ndjson`));
    const all = await readAll('raw/');
    const mineOnly = [...all].filter(([k]) => wanted.has(k.slice(k.lastIndexOf('/'))));
    const lakeText = mineOnly.map(([, v]) => v).join('\n');
    expect(lakeText.length).toBeGreaterThan(1000);
    // 1. within each request: none of that request's identifying values, cities included
    for (const [k, text] of mineOnly) {
      const id = k.slice(k.lastIndexOf('/') + 1, -'.ndjson'.length);
      expect({ key: k, leaks: findLeaks(text, perRequest.get(id) ?? []) }).toEqual({ key: k, leaks: [] });
    }
    // 2. across requests: none of any request's values, except city names, which legitimately occur in the
    //    names of organisations sent by other requests (e.g. "LEEDS TEACHING HOSPITALS NHS TRUST")
    const leaks = findLeaks(lakeText, sentValues.filter((v) => typeof v === 'string' || v.kind !== 'city'));
    for (const l of leaks) {
      const i = lakeText.indexOf(l);
      // eslint-disable-next-line no-console
      console.log(`LEAK ${l}: …${lakeText.slice(Math.max(0, i - 200), i + 50)}…`);
    }
    expect(leaks).toEqual([]);
  });
});
