/**
 * Pseudonymisation over real data (issue 3): no identifying value of the input survives in the output, and
 * pseudonyms never collide. Data: the planted-identifier set in test/fixtures/planted (always), UK Core examples
 * and both Synthea sets from ../shared (skipped with a message when absent).
 *
 * "Output" is everything the engine emits apart from the identity records (which go to the encrypted vault):
 * resources, the rewritten Bundle, idMap values, entry lake ids and stats. idMap keys and `entries[].sourceId`
 * are the client's own ids, returned to the pipeline for its HTTP response and never stored.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyService } from '../../src/fhir/pseudo';
import { ClientError } from '../../src/fhir/errors';
import {
  collectIdentifiers,
  createPseudonymiser,
  findLeaks,
  isValidNhsNumber,
  parsePolicy,
  type IdentifierValue,
  type PseudonymiseResult,
  type Pseudonymiser,
} from '../../src/fhir/pseudo';

const SHARED = path.resolve(__dirname, '../../../shared');
const PLANTED = path.resolve(__dirname, '../fixtures/planted');
const POLICY = parsePolicy(readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8'));
/** Resource types the policy keeps whole (conformance resources: their canonical URL embeds their public id). */
const KEPT_WHOLE = POLICY.rules.filter((r) => /^[A-Z][A-Za-z]+$/.test(r.path) && r.method === 'keep').map((r) => r.path);

const keys: KeyService = {
  keyVersion: 'corpus-1',
  mac: async (m) => createHmac('sha256', 'corpus-test-key').update(m).digest('hex'),
};

const readJson = (f: string): any => JSON.parse(readFileSync(f, 'utf8'));
const jsonFiles = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

/** Everything the engine emits except identity records, as one text. */
function emitted(r: PseudonymiseResult): string {
  return JSON.stringify({
    resources: r.resources,
    bundle: r.bundle,
    lakeIds: [...r.idMap.values()],
    entries: r.entries.map((e) => ({ index: e.index, resourceType: e.resourceType, lakeId: e.lakeId })),
    stats: r.stats,
  });
}

/** The patient key a pseudonym must stand for: its NHS number, else first identifier, else source id. */
function patientKey(p: any, source: string): string {
  const nhs = (p.identifier ?? []).find((i: any) => i.system === 'https://fhir.nhs.uk/Id/nhs-number');
  if (nhs) return `nhs:${String(nhs.value).replace(/[\s-]/g, '')}`;
  const first = (p.identifier ?? []).find((i: any) => i.system && i.value);
  return first ? `id:${first.system}|${first.value}` : `src:${source}|Patient/${p.id}`;
}

let engine: Pseudonymiser;
beforeAll(async () => {
  engine = await createPseudonymiser({ policy: POLICY, keys });
});

describe('planted identifiers (test/fixtures/planted)', () => {
  const manifest = readJson(path.join(PLANTED, 'manifest.json'));

  test('none of the planted values, nor anything collectIdentifiers() finds in the input, is in the output', async () => {
    let tried = 0;
    const found: string[] = [];
    const ids: string[] = [];
    for (const [file, source] of Object.entries(manifest.sources) as [string, string][]) {
      const input = readJson(path.join(PLANTED, file));
      const values: (IdentifierValue | string)[] = [...collectIdentifiers(input, { includeResourceIds: true }), ...manifest.values];
      tried += values.length;
      const r = await engine.pseudonymise(input, { source });
      found.push(...findLeaks(emitted(r), values));
      ids.push(r.resources[0]!.id!);
      // Sanity: the scanner does find the values in the input itself.
      expect(findLeaks(JSON.stringify(input), manifest.values).length).toBeGreaterThan(5);
    }
    console.log(`planted identifiers: tried ${tried} values (${manifest.values.length} planted), found ${found.length} in the output`);
    expect(found).toEqual([]);
    // Same NHS number from the GP (943 476 5919, "Oluwaseun Featherstonehaugh") and the hospital (9434765919, "Seun FEATHERSTONEHAUGH").
    expect(ids[0]).toBe(ids[1]);
  });

  test('the scanner is not blind: an output that kept a value is reported', () => {
    const values = collectIdentifiers(readJson(path.join(PLANTED, 'transaction-gp.json')));
    expect(findLeaks('{"note":"call 07700-900-123 re FEATHERSTONEHAUGH, DOB 17/03/1984"}', values).sort()).toEqual(['07700-900-123', '17/03/1984', 'FEATHERSTONEHAUGH']);
    expect(findLeaks('{"v":"Featherstonehaughs"}', values)).toEqual([]); // token boundaries
  });
});

const ukcore = path.join(SHARED, 'fhir/ukcore/json');
const describeUk = existsSync(ukcore) ? describe : describe.skip;
if (!existsSync(ukcore)) console.log(`skipping UK Core corpus: ${ukcore} not found`);

describeUk('UK Core examples (../shared/fhir/ukcore/json), one request per file', () => {
  test('no identifier survives; the one invalid NHS number is refused with its expression', async () => {
    const inputs: any[] = [];
    let out = '';
    let tried = 0;
    const found: string[] = [];
    const rejected: string[] = [];
    for (const f of jsonFiles(ukcore)) {
      const input = readJson(path.join(ukcore, f));
      let r: PseudonymiseResult;
      try {
        r = await engine.pseudonymise(input, { source: 'ukcore' });
      } catch (e) {
        expect(e).toBeInstanceOf(ClientError);
        expect((e as ClientError).status).toBe(422);
        expect((e as ClientError).outcome.issue[0]!.expression).toEqual(['Patient.identifier[0].value']);
        rejected.push(f);
        continue;
      }
      inputs.push(input);
      const text = emitted(r);
      out += text + '\n';
      const values = collectIdentifiers(input, { includeResourceIds: true, exceptTypes: KEPT_WHOLE });
      tried += values.length;
      found.push(...findLeaks(text, values).map((v) => `${f}: ${v}`));
    }
    // UKCore-Patient-BabyPatient-Example carries NHS number 9912003890, whose check digit is wrong.
    expect(rejected).toEqual(['UKCore-Patient-BabyPatient-Example.json']);
    expect(isValidNhsNumber('9912003890')).toBe(false);
    // Across requests: a resource sent without its patient must not carry that patient's strong identifiers
    // either (cities are left out here: organisation names such as "Leeds Teaching Hospitals" contain them).
    const global = collectIdentifiers(inputs, { includeResourceIds: true, exceptTypes: KEPT_WHOLE, exceptKinds: ['city'] });
    const foundGlobal = findLeaks(out, global);
    console.log(`UK Core: ${inputs.length} files, tried ${tried} values per request and ${global.length} across requests, found ${found.length + foundGlobal.length}`);
    expect(found).toEqual([]);
    expect(foundGlobal).toEqual([]);
    expect(tried).toBeGreaterThan(200);
  });
});

const synthea = ['smart-on-fhir-r4', 'covid19'].map((d) => path.join(SHARED, 'fhir/synthea', d));
const describeSynthea = synthea.every(existsSync) ? describe : describe.skip;
if (!synthea.every(existsSync)) console.log(`skipping Synthea corpus: ${synthea.join(', ')} not found`);

describeSynthea('Synthea (../shared/fhir/synthea: smart-on-fhir-r4 and covid19)', () => {
  test('no identifier survives in any bundle; pseudonyms are one per person and never collide', async () => {
    const byPseudonym = new Map<string, string>();
    let tried = 0;
    let resources = 0;
    let files = 0;
    let pseudoMs = 0;
    const found: string[] = [];
    const note = (pseudonym: string, key: string) => {
      const seen = byPseudonym.get(pseudonym);
      if (seen !== undefined) expect(seen).toBe(key);
      byPseudonym.set(pseudonym, key);
    };
    for (const dir of synthea) {
      for (const f of jsonFiles(dir)) {
        const input = readJson(path.join(dir, f));
        const t0 = performance.now();
        const r = await engine.pseudonymise(input, { source: 'synthea' });
        pseudoMs += performance.now() - t0;
        files++;
        resources += r.resources.length;
        const values = collectIdentifiers(input, { includeResourceIds: true, exceptTypes: KEPT_WHOLE });
        tried += values.length;
        found.push(...findLeaks(emitted(r), values).map((v) => `${f}: ${v}`));
        r.entries.forEach((e, i) => {
          if (e.resourceType === 'Patient') note(e.lakeId!, patientKey(input.entry[i].resource, 'synthea'));
        });
      }
    }
    // UK Core patients join the collision check.
    if (existsSync(ukcore)) {
      for (const f of jsonFiles(ukcore)) {
        const input = readJson(path.join(ukcore, f));
        if (input.resourceType !== 'Patient' || f === 'UKCore-Patient-BabyPatient-Example.json') continue;
        note((await engine.pseudonymise(input, { source: 'ukcore' })).resources[0]!.id!, patientKey(input, 'ukcore'));
      }
    }
    const people = new Set(byPseudonym.values());
    console.log(
      `Synthea: ${files} bundles, ${resources} resources in ${Math.round(pseudoMs)} ms (cold, incl. compile); tried ${tried} values, found ${found.length}; ${byPseudonym.size} pseudonyms for ${people.size} people`,
    );
    expect(found).toEqual([]);
    expect(byPseudonym.size).toBe(people.size); // one pseudonym per person, no two people share one
    expect(byPseudonym.size).toBeGreaterThan(130);
  });

  test('100,000 distinct valid NHS numbers give 100,000 distinct pseudonyms', async () => {
    const seen = new Set<string>();
    const numbers = new Set<string>();
    for (let i = 0; numbers.size < 100_000; i++) {
      const nine = String(400000000 + ((i * 5_999_993) % 599_999_999));
      let sum = 0;
      for (let i = 0; i < 9; i++) sum += Number(nine[i]) * (10 - i);
      const check = (11 - (sum % 11)) % 11;
      if (check === 10) continue;
      numbers.add(nine + check);
    }
    let invalid = 0;
    for (const n of numbers) {
      if (!isValidNhsNumber(n)) invalid++;
      seen.add(await engine.pseudonymOf(`nhs:${n}`));
    }
    expect(invalid).toBe(0);
    expect(seen.size).toBe(numbers.size);
  });
});
