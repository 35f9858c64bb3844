/**
 * Decimals keep the exact value sent from the request to the lake and the marts (https://hl7.org/fhir/R4/json.html#primitive,
 * https://hl7.org/fhir/R4/datatypes.html#decimal: "the precision of the decimal value has significance"): `1.50`,
 * `0.10000000000000000001` and `1e-400` in `valueQuantity.value` go through the API handler in process (strict
 * validation, the real pseudonymisation), come back in the response as sent, are byte-identical in the lake NDJSON,
 * and appear in the marts' `value_quantity_text` column as sent (`value_quantity` is a DOUBLE: the nearest double).
 */
import { apiEvent, closeHarness, getHarness } from './api-harness';
import { harness as etlHarness, type Harness as EtlHarness } from './etl-fixtures';
import type { IngestEvent } from '../../src/core/ports';
import { TriageArea } from '../../src/core/triage';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { parseFhirJson, stringifyFhirJson } from '../../src/fhir/json';
import { MemoryEventBus } from './ingest-doubles';

jest.mock('../../src/bootstrap', () => ({ getApp: () => require('./api-harness').harnessApp() }));
import { ingest } from '../../src/handlers/api';

const SENT = ['1.50', '0.10000000000000000001', '1e-400', '100.000', '-0.0', '12345678901234567890.12345'];
const H = { 'Content-Type': 'application/fhir+json' };

const observation = (value: string, component: string): string =>
  `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2339-0"}],"text":"Glucose"},` +
  `"valueQuantity":{"value":${value},"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"},` +
  `"component":[{"code":{"text":"a"},"valueQuantity":{"value":${component}}},{"code":{"text":"b"},"valueQuantity":{"value":${value}}}]}`;

let etl: EtlHarness;
beforeAll(() => {
  etl = etlHarness();
});
afterAll(async () => {
  await etl.close();
  closeHarness();
});

describe('decimals from request to lake to marts', () => {
  const lakeLines: string[] = [];
  const events: IngestEvent[] = [];

  it('the response and the lake NDJSON hold each decimal byte for byte', async () => {
    const h = getHarness();
    for (const v of SENT) {
      const r = await ingest(apiEvent('POST', '/fhir/Observation', H, observation(v, '1.5')));
      expect(r.statusCode).toBe(201);
      expect(r.body).toContain(`"valueQuantity":{"value":${v},"unit":"mmol/L"`);
      expect(r.body).toContain(`{"code":{"text":"a"},"valueQuantity":{"value":1.5}},{"code":{"text":"b"},"valueQuantity":{"value":${v}}}`);
      const ev = h.events.events.at(-1) as IngestEvent;
      events.push(ev);
      const line = Buffer.from((await h.lake.get(ev.objectKey))!).toString('utf8');
      lakeLines.push(line);
      expect(line).toContain(`"valueQuantity":{"value":${v},"unit":"mmol/L"`);
      expect(line).toContain(`"valueQuantity":{"value":1.5}},{"code":{"text":"b"},"valueQuantity":{"value":${v}}}`);
    }
  });

  it('the marts hold each decimal exactly in value_quantity_text, and the nearest double in value_quantity', async () => {
    for (let i = 0; i < events.length; i++) {
      const ev = { ...events[i]!, bucket: etl.lake.name };
      await etl.lake.put(ev.objectKey, lakeLines[i]!, { checksumSha256: ev.checksumSha256 });
      await etl.etl.process(ev);
    }
    const rows = await etl.query('SELECT value_quantity, value_quantity_text FROM observation');
    expect(rows.map((r) => r.value_quantity_text).sort()).toEqual([...SENT].sort());
    for (const r of rows) expect(r.value_quantity).toBe(Number(r.value_quantity_text));
    const comps = await etl.query("SELECT code, value_quantity_text FROM observation_component WHERE code IS NULL OR code <> ''");
    expect(comps.map((r) => r.value_quantity_text).filter((t) => t !== '1.5').sort()).toEqual([...SENT].sort());
    expect(comps.filter((r) => r.value_quantity_text === '1.5')).toHaveLength(SENT.length);
    const exact = await etl.query("SELECT CAST(CAST(value_quantity_text AS DECIMAL(38,20)) AS VARCHAR) AS d FROM observation WHERE value_quantity_text = '0.10000000000000000001'");
    expect(String(exact[0]!.d)).toBe('0.10000000000000000001');
    const raw = await etl.query('SELECT resource FROM raw_observation');
    for (const v of SENT) expect(raw.some((r) => String(r.resource).includes(`"value":${v},"unit"`))).toBe(true);
  });
});

describe('decimals elsewhere on the way to the lake', () => {
  it('a transaction: the response entries and the lake hold each decimal as sent', async () => {
    const h = getHarness();
    const entries = SENT.map((v) => ({ request: { method: 'POST', url: 'Observation' }, resource: '@' + v }));
    const body = JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: entries }).replace(/"@([^"]+)"/g, (_m, v) => observation(v, '2.0'));
    const r = await ingest(apiEvent('POST', '/fhir', H, body));
    expect(r.statusCode).toBe(200);
    const ev = h.events.events.at(-1) as IngestEvent;
    const lake = Buffer.from((await h.lake.get(ev.objectKey))!).toString('utf8');
    for (const v of SENT) {
      expect(r.body).toContain(`"valueQuantity":{"value":${v},"unit":"mmol/L"`);
      expect(lake).toContain(`"valueQuantity":{"value":${v},"unit":"mmol/L"`);
    }
    expect(lake).toContain('"valueQuantity":{"value":2.0}}');
  });

  it('a request held for triage keeps its decimals when read back for a release', async () => {
    const store = new MemoryObjectStore('triage');
    const triage = new TriageArea(store, { seal: async (p) => p, open: async (b) => b }, new MemoryEventBus());
    const body = parseFhirJson(observation('1.50', '0.10000000000000000001'));
    await triage.hold('t-1', { source: 's', clientId: 'c' }, { method: 'POST', type: 'Observation', body }, { resourceType: 'OperationOutcome', issue: [] });
    const payload = Buffer.from((await store.get('items/t-1/payload.enc'))!).toString('utf8');
    expect(payload).toContain('"valueQuantity":{"value":1.50,');
    expect(payload).toContain('"valueQuantity":{"value":0.10000000000000000001}');
    const held = await (triage as unknown as { openPayload(s: { id: string; source: string }): Promise<{ request: { body: unknown } }> }).openPayload({ id: 't-1', source: 's' });
    expect(stringifyFhirJson(held.request.body)).toBe(observation('1.50', '0.10000000000000000001'));
  });
});
