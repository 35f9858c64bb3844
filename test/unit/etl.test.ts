/**
 * The ETL use case end to end in-process: in-memory lake and marts (mirrored to files), real view runner, real
 * DuckDB Parquet encoding, real DuckDB catalogue and current/history views.
 */
import path from 'node:path';
import { commit, harness, type Harness } from './etl-fixtures';
import { EtlError, compactPartition, etlTables, martKey, parseLakeKey } from '../../src/core/etl';
import { VERSIONS_TABLE } from '../../src/core/catalog';
import { DuckDbParquetCodec } from '../../src/adapters/local/parquet-writer';
import { JsParquetCodec } from '../../src/adapters/local/js-parquet-codec';
import type { ColumnDef } from '../../src/core/catalog';

const patient = (id: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Patient', id, gender: 'female', birthDate: '1970', ...extra });
const bp = (id: string, patientId: string) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel' }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: '2024-04-30T09:00:00+01:00',
  component: [
    { code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] }, valueQuantity: { value: 120, unit: 'mm[Hg]' } },
    { code: { coding: [{ system: 'http://loinc.org', code: '8462-4' }] }, valueQuantity: { value: 80, unit: 'mm[Hg]' } },
  ],
});
const weight = (id: string, patientId: string, value: number) => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  subject: { reference: `Patient/${patientId}` },
  effectiveDateTime: '2024-04-30T09:05:00Z',
  valueQuantity: { value, unit: 'kg', code: 'kg' },
});
const carePlan = (id: string, patientId: string, activities: string[]) => ({
  resourceType: 'CarePlan',
  id,
  status: 'active',
  intent: 'plan',
  subject: { reference: `Patient/${patientId}` },
  category: [{ coding: [{ system: 'http://snomed.info/sct', code: '736376001' }] }],
  activity: activities.map((code) => ({ detail: { code: { coding: [{ system: 'http://snomed.info/sct', code }] }, status: 'completed' } })),
});

let h: Harness;
beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.close();
});

const count = async (table: string): Promise<number> => Number((await h.query(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

describe('lake keys', () => {
  test('parse and mart key derive from the lake key only', () => {
    const p = parseLakeKey('raw/Observation/source=gp-1/date=2024-05-01/abc-123.ndjson')!;
    expect(p).toEqual({ resourceType: 'Observation', source: 'gp-1', date: '2024-05-01', base: 'abc-123' });
    expect(martKey('marts/observation/', p)).toBe('marts/observation/source=gp-1/date=2024-05-01/abc-123-Observation.parquet');
    expect(parseLakeKey('raw/Observation/source=../date=2024-05-01/x.ndjson')).toBeUndefined();
    expect(parseLakeKey('staging/x/Observation.ndjson')).toBeUndefined();
  });
});

describe('Etl.process', () => {
  test('writes one Parquet file per table at the deterministic key, with lineage columns', async () => {
    const events = await commit(h.lake, [patient('p1'), bp('o1', 'p1'), weight('o2', 'p1', 71.5)], { requestId: 'req-1', policyVersion: 'pol-3' });
    const results = [];
    for (const e of events) results.push(await h.etl.process(e));
    const obs = results.find((r) => r.resourceType === 'Observation')!;
    expect(obs.rows).toEqual({ observation_history: 2, observation_component_history: 2, resource_versions: 2 });
    expect(obs.written.sort()).toEqual([
      'marts/observation/source=test-src/date=2024-05-01/req-1-Observation.parquet',
      'marts/observation_component/source=test-src/date=2024-05-01/req-1-Observation.parquet',
      'marts/resource_versions/source=test-src/date=2024-05-01/req-1-Observation.parquet',
    ]);
    const rows = await h.query(`SELECT * FROM observation WHERE id = 'o2'`);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      id: 'o2',
      patient_id: 'p1',
      code: '29463-7',
      value_quantity: 71.5,
      value_unit: 'kg',
      effective_datetime: '2024-04-30T09:05:00Z',
      component_count: 0,
      _source: 'test-src',
      _ingested_at: '2024-05-01T10:00:00.000Z',
      _lake_key: 'raw/Observation/source=test-src/date=2024-05-01/req-1.ndjson',
      _policy_version: 'pol-3',
      _resource_id: 'o2',
      _version_id: '1',
      _last_updated: '2024-05-01T10:00:00.000Z',
      source: 'test-src',
      date: '2024-05-01',
    });
    const comps = await h.query(`SELECT code, value_quantity FROM observation_component ORDER BY component_index`);
    expect(comps).toEqual([
      { code: '8480-6', value_quantity: 120 },
      { code: '8462-4', value_quantity: 80 },
    ]);
    expect(await count('patient')).toBe(1);
    expect(await count(VERSIONS_TABLE)).toBe(3);
  });

  test('the Parquet schema is the declared one (types from the views, lists as LIST)', async () => {
    for (const e of await commit(h.lake, [carePlan('cp1', 'p1', ['409524006', '361235007']), weight('o1', 'p1', 1)], { requestId: 'r' })) {
      await h.etl.process(e);
    }
    const d = await h.catalog.describe('care_plan_history');
    const types = Object.fromEntries(d!.columns.map((c) => [c.name, c.glueType]));
    expect(types.activity_codes).toBe('array<string>');
    expect(types.category_codes).toBe('array<string>');
    expect(types._version_id).toBe('string');
    expect(d!.partitionKeys).toEqual([
      { name: 'source', glueType: 'string' },
      { name: 'date', glueType: 'string' },
    ]);
    const rows = await h.query(`SELECT activity_codes, list_contains(activity_codes, '361235007') AS isolated FROM care_plan`);
    expect(rows).toEqual([{ activity_codes: ['409524006', '361235007'], isolated: true }]);
    const d2 = await h.catalog.describe('observation_history');
    const t2 = Object.fromEntries(d2!.columns.map((c) => [c.name, c.glueType]));
    expect(t2).toMatchObject({ value_quantity: 'double', value_integer: 'bigint', value_boolean: 'boolean', component_count: 'bigint' });
  });

  test('re-delivering every event overwrites the same files: counts unchanged', async () => {
    const events = await commit(h.lake, [patient('p1'), bp('o1', 'p1'), weight('o2', 'p1', 70), carePlan('cp1', 'p1', ['a', 'b'])], { requestId: 'req-1' });
    for (const e of events) await h.etl.process(e);
    const keys = [...h.inner.objects.keys()].sort();
    const before = { obs: await count('observation_history'), comp: await count('observation_component_history'), act: await count('care_plan_activity'), v: await count(VERSIONS_TABLE) };
    expect(before).toEqual({ obs: 2, comp: 2, act: 2, v: 4 });
    await h.etl.processBatch(events);
    for (const e of events) await h.etl.process(e);
    expect([...h.inner.objects.keys()].sort()).toEqual(keys);
    expect({ obs: await count('observation_history'), comp: await count('observation_component_history'), act: await count('care_plan_activity'), v: await count(VERSIONS_TABLE) }).toEqual(before);
  });

  test('an update: one row in the current view, two in history; a version with no rows hides the old rows', async () => {
    for (const e of await commit(h.lake, [patient('p1'), carePlan('cp1', 'p1', ['a', 'b'])], { requestId: 'v1' })) await h.etl.process(e);
    const v2 = { ...patient('p1', { gender: 'male' }), meta: { versionId: '2', lastUpdated: '2024-05-02T08:00:00.000Z' } };
    const cp2 = { ...carePlan('cp1', 'p1', []), status: 'completed', meta: { versionId: '2', lastUpdated: '2024-05-02T08:00:00.000Z' } };
    for (const e of await commit(h.lake, [v2, cp2], { requestId: 'v2', date: '2024-05-02' })) await h.etl.process(e);
    expect(await h.query(`SELECT id, gender, _version_id FROM patient`)).toEqual([{ id: 'p1', gender: 'male', _version_id: '2' }]);
    expect(await h.query(`SELECT gender, _version_id, "date" FROM patient_history ORDER BY _version_id`)).toEqual([
      { gender: 'female', _version_id: '1', date: '2024-05-01' },
      { gender: 'male', _version_id: '2', date: '2024-05-02' },
    ]);
    expect(await h.query(`SELECT status FROM care_plan`)).toEqual([{ status: 'completed' }]);
    // version 2 has no activity: the current activity view must not show version 1's two rows
    expect(await count('care_plan_activity')).toBe(0);
    expect(await count('care_plan_activity_history')).toBe(2);
  });

  test('versions compare as numbers (10 after 9), per source', async () => {
    for (const v of ['9', '10']) {
      const p = { ...patient('p1', { gender: v === '10' ? 'other' : 'female' }), meta: { versionId: v, lastUpdated: `2024-05-0${v === '9' ? 1 : 2}T00:00:00Z` } };
      for (const e of await commit(h.lake, [p], { requestId: `r${v}` })) await h.etl.process(e);
    }
    expect(await h.query(`SELECT _version_id, gender FROM patient`)).toEqual([{ _version_id: '10', gender: 'other' }]);
  });

  test('refuses events that do not match their object, and says why', async () => {
    const [e] = await commit(h.lake, [patient('p1')], { requestId: 'r1' });
    await expect(h.etl.process({ ...e!, checksumSha256: 'AAAA' })).rejects.toThrow(/checksum/);
    await expect(h.etl.process({ ...e!, bucket: 'other' })).rejects.toBeInstanceOf(EtlError);
    await expect(h.etl.process({ ...e!, objectKey: 'raw/Patient/source=test-src/date=2024-05-01/missing.ndjson' })).rejects.toThrow(/does not exist/);
    await expect(h.etl.process({ ...e!, resourceType: 'Observation' })).rejects.toThrow(/do not match/);
    await expect(h.etl.process({ ...e!, objectKey: '../etc/passwd' })).rejects.toThrow(/not a lake object key/);
    expect(h.inner.objects.size).toBe(0);
  });

  test('processBatch reports each event: a bad one does not fail the others', async () => {
    const events = await commit(h.lake, [patient('p1'), weight('o1', 'p1', 60)], { requestId: 'r1' });
    const bad = { ...events[0]!, checksumSha256: 'bad' };
    const out = await h.etl.processBatch([events[0]!, bad, events[1]!]);
    expect(out[0]).not.toBeInstanceOf(Error);
    expect(out[1]).toBeInstanceOf(EtlError);
    expect(out[2]).not.toBeInstanceOf(Error);
    expect(await count('observation')).toBe(1);
  });

  test('a view failing on one resource skips that resource for that view only (or fails the event)', async () => {
    // two values in a non-collection column (code.coding.first() is fine; identifier-like multi-valued paths are not)
    const broken = { ...weight('o9', 'p1', 1), valueQuantity: undefined, valueString: ['x', 'y'] as unknown as string };
    const [e] = await commit(h.lake, [weight('o1', 'p1', 60), broken], { requestId: 'r1' });
    const r = await h.etl.process(e!);
    expect(r.viewErrors).toBeGreaterThanOrEqual(1);
    expect(h.warnings[0]).toMatchObject({ view: 'observation', resourceId: 'o9' });
    expect(JSON.stringify(h.warnings)).not.toContain('"x"');
    expect(await h.query(`SELECT id FROM observation ORDER BY id`)).toEqual([{ id: 'o1' }]);
    expect(await count(VERSIONS_TABLE)).toBe(2);
    const strict = harness({ onViewError: 'fail' });
    try {
      const [e2] = await commit(strict.lake, [broken], { requestId: 'r1' });
      await expect(strict.etl.process(e2!)).rejects.toThrow();
    } finally {
      await strict.close();
    }
  });

  test('registers tables, current views, raw tables and partitions in the catalogue', async () => {
    for (const e of await commit(h.lake, [patient('p1'), weight('o1', 'p1', 60)], { requestId: 'r1' })) await h.etl.process(e);
    expect(await h.catalog.listPartitions('observation_history')).toEqual([{ source: 'test-src', date: '2024-05-01' }]);
    expect(await h.catalog.listPartitions('raw_observation')).toEqual([{ source: 'test-src', date: '2024-05-01' }]);
    expect((await h.catalog.describe('observation'))?.kind).toBe('view');
    const raw = await h.query(`SELECT json_extract_string(resource, '$.id') AS id, source FROM raw_observation`);
    expect(raw).toEqual([{ id: 'o1', source: 'test-src' }]);
  });
});

describe('compaction', () => {
  const sortedRows = async (table: string): Promise<string> => {
    const rows = await h.query(`SELECT * FROM ${table}`);
    return rows.map((r) => JSON.stringify(r)).sort().join('\n');
  };

  test('merges a partition into one file without losing or duplicating rows; re-delivery afterwards adds nothing', async () => {
    const all = [];
    for (let i = 0; i < 4; i++) {
      all.push(...(await commit(h.lake, [patient(`p${i}`), weight(`o${i}a`, `p${i}`, 50 + i), bp(`o${i}b`, `p${i}`)], { requestId: `req-${i}` })));
    }
    for (const e of all) await h.etl.process(e);
    const tables = etlTables(h.views, h.marts.name);
    const obs = tables.find((t) => t.name === 'observation_history')!;
    const before = { n: await count('observation_history'), rows: await sortedRows('observation_history'), cur: await sortedRows('observation') };
    expect(before.n).toBe(8);
    const prefix = 'marts/observation/source=test-src/date=2024-05-01/';
    expect((await h.marts.list(prefix)).length).toBe(4);

    const r = await compactPartition({ marts: h.marts, codec: h.codec }, obs, { source: 'test-src', date: '2024-05-01' });
    expect(r).toMatchObject({ inputs: 4, rows: 8, lakeKeys: 4 });
    const files = await h.marts.list(prefix);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\/compacted-[0-9a-f]{16}\.parquet$/);
    expect(await count('observation_history')).toBe(8);
    expect(await sortedRows('observation_history')).toBe(before.rows);
    expect(await sortedRows('observation')).toBe(before.cur);

    // every event again: the compacted table is skipped for merged lake keys
    const out = await h.etl.processBatch(all);
    expect(out.filter((x) => x instanceof Error)).toEqual([]);
    expect(out.filter((x) => !(x instanceof Error) && x.skipped.includes('observation_history'))).toHaveLength(4);
    expect(await h.marts.list(prefix)).toEqual(files);
    expect(await sortedRows('observation_history')).toBe(before.rows);

    // compacting again: nothing to merge
    expect((await compactPartition({ marts: h.marts, codec: h.codec }, obs, { source: 'test-src', date: '2024-05-01' })).inputs).toBe(0);

    // a new object in the partition, then compaction again: 9+ rows, still no duplicate
    for (const e of await commit(h.lake, [weight('o9', 'p1', 99)], { requestId: 'req-9' })) await h.etl.process(e);
    const r2 = await compactPartition({ marts: h.marts, codec: h.codec }, obs, { source: 'test-src', date: '2024-05-01' });
    expect(r2).toMatchObject({ inputs: 2, rows: 9, lakeKeys: 5 });
    expect(await h.marts.list(prefix)).toHaveLength(1);
    expect(await count('observation_history')).toBe(9);
  });

  test('a crash after writing the merged file (inputs not yet deleted) is repaired by the next run', async () => {
    for (let i = 0; i < 3; i++) for (const e of await commit(h.lake, [weight(`o${i}`, 'p1', i)], { requestId: `r${i}` })) await h.etl.process(e);
    const obs = etlTables(h.views, h.marts.name).find((t) => t.name === 'observation_history')!;
    const prefix = 'marts/observation/source=test-src/date=2024-05-01/';
    const inputs = await h.marts.list(prefix);
    const bodies = await Promise.all(inputs.map((k) => h.marts.get(k)));
    await compactPartition({ marts: h.marts, codec: h.codec }, obs, { source: 'test-src', date: '2024-05-01' });
    // put the small files back, as if the delete had not happened
    for (let i = 0; i < inputs.length; i++) await h.marts.put(inputs[i]!, bodies[i]!);
    expect(await count('observation_history')).toBe(6);
    const r = await compactPartition({ marts: h.marts, codec: h.codec }, obs, { source: 'test-src', date: '2024-05-01' });
    expect(r).toMatchObject({ inputs: 4, rows: 3 });
    expect(await count('observation_history')).toBe(3);
  });
});

describe.each([
  ['DuckDbParquetCodec (DuckDB COPY)', (dir: string) => new DuckDbParquetCodec({ tmpDir: dir })],
  ['JsParquetCodec (in-process encoder, the ETL default)', (dir: string) => new JsParquetCodec({ tmpDir: dir })],
])('%s', (_name, make) => {
  const cols = [
    { name: 'a', duckdbType: 'VARCHAR', glueType: 'string' },
    { name: 'n', duckdbType: 'BIGINT', glueType: 'bigint' },
    { name: 'd', duckdbType: 'DOUBLE', glueType: 'double' },
    { name: 'b', duckdbType: 'BOOLEAN', glueType: 'boolean' },
    { name: 'l', duckdbType: 'VARCHAR[]', glueType: 'array<string>' },
    { name: 'ln', duckdbType: 'BIGINT[]', glueType: 'array<bigint>' },
  ] as ColumnDef[];
  const groups = [
    [{ a: 'x', n: 1, d: 1.5, b: true, l: ['p'], ln: [1, 2] }],
    [
      { a: 'y', n: null, d: null, b: null, l: [], ln: [] },
      { a: "it's ü — 😀", n: 9007199254740991, d: -0.1, b: false, l: null, ln: null },
      { a: null, n: -3, d: 0, b: true, l: ['q', null], ln: [null] },
    ],
    [],
  ];

  test('encodeMany writes one file per group with the same rows as encode, and DuckDB reads them back exactly', async () => {
    const codec = make(path.join(h.dir, `codec-${Math.random()}`));
    const files = await codec.encodeMany!(cols, groups);
    expect(files).toHaveLength(3);
    for (let i = 0; i < 3; i++) {
      expect(await codec.read([files[i]!])).toEqual(groups[i]);
      expect(await codec.read([await codec.encode(cols, groups[i]!)])).toEqual(groups[i]);
    }
    await codec.close();
  });

  test('the file schema is the column types exactly, the same as DuckDB writes (one schema per table)', async () => {
    const codec = make(path.join(h.dir, `codec-${Math.random()}`));
    const describe = "SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM t)";
    const types = await codec.read([await codec.encode(cols, groups[1]!)], describe);
    expect(types).toEqual(cols.map((c) => ({ name: c.name, type: c.duckdbType })));
    // an empty file keeps its schema too
    expect(await codec.read([await codec.encode(cols, [])], describe)).toEqual(types);
    await codec.close();
  });

  test('a value that does not fit its column is refused, not written as something else', async () => {
    const codec = make(path.join(h.dir, `codec-${Math.random()}`));
    await expect(codec.encode(cols, [{ a: 'x', n: 'not a number', d: 1, b: true, l: [], ln: [] }])).rejects.toThrow();
    await codec.close();
  });
});
