/**
 * `npm run query -- --csv` (scripts/query.ts): the last statement's result as CSV (RFC 4180): a header record, CRLF
 * after every record, fields quoted when they hold a comma, a double quote, CR or LF (quotes doubled), NULL an
 * empty field and '' a quoted empty field. Checked against exact text and read back by DuckDB's own CSV reader.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { commit, harness, type Harness } from './etl-fixtures';
import { formatCsv, main, parseArgs } from '../../scripts/query';

let h: Harness;
beforeAll(async () => {
  h = harness();
  const obs = (id: string, v: number, display: string) => ({
    resourceType: 'Observation',
    id,
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display }] },
    valueQuantity: { value: v, unit: 'kg' },
  });
  for (const e of await commit(h.lake, [obs('o1', 70.5, 'body weight'), obs('o2', 71, 'weight, "measured"')], { requestId: 'r1' })) await h.etl.process(e);
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

/** The SQL of a row with every case RFC 4180 distinguishes. */
const TRICKY = `SELECT 1 AS n, 'plain' AS a, 'a,b' AS b, 'say "hi"' AS c, 'line1' || chr(10) || 'line2' AS d,
  'cr' || chr(13) || 'lf' AS e, NULL AS f, '' AS g, ' padded ' AS h, [1, 2] AS l, 'Müller' AS u`;

test('quotes exactly the fields RFC 4180 requires, CRLF after every record', async () => {
  const r = await run(['--csv', TRICKY]);
  expect(r.code).toBe(0);
  expect(r.err).toBe('');
  expect(r.out).toBe(
    'n,a,b,c,d,e,f,g,h,l,u\r\n' + '1,plain,"a,b","say ""hi""","line1\nline2","cr\rlf",,"", padded ,"[1,2]",Müller\r\n',
  );
});

test('DuckDB reads the CSV back to the same values (NULL stays NULL, "" stays empty)', async () => {
  const r = await run(['--csv', TRICKY]);
  const file = path.join(h.dir, 'out.csv');
  fs.writeFileSync(file, r.out);
  const db = await DuckDBInstance.create(':memory:');
  const con = await db.connect();
  try {
    const back = await con.runAndReadAll(
      `SELECT * FROM read_csv('${file}', header = true, all_varchar = true, quote = '"', escape = '"', delim = ',', new_line = '\\r\\n', allow_quoted_nulls = false)`,
    );
    expect(back.getRowObjectsJS()).toEqual([
      { n: '1', a: 'plain', b: 'a,b', c: 'say "hi"', d: 'line1\nline2', e: 'cr\rlf', f: null, g: '', h: ' padded ', l: '[1,2]', u: 'Müller' },
    ]);
  } finally {
    con.closeSync();
    db.closeSync();
  }
});

test('over the marts: every row, the last statement only', async () => {
  const r = await run(['--csv', 'SELECT 1 AS ignored; SELECT id, code_display, value_quantity FROM observation ORDER BY id']);
  expect(r.code).toBe(0);
  const header = r.out.split('\r\n')[0];
  expect(header).toBe('id,code_display,value_quantity');
  expect(r.out).toContain('"weight, ""measured"""');
  expect(r.out.split('\r\n').filter(Boolean)).toHaveLength(3);
  expect(r.out).not.toContain('ignored');
});

test('--csv with --json is a usage error; formatCsv of no rows is the header alone', async () => {
  expect(() => parseArgs(['--csv', '--json', 'SELECT 1'])).toThrow(/cannot be combined/);
  const r = await run(['--csv', '--json', 'SELECT 1']);
  expect(r.code).toBe(2);
  expect(r.err).toMatch(/--json \| --csv/);
  expect(formatCsv({ columns: ['a', 'b,c'], rows: [] })).toBe('a,"b,c"\r\n');
});
