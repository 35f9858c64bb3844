/**
 * The triage area over the real write path (validator with user rules, pseudonymisation, version index) with
 * in-memory buckets: a resource refused by a user rule is held (encrypted: no identifier in clear); after the
 * rule is changed, `recheck` ingests it once; running recheck again ingests nothing more.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IndexKeys, Ingestor } from '../../src/core/ingest';
import { TriageArea } from '../../src/core/triage';
import { ValidationError } from '../../src/fhir/errors';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { localTriageSealer } from '../../src/adapters/local/envelope-sealer';
import { LocalKeyService } from '../../src/adapters/local/key-service';
import { buildValidator } from '../../src/bootstrap';
import { loadConfig } from '../../src/config';
import { createProfileValidator, loadUserRules } from '../../src/fhir/validation/profile';
import { loadSchemaModule, readPolicyText, readProfileModel } from '../../src/paths';
import { createPseudonymiser, parsePolicy } from '../../src/fhir/pseudo';
import { PseudonymiseTransform } from '../../src/core/pseudonymise';
import type { TributaryEvent } from '../../src/core/ports';
import { main as triageCli } from '../../scripts/triage';

const RULE = `rules:
  - id: obs-effective
    resourceType: Observation
    expression: effective.exists()
    severity: error
    message: Observation must have effective[x]
`;

const observation = {
  resourceType: 'Observation',
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }], text: 'Heart rate of Oluwaseun Featherstonehaugh' },
  subject: { reference: 'Patient/pas-1', display: 'Oluwaseun Featherstonehaugh' },
  valueQuantity: { value: 72, unit: '/min' },
};

describe('triage area', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'triage-'));
  const lake = new MemoryObjectStore('lake');
  const triageStore = new MemoryObjectStore('triage');
  const versions = new FileVersionIndex(path.join(dataDir, 'index'));
  const events: TributaryEvent[] = [];
  const bus = { publish: async (e: TributaryEvent[]) => void events.push(...e) };
  const config = loadConfig({ DATA_DIR: dataDir, AUTH: 'off' });
  const model = readProfileModel();

  async function ingestorWith(rules: string): Promise<Ingestor> {
    const profile = createProfileValidator({ model, userRules: loadUserRules(rules, new Set(model.resourceTypes)) });
    const keys = await LocalKeyService.open(dataDir);
    const transform = new PseudonymiseTransform(createPseudonymiser({ policy: parsePolicy(await readPolicyText(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'))), keys }));
    return new Ingestor({ lake, versions, events: bus, clock: { now: () => new Date() }, validate: buildValidator({ ...config, schemaModule: loadSchemaModule }, profile), transform, indexKeys: new IndexKeys(keys) });
  }

  test('held when a user rule refuses it; recheck after the rule changes ingests it exactly once', async () => {
    const triage = new TriageArea(triageStore, await localTriageSealer(dataDir), bus);
    const strict = await ingestorWith(RULE);
    const principal = { source: 'gp-a', clientId: 'gp-a-client' };
    // 1. refused with the rule's message, then held (what the ingest handler does for a triage-enabled source)
    let refused: ValidationError | undefined;
    try {
      await strict.write({ requestId: 'req-1', method: 'POST', type: 'Observation', body: observation, principal });
    } catch (e) {
      refused = e as ValidationError;
    }
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused!.outcome.issue.some((i) => /obs-effective/.test(i.diagnostics ?? ''))).toBe(true);
    await triage.hold('req-1', principal, { method: 'POST', type: 'Observation', body: observation }, refused!.outcome);
    expect(events.some((e) => e.type === 'tributary.triage.held' && e.requestId === 'req-1')).toBe(true);
    expect(await lake.list('raw/')).toEqual([]);

    // the triage bucket holds no identifier in clear
    const stored = (await triageStore.list('items/')).map((k) => k);
    expect(stored.sort()).toEqual(['items/req-1/payload.enc', 'items/req-1/summary.json']);
    for (const k of stored) {
      const text = Buffer.from((await triageStore.get(k))!).toString('latin1');
      expect(text).not.toContain('Featherstonehaugh');
      expect(text).not.toContain('pas-1');
    }
    const shown = await triage.show('req-1');
    expect(shown!.outcome.issue.length).toBeGreaterThan(0);
    expect(shown!.summary.expressions.length).toBeGreaterThan(0);

    // 2. recheck under the same rules: still failing, nothing ingested
    const same = await triage.recheck(strict);
    expect(same).toEqual({ checked: 1, ingested: [], stillFailing: ['req-1'] });
    expect(await lake.list('raw/')).toEqual([]);

    // 3. the rule is changed (dropped): recheck ingests it, once
    const relaxed = await ingestorWith('rules: []\n');
    const out: string[] = [];
    expect(await triageCli(['recheck', '--all'], { triage, ingestor: relaxed, out: (t) => out.push(t) })).toBe(0);
    expect(out[0]).toMatch(/ingested 1 \(req-1\)/);
    const raw = await lake.list('raw/');
    expect(raw).toHaveLength(1);
    expect(raw[0]).toMatch(/^raw\/Observation\/source=gp-a\//);
    const lakeText = Buffer.from((await lake.get(raw[0]))!).toString();
    expect(lakeText).not.toContain('Featherstonehaugh');

    // 4. again: nothing more
    const again = await triage.recheck(relaxed);
    expect(again.ingested).toEqual([]);
    expect(await lake.list('raw/')).toHaveLength(1);
    const list: string[] = [];
    await triageCli(['list'], { triage, ingestor: relaxed, out: (t) => list.push(t) });
    expect(list.join('\n')).toMatch(/req-1\s+ingested/);
  });

  test('a payload sealed for one item does not open as another (encryption context)', async () => {
    const sealer = await localTriageSealer(dataDir);
    const sealed = await sealer.seal(Buffer.from('{"x":1}'), { purpose: 'tributary-triage', item: 'a', source: 's' });
    await expect(sealer.open(sealed, { purpose: 'tributary-triage', item: 'b', source: 's' })).rejects.toThrow(/encryption context/);
    const other = await localTriageSealer(fs.mkdtempSync(path.join(os.tmpdir(), 'triage-other-')));
    await expect(other.open(sealed, { purpose: 'tributary-triage', item: 'a', source: 's' })).rejects.toThrow();
  });
});
