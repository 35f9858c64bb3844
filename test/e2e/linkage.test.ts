/**
 * Issue 13 items 5 and 6 on the running stack, with the smart-on-fhir Synthea set (the LINKAGE_PATIENTS smallest
 * patient Bundles, default 20, to keep the run bounded):
 * - in order: each patient's transaction Bundle as is (source `link-inorder`);
 * - shuffled: the same Bundles split into single-resource `PUT /fhir/{type}/{id}` requests (urn:uuid references
 *   rewritten to `Type/id` first), the types and the resources in a seeded shuffled order, every Patient last
 *   (source `link-shuffled`): per-person row counts in every mart equal the in-order load's, compared by the
 *   person's pseudonym (the same in both sources: it comes from the Synthea identifier);
 * - the same Bundles re-sent as PUT transactions (the source's ids, as a client re-sends without creating anything):
 *   every current-view count unchanged;
 * - the same Bundles re-sent as they are (POST entries with urn:uuid fullUrls): matched as re-sent creates (same
 *   fullUrl, same content: docs/api.md), nothing written, every current-view count unchanged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describeShared, send, SHARED, token } from './helpers';
import { sql, waitForEtl } from './marts-helpers';

jest.setTimeout(1_800_000);

const SYNTHEA = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');
const N = Number(process.env.LINKAGE_PATIENTS ?? 20);
const IN_ORDER = 'link-inorder';
const SHUFFLED = 'link-shuffled';
/** Marts with a patient_id column (every mart but patient and patient_link). */
const PATIENT_MARTS = ['care_plan', 'care_plan_activity', 'condition', 'encounter', 'immunization', 'medication_request', 'observation', 'observation_component', 'procedure'];
const ALL_MARTS = [...PATIENT_MARTS, 'patient', 'patient_link'];

/** The N smallest patient Bundles (hospital/practitioner Bundles excluded), in name order. */
function patientFiles(): string[] {
  const files = fs
    .readdirSync(SYNTHEA)
    .filter((f) => f.endsWith('.json') && !/^(hospital|practitioner)Information/.test(f))
    .map((f) => path.join(SYNTHEA, f));
  return files
    .sort((a, b) => fs.statSync(a).size - fs.statSync(b).size || a.localeCompare(b))
    .slice(0, N)
    .sort();
}

/** Mulberry32: a seeded PRNG, so a failing order can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

/** Every resource of the Bundles with each `urn:uuid` reference rewritten to `Type/id` of its entry. */
function splitResources(files: string[]): any[] {
  const out = new Map<string, any>();
  for (const f of files) {
    const b = JSON.parse(fs.readFileSync(f, 'utf8'));
    const byUrl = new Map<string, string>();
    for (const e of b.entry) byUrl.set(e.fullUrl, `${e.resource.resourceType}/${e.resource.id}`);
    const rewrite = (x: any): any => {
      if (Array.isArray(x)) return x.map(rewrite);
      if (x && typeof x === 'object') {
        const o: any = {};
        for (const [k, v] of Object.entries(x)) o[k] = k === 'reference' && typeof v === 'string' && byUrl.has(v) ? byUrl.get(v) : rewrite(v);
        return o;
      }
      return x;
    };
    // one copy of shared resources (Organizations, Practitioners appear in several Bundles)
    for (const e of b.entry) out.set(`${e.resource.resourceType}/${e.resource.id}`, rewrite(e.resource));
  }
  return [...out.values()];
}

/** Runs `fn` over `items` with `n` workers; collects failures. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<string | undefined>): Promise<string[]> {
  const failures: string[] = [];
  const queue = [...items];
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let x = queue.shift(); x !== undefined; x = queue.shift()) {
        const f = await fn(x);
        if (f) failures.push(f);
      }
    }),
  );
  return failures;
}

async function postBundles(files: string[], source: string): Promise<void> {
  const auth = { Authorization: `Bearer ${await token(source)}`, Prefer: 'return=minimal' };
  const failures = await pool(files, 2, async (f) => {
    const r = await send('POST', '', fs.readFileSync(f, 'utf8'), auth);
    return r.status === 200 ? undefined : `${path.basename(f)}: ${r.status} ${JSON.stringify(r.json?.issue?.[0])}`;
  });
  expect(failures).toEqual([]);
}

/** Per-person row counts of a mart in a source: person pseudonym → rows. */
async function perPerson(mart: string, source: string): Promise<Record<string, number>> {
  const col = mart === 'patient' ? 'id' : mart === 'patient_link' ? 'person_id' : 'patient_id';
  const rows = await sql(`SELECT ${col} AS person, count(*) AS n FROM ${mart} WHERE _source = '${source}' GROUP BY 1 ORDER BY 1`);
  return Object.fromEntries(rows.map((r) => [String(r.person), Number(r.n)]));
}

async function currentCounts(source: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const m of ALL_MARTS) out[m] = Number((await sql(`SELECT count(*) AS n FROM ${m} WHERE _source = '${source}'`))[0].n);
  return out;
}

describeShared('linkage and marts grain (issue 13 items 5, 6), smart-on-fhir Synthea subset', () => {
  const files = fs.existsSync(SYNTHEA) ? patientFiles() : [];
  let people = 0;

  beforeAll(async () => {
    people = files.length;
    // in order: the transaction Bundles
    await postBundles(files, IN_ORDER);
    // shuffled: single-resource PUTs, types and resources shuffled, Patients last
    const rand = rng(13_05);
    const resources = splitResources(files);
    const byType = new Map<string, any[]>();
    for (const r of resources) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
    const types = shuffle([...byType.keys()].filter((t) => t !== 'Patient'), rand);
    const order = [...types.flatMap((t) => shuffle(byType.get(t)!, rand)), ...shuffle(byType.get('Patient') ?? [], rand)];
    expect(order[order.length - 1].resourceType).toBe('Patient');
    const auth = { Authorization: `Bearer ${await token(SHUFFLED)}`, Prefer: 'return=minimal' };
    // sequential in each type would be slow: 4 workers over the order (a resource of a later type may overtake
    // one of an earlier type, which only shuffles more; the Patients are sent once everything else is answered)
    const others = order.filter((r) => r.resourceType !== 'Patient');
    const send1 = async (r: any): Promise<string | undefined> => {
      const res = await send('PUT', `/${r.resourceType}/${encodeURIComponent(r.id)}`, r, auth);
      return res.status === 200 || res.status === 201 ? undefined : `${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.json?.issue?.[0])}`;
    };
    expect(await pool(others, 4, send1)).toEqual([]);
    expect(await pool(byType.get('Patient') ?? [], 4, send1)).toEqual([]);
    await waitForEtl(IN_ORDER);
    await waitForEtl(SHUFFLED);
  });

  test('per-person row counts in every mart equal the in-order load (Patients sent last, one resource per request)', async () => {
    expect(people).toBeGreaterThan(0);
    const inOrderPeople = Object.keys(await perPerson('patient', IN_ORDER));
    expect(inOrderPeople).toHaveLength(people);
    const report: Record<string, { inOrder: number; shuffled: number; people: number }> = {};
    for (const m of ALL_MARTS) {
      const a = await perPerson(m, IN_ORDER);
      const b = await perPerson(m, SHUFFLED);
      expect({ mart: m, perPerson: b }).toEqual({ mart: m, perPerson: a });
      // every row belongs to a person of the patient mart: nothing left on a source-local key
      expect({ mart: m, unlinked: Object.keys(b).filter((p) => !inOrderPeople.includes(p)) }).toEqual({ mart: m, unlinked: [] });
      const sum = (x: Record<string, number>) => Object.values(x).reduce((s, n) => s + n, 0);
      report[m] = { inOrder: sum(a), shuffled: sum(b), people: Object.keys(b).length };
    }
    expect(report.observation!.shuffled).toBeGreaterThan(0);
    // the linkage was exercised: the shuffled source's stored references are source-local keys, not pseudonyms
    const [stored] = await sql(
      `SELECT count(*) AS n FROM encounter_history WHERE _source = '${SHUFFLED}' AND patient_id IN (SELECT id FROM patient)`,
    );
    expect(Number(stored.n)).toBe(0);
    console.log(`linkage: ${people} people; rows per mart (in order / shuffled):`, JSON.stringify(report));
  });

  test('the patient mart holds one row per person per source', async () => {
    for (const s of [IN_ORDER, SHUFFLED]) {
      const [r] = await sql(`SELECT count(*) AS n, count(DISTINCT id) AS d FROM patient WHERE _source = '${s}'`);
      expect({ s, n: Number(r.n), d: Number(r.d) }).toEqual({ s, n: people, d: people });
    }
  });

  test('the same patient Bundles sent again as PUT transactions (the source\'s ids): every current-view count unchanged', async () => {
    // how a client makes a re-sent Synthea transaction create nothing new: PUT Type/id (or conditional create, or
    // an Idempotency-Key on a retry). The shuffled source was loaded with these ids: now every resource gets version 2.
    const before = await currentCounts(SHUFFLED);
    const [h0] = await sql(`SELECT count(*) AS n FROM resource_versions WHERE _source = '${SHUFFLED}'`);
    const auth = { Authorization: `Bearer ${await token(SHUFFLED)}`, Prefer: 'return=minimal' };
    // one at a time: Bundles share Organizations and Practitioners, and two concurrent updates of one resource conflict (409)
    const failures = await pool(files, 1, async (f) => {
      const b = { ...JSON.parse(fs.readFileSync(f, 'utf8')), type: 'transaction' };
      const resources = splitResources([f]);
      b.entry = resources.map((r) => ({ fullUrl: `urn:uuid:${r.id}`, resource: r, request: { method: 'PUT', url: `${r.resourceType}/${r.id}` } }));
      const r = await send('POST', '', b, auth);
      return r.status === 200 ? undefined : `${path.basename(f)}: ${r.status} ${JSON.stringify(r.json?.issue?.[0])}`;
    });
    expect(failures).toEqual([]);
    await waitForEtl(SHUFFLED);
    const [h1] = await sql(`SELECT count(*) AS n FROM resource_versions WHERE _source = '${SHUFFLED}'`);
    expect(Number(h1.n)).toBeGreaterThan(Number(h0.n)); // the new versions are there …
    expect(await currentCounts(SHUFFLED)).toEqual(before); // … and every current view still counts each resource once
    const [v] = await sql(`SELECT count(*) AS n FROM encounter WHERE _source = '${SHUFFLED}' AND _version_id = '2'`);
    expect(Number(v.n)).toBe(before.encounter);
    console.log(`re-sent ${files.length} Bundles as PUT: current-view counts unchanged`, JSON.stringify(before));
  });

  test('the same patient Bundles re-sent as they are (POST transactions): nothing written, every current-view count unchanged', async () => {
    const before = await currentCounts(IN_ORDER);
    const [h0] = await sql(`SELECT count(*) AS n FROM resource_versions WHERE _source = '${IN_ORDER}'`);
    await postBundles(files, IN_ORDER);
    await waitForEtl(IN_ORDER);
    // each POST entry with a urn:uuid fullUrl is matched by its fullUrl and content (docs/api.md, "Re-sent creates")
    expect(await currentCounts(IN_ORDER)).toEqual(before);
    const [h1] = await sql(`SELECT count(*) AS n FROM resource_versions WHERE _source = '${IN_ORDER}'`);
    expect(Number(h1.n)).toBe(Number(h0.n)); // nothing written: not even a new version
    for (const m of ALL_MARTS.filter((x) => !['observation_component', 'care_plan_activity'].includes(x))) {
      const dup = await sql(`SELECT _resource_id FROM ${m} WHERE _source = '${IN_ORDER}' GROUP BY 1 HAVING count(*) > 1 LIMIT 1`);
      expect({ m, dup }).toEqual({ m, dup: [] });
    }
    console.log(`re-sent ${files.length} Bundles as POST: current-view counts unchanged`, JSON.stringify(before));
  });
});
