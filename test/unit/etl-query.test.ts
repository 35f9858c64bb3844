/** `npm run query` (scripts/query.ts) over a catalogue the ETL built: table and JSON output, files, errors. */
import fs from 'node:fs';
import path from 'node:path';
import { commit, harness, type Harness } from './etl-fixtures';
import { formatTable, main, parseArgs } from '../../scripts/query';
import { localCatalogFile } from '../../src/adapters/local/duckdb-catalog';

let h: Harness;
beforeAll(async () => {
  h = harness();
  const obs = (id: string, v: number) => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ code: '29463-7' }] }, valueQuantity: { value: v, unit: 'kg' } });
  for (const e of await commit(h.lake, [{ resourceType: 'Patient', id: 'p1', gender: 'female' }, obs('o1', 70.5), obs('o2', 71)], { requestId: 'r1' })) await h.etl.process(e);
});
afterAll(async () => {
  await h.close();
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) }, { DATA_DIR: h.dir });
  return { code, out, err };
}

test('--json prints the rows as one JSON array (numbers as numbers)', async () => {
  const r = await run(['--json', 'SELECT id, value_quantity, _version_id FROM observation ORDER BY id']);
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out)).toEqual([
    { id: 'o1', value_quantity: 70.5, _version_id: '1' },
    { id: 'o2', value_quantity: 71, _version_id: '1' },
  ]);
});

test('prints a table; DATA_DIR or --data-dir or --catalog find the catalogue', async () => {
  const r = await run(['SELECT', 'count(*)', 'AS', 'n', 'FROM', 'patient']);
  expect(r.code).toBe(0);
  expect(r.out).toMatch(/^n\s*\n─+\n1\s*\n\(1 row\)\n$/);
  const c = await run(['--catalog', localCatalogFile(h.dir), '--json', 'SELECT 1 AS x']);
  expect(JSON.parse(c.out)).toEqual([{ x: 1 }]);
});

test('--file runs every statement, --tables lists what can be queried', async () => {
  const f = path.join(h.dir, 'q.sql');
  fs.writeFileSync(f, 'SELECT 1 AS a;\nSELECT count(*) AS n FROM observation_history;');
  const r = await run(['--file', f]);
  expect(r.code).toBe(0);
  expect(r.out).toContain('(1 row)');
  expect(r.out.split('(1 row)')).toHaveLength(3);
  const j = await run(['--json', '--file', f]);
  expect(JSON.parse(j.out)).toEqual([{ n: 2 }]);
  const t = await run(['--tables', '--json']);
  const names = JSON.parse(t.out).map((x: { name: string }) => x.name);
  expect(names).toEqual(expect.arrayContaining(['observation', 'observation_history', 'patient', 'patient_history', 'resource_versions', 'raw_observation']));
});

test('errors: bad SQL exits 1 with the message, no SQL exits 2, no catalogue exits 1', async () => {
  const bad = await run(['SELECT nope FROM observation']);
  expect(bad.code).toBe(1);
  expect(bad.err).toMatch(/nope/);
  expect((await run([])).code).toBe(2);
  expect((await run(['--data-dir', path.join(h.dir, 'nowhere'), 'SELECT 1'])).code).toBe(1);
  expect(parseArgs(['--json', 'SELECT', '1']).sql).toBe('SELECT 1');
});

test('formatTable clips long cells and reports hidden rows', () => {
  const out = formatTable({ columns: ['a'], rows: [{ a: 'x'.repeat(100) }, { a: null }, { a: [1, 2] }] }, 2);
  expect(out).toContain('…');
  expect(out).toContain('NULL');
  expect(out).toContain('(3 rows (showing 2))');
});
