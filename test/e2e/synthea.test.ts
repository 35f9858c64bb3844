/**
 * Every Synthea transaction Bundle of ../shared/fhir/synthea/smart-on-fhir-r4/ (123 patients + 2 organisation
 * bundles, up to 3.9 MB each) is accepted as a transaction; the lake then holds exactly the 36,308 resources
 * of those Bundles and no stored reference points at a `urn:uuid`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeShared, lakeSnapshot, readAll, send, SHARED } from './helpers';

const DIR = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');

describeShared('Synthea transaction Bundles', () => {
  test('all 125 Bundles accepted; 36,308 resources stored; no urn:uuid left in the lake', async () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBe(125);
    const before = await lakeSnapshot();
    let inInput = 0;
    const failures: string[] = [];
    let created = 0;
    let matched = 0;
    const queue = [...files];
    const worker = async (): Promise<void> => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const text = fs.readFileSync(path.join(DIR, f), 'utf8');
        const bundle = JSON.parse(text);
        expect(bundle.type).toBe('transaction');
        inInput += bundle.entry.length;
        const r = await send('POST', '', text, { Prefer: 'return=minimal' });
        if (r.status !== 200) failures.push(`${f}: ${r.status} ${JSON.stringify(r.json?.issue?.[0])}`);
        else {
          // 201 created; 200 a re-sent create (the set repeats Organizations and Practitioners with the same fullUrl
          // and content across Bundles: one resource each, docs/api.md "Re-sent creates")
          for (const e of r.json.entry) {
            expect(e.response.status).toMatch(/^20[01] /);
            if (e.response.status.startsWith('201')) created++;
            else matched++;
          }
        }
      }
    };
    await Promise.all([worker(), worker()]);
    expect(failures).toEqual([]);
    expect(inInput).toBe(36308);
    const after = await lakeSnapshot();
    expect(created + matched).toBe(36308);
    expect(after.lines - before.lines).toBe(created);
    const newKeys = new Set(after.keys.filter((k) => !before.keys.includes(k)));
    const objects = await readAll('raw/');
    let urn = 0;
    for (const [k, text] of objects) if (newKeys.has(k) && text.includes('"reference":"urn:uuid:')) urn++;
    expect(urn).toBe(0);
  });
});
