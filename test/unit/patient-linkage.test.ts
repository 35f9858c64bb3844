/**
 * Issue 13 items 5 and 6: patient linkage that does not depend on arrival order, and current-version views that
 * count each resource once.
 * - The pseudonymiser: a reference to `Patient/{id}` sent before that Patient gets the source-local key; the
 *   Patient, when it arrives, carries that key (SOURCE_PATIENT_KEY_SYSTEM) next to its person pseudonym.
 * - The marts (real ETL, DuckDB catalogue): `patient_link` resolves the key, so every mart gives the same
 *   per-person rows whatever the order; a re-sent request (same lake ids, version 1 again) adds no current row;
 *   the Athena SQL of every current view gives the same answers (run on DuckDB, which accepts that SQL).
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from 'fhir/r4';
import { createPseudonymiser, parsePolicy, SOURCE_PATIENT_KEY_SYSTEM, type KeyService, type Pseudonymiser } from '../../src/fhir/pseudo';
import { PATIENT_LINK_VIEW, currentViewSql, martCatalogObjects, q } from '../../src/core/catalog';
import { martViewInfo } from '../../src/core/etl/rows';
import { openCatalogSnapshot, localCatalogFile } from '../../src/adapters/local/duckdb-catalog';
import { toJsonRows } from '../../src/adapters/local/parquet-writer';
import { commit, harness, type Harness } from './etl-fixtures';

const POLICY = parsePolicy(readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8'));
const keys: KeyService = { keyVersion: 'k1', mac: async (m) => createHmac('sha256', 'linkage-test').update(m).digest('hex') };
const SYN = 'https://github.com/synthetichealth/synthea';

/** A pseudonymiser whose patient resolver knows the patients of earlier requests (as the version index does). */
function engine(): { p: Promise<Pseudonymiser>; known: Map<string, string> } {
  const known = new Map<string, string>();
  const p = createPseudonymiser({
    policy: POLICY,
    keys,
    clock: { now: () => new Date('2024-05-01T12:00:00Z') },
    patientResolver: {
      resolve: async (source, ids) => new Map(ids.filter((id) => known.has(`${source}|${id}`)).map((id) => [id, known.get(`${source}|${id}`)!])),
    },
  });
  return { p, known };
}

/** Pseudonymises one request from `source`, recording its patients for later requests; the lake resources. */
async function send(e: ReturnType<typeof engine>, source: string, input: Resource | Resource[]): Promise<any[]> {
  const out = await (await e.p).pseudonymise(input as Resource, { source });
  for (const [from, to] of out.idMap) if (from.startsWith('Patient/') && !from.includes('urn:')) e.known.set(`${source}|${from.slice(8)}`, to.slice(8));
  return out.resources as any[];
}

const patient = (id: string, extra: Record<string, unknown> = {}): Resource =>
  ({ resourceType: 'Patient', id, gender: 'female', birthDate: '1970-02-03', identifier: [{ system: SYN, value: `syn-${id}` }], ...extra }) as Resource;
const encounter = (id: string, pid: string): Resource =>
  ({ resourceType: 'Encounter', id, status: 'finished', class: { code: 'AMB' }, subject: { reference: `Patient/${pid}` } }) as Resource;
const observation = (id: string, pid: string, v: number): Resource =>
  ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '29463-7' }] }, subject: { reference: `Patient/${pid}` }, valueQuantity: { value: v, unit: 'kg' } }) as Resource;
const keyOf = (p: any): string | undefined => p.identifier?.find((i: any) => i.system === SOURCE_PATIENT_KEY_SYSTEM)?.value;

describe('pseudonymiser: source-local patient keys', () => {
  test('a reference sent before its Patient gets the key the Patient carries when it arrives', async () => {
    const e = engine();
    const [enc] = await send(e, 'gp', encounter('e1', 'a'));
    const [pat] = await send(e, 'gp', patient('a'));
    expect(enc.subject.reference).toBe(`Patient/${keyOf(pat)}`);
    expect(keyOf(pat)).not.toBe(pat.id); // the person pseudonym comes from the identifier, the key from (source, id)
    // after the Patient: references resolve (version index) to the person pseudonym
    const [enc2] = await send(e, 'gp', encounter('e2', 'a'));
    expect(enc2.subject.reference).toBe(`Patient/${pat.id}`);
  });

  test('the key depends on (source, Patient/id) only; the person pseudonym links sources', async () => {
    const [a1] = await send(engine(), 'gp', patient('a'));
    const [a2] = await send(engine(), 'gp', patient('a', { gender: 'male' }));
    const [b] = await send(engine(), 'pas', patient('a'));
    const [c] = await send(engine(), 'gp', patient('c', { identifier: [{ system: SYN, value: 'syn-a' }] }));
    expect(keyOf(a1)).toBe(keyOf(a2));
    expect(b.id).toBe(a1.id);
    expect(keyOf(b)).not.toBe(keyOf(a1));
    expect(c.id).toBe(a1.id); // same person (same identifier) …
    expect(keyOf(c)).not.toBe(keyOf(a1)); // … through another source-local record
  });

  test('a Patient without identifiers: its key is its pseudonym; a contained Patient carries none', async () => {
    const [p] = await send(engine(), 'gp', { resourceType: 'Patient', id: 'x', gender: 'male' } as Resource);
    expect(keyOf(p)).toBe(p.id);
    const [o] = await send(engine(), 'gp', {
      resourceType: 'Observation',
      id: 'o',
      status: 'final',
      code: { text: 't' },
      contained: [{ resourceType: 'Patient', id: 'cp', gender: 'male' }],
      subject: { reference: '#cp' },
    } as Resource);
    expect(o.contained?.[0] && keyOf(o.contained[0])).toBeUndefined();
  });
});

describe('marts: linkage whatever the order, one row per (source, resource)', () => {
  let h: Harness;
  const people = ['a', 'b', 'c'];
  const load = (pid: string, n: number): Resource[] => [
    encounter(`e-${pid}`, pid),
    ...Array.from({ length: n }, (_, i) => observation(`o-${pid}-${i}`, pid, 60 + i)),
  ];
  let req = 0;
  const ingest = async (source: string, resources: any[]): Promise<void> => {
    for (const ev of await commit(h.lake, resources, { source, requestId: `r${String(++req).padStart(4, '0')}`, date: '2024-05-01' })) await h.etl.process(ev);
  };

  beforeAll(async () => {
    h = harness();
    // in order: each person's Patient, then their resources, one request each
    const a = engine();
    for (const [i, pid] of people.entries()) {
      await ingest('in-order', await send(a, 'in-order', patient(pid)));
      await ingest('in-order', await send(a, 'in-order', load(pid, i + 1)));
    }
    // shuffled: one resource per request, the Patients last
    const b = engine();
    const all = people.flatMap((pid, i) => load(pid, i + 1)).reverse();
    for (const r of all) await ingest('shuffled', await send(b, 'shuffled', r));
    for (const pid of people) await ingest('shuffled', await send(b, 'shuffled', patient(pid)));
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  const perPerson = (mart: string): Promise<Record<string, unknown>[]> =>
    h.query(`SELECT _source, patient_id, count(*) AS n FROM ${q(mart)} GROUP BY 1, 2 ORDER BY 2, 1`);

  test('every mart with a patient column has the same rows per person in both sources', async () => {
    const patients = await h.query(`SELECT _source, id FROM patient ORDER BY id, _source`);
    expect(patients).toHaveLength(6);
    const ids = new Set(patients.map((p) => p.id));
    expect(ids.size).toBe(3);
    for (const mart of ['encounter', 'observation']) {
      const rows = await perPerson(mart);
      const by = (s: string) => Object.fromEntries(rows.filter((r) => r._source === s).map((r) => [String(r.patient_id), r.n]));
      expect(by('shuffled')).toEqual(by('in-order'));
      expect(Object.keys(by('shuffled')).sort()).toEqual([...ids].sort()); // every row resolved to a person
    }
    expect(await h.query(`SELECT count(*) AS n FROM observation`)).toEqual([{ n: 12 }]);
  });

  test('the history keeps what was stored: the shuffled references are source-local keys until patient_link resolves them', async () => {
    const raw = await h.query(`SELECT count(DISTINCT patient_id) AS n FROM encounter_history WHERE _source = 'shuffled' AND patient_id IN (SELECT id FROM patient)`);
    expect(raw).toEqual([{ n: 0 }]);
    const links = await h.query(`SELECT _source, count(*) AS n FROM ${PATIENT_LINK_VIEW} GROUP BY 1 ORDER BY 1`);
    expect(links).toEqual([
      { _source: 'in-order', n: 3 },
      { _source: 'shuffled', n: 3 },
    ]);
  });

  test('a re-sent request (same lake ids, version 1 again) changes no current-view count', async () => {
    const counts = async () => Object.fromEntries(await Promise.all(['patient', 'encounter', 'observation', PATIENT_LINK_VIEW].map(async (m) => [m, (await h.query(`SELECT count(*) AS n FROM ${m}`))[0]!.n])));
    const before = await counts();
    const e = engine();
    await ingest('in-order', await send(e, 'in-order', patient('a')));
    await ingest('in-order', await send(e, 'in-order', load('a', 1)));
    const history = await h.query(`SELECT count(*) AS n FROM observation_history WHERE _source = 'in-order'`);
    expect(history).toEqual([{ n: 7 }]); // the copy is there …
    expect(await counts()).toEqual(before); // … and counted once
    const dup = await h.query(`SELECT _source, _resource_id, count(*) AS n FROM observation GROUP BY 1, 2 HAVING count(*) > 1`);
    expect(dup).toEqual([]);
    // the latest copy is the one shown
    const latest = await h.query(`SELECT _lake_key FROM patient WHERE _source = 'in-order' AND _resource_id = (SELECT id FROM patient ORDER BY id LIMIT 1)`);
    expect(latest).toHaveLength(1);
  });

  test('the Athena SQL of every current view gives the same rows (run on DuckDB)', async () => {
    const { views } = martCatalogObjects(h.views.map((v) => martViewInfo(v as any)), 'test-marts');
    const snap = await openCatalogSnapshot(localCatalogFile(h.dir));
    try {
      const run = async (sql: string) => toJsonRows((await snap.connection.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[]);
      const sig = `SELECT _source, patient_id, count(*) AS n FROM observation GROUP BY 1, 2 ORDER BY 1, 2`;
      const duck = await run(sig);
      for (const v of views.filter((x) => snap.names.includes(x.name))) await snap.connection.run(`CREATE OR REPLACE VIEW ${q(v.name)} AS ${v.sql.athena}`);
      expect(await run(sig)).toEqual(duck);
      expect(await run(`SELECT count(*) AS n FROM patient`)).toEqual([{ n: 6 }]);
    } finally {
      snap.close();
    }
  });
});

describe('current-view SQL', () => {
  const info = { name: 'encounter', resourceType: 'Encounter', columns: [
    { name: 'id', type: 'id', collection: false, duckdbType: 'VARCHAR', glueType: 'string' },
    { name: 'patient_id', type: 'string', collection: false, duckdbType: 'VARCHAR', glueType: 'string', patientReference: true },
  ] } as any;

  test('joins on the lake object too and orders copies of one version by time; patient columns through patient_link', () => {
    for (const d of ['duckdb', 'athena'] as const) {
      const sql = currentViewSql(info, d, { patientLink: true });
      expect(sql).toContain('h._lake_key = l._lake_key');
      expect(sql).toMatch(/_last_updated DESC NULLS LAST, _ingested_at DESC NULLS LAST, _lake_key DESC/);
      expect(sql).toContain(`COALESCE(pl0.person_id, h."patient_id") AS "patient_id"`);
      expect(sql).toContain(`LEFT JOIN "patient_link" pl0 ON pl0._source = h._source AND pl0.local_id = h."patient_id"`);
    }
    expect(currentViewSql(info, 'duckdb')).not.toContain('patient_link');
    expect(currentViewSql(info, 'athena', { patientLink: true }).replace(/try_cast/g, 'TRY_CAST')).toBe(currentViewSql(info, 'duckdb', { patientLink: true }));
  });

  test('views are created with patient_link first', () => {
    const link = { name: PATIENT_LINK_VIEW, resourceType: 'Patient', columns: [{ name: 'local_id', type: 'string', collection: false, duckdbType: 'VARCHAR', glueType: 'string' }] } as any;
    const { views } = martCatalogObjects([info, link], 'b');
    expect(views.map((v) => v.name)).toEqual([PATIENT_LINK_VIEW, 'encounter']);
    expect(views[0]!.sql.duckdb).toMatch(/PARTITION BY c._source, c.local_id/);
  });
});
