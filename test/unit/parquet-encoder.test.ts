/**
 * The ETL's Parquet encoder (`src/adapters/local/parquet-encoder.ts`) read back by two independent readers:
 * DuckDB (what compaction, the catalogue and `npm run query` use) and hyparquet (a second, pure-JS reader), over
 * the corners of the format it writes: nulls, empty lists, null list elements, multi-byte UTF-8, varints past one
 * byte (long strings, many rows, many columns), bit-packed booleans, int64 limits, empty files.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDbParquetCodec } from '../../src/adapters/local/parquet-writer';
import { encodeParquet, ParquetEncodeError } from '../../src/adapters/local/parquet-encoder';
import type { ColumnDef } from '../../src/core/catalog';
import type { Row } from '../../src/fhir/views';

const col = (name: string, duckdbType: string): ColumnDef => ({ name, duckdbType, glueType: 'string' }) as ColumnDef;
const cols: ColumnDef[] = [
  col('a', 'VARCHAR'),
  col('n', 'BIGINT'),
  col('d', 'DOUBLE'),
  col('b', 'BOOLEAN'),
  col('l', 'VARCHAR[]'),
  col('ln', 'BIGINT[]'),
  col('ld', 'DOUBLE[]'),
  col('lb', 'BOOLEAN[]'),
];

/** A small deterministic generator (no Math.random: a failure must reproduce). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Rows with every shape a column can take, `count` of them, from `seed`. */
function randomRows(count: number, seed: number): Row[] {
  const r = rng(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const str = (): string | null => pick([null, '', 'x', 'é ü — 😀', 'long '.repeat(40), `v${Math.floor(r() * 1000)}`]);
  const int = (): number | null => pick([null, 0, -1, 1, 127, 128, -129, 2 ** 31, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);
  const dbl = (): number | null => pick([null, 0, -0.5, 1e-300, 1.7976931348623157e308, 3.14159]);
  const bool = (): boolean | null => pick([null, true, false, true]);
  const list = <T>(f: () => T | null): (T | null)[] | null => (r() < 0.2 ? null : Array.from({ length: Math.floor(r() * 5) }, f));
  return Array.from({ length: count }, () => ({ a: str(), n: int(), d: dbl(), b: bool(), l: list(str), ln: list(int), ld: list(dbl), lb: list(bool) }));
}

let dir: string;
let duck: DuckDbParquetCodec;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pq-enc-'));
  duck = new DuckDbParquetCodec({ tmpDir: dir });
});
afterAll(async () => {
  await duck.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** DuckDB's reading of a file, with BIGINTs as numbers (they are safe integers here). */
async function duckRead(file: Uint8Array, sql = 'SELECT * FROM t'): Promise<Row[]> {
  return duck.read([file], sql);
}

/** hyparquet's reading of a file, normalised to DuckDB's shapes (bigint → number, absent list → null). */
async function hyparquetRead(file: Uint8Array): Promise<Row[]> {
  const { parquetReadObjects } = await import('hyparquet');
  const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
  const rows = (await parquetReadObjects({ file: ab })) as Row[];
  const norm = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(norm) : v === undefined ? null : v);
  return rows.map((row) => Object.fromEntries(cols.map((c) => [c.name, norm(row[c.name])])));
}

describe('Parquet encoder', () => {
  test.each([
    ['one row', 1, 1],
    ['a typical ETL file', 23, 2],
    ['varints past one byte (300 rows)', 300, 3],
    ['a large file (5,000 rows, buffers grow)', 5000, 4],
  ])('%s: DuckDB and hyparquet read back exactly the rows written', async (_name, count, seed) => {
    const rows = randomRows(count, seed);
    const file = encodeParquet(cols, rows);
    expect(Buffer.from(file.subarray(0, 4)).toString()).toBe('PAR1');
    expect(Buffer.from(file.subarray(file.length - 4)).toString()).toBe('PAR1');
    expect(await duckRead(file)).toEqual(rows);
    expect(await hyparquetRead(file)).toEqual(rows);
  });

  test('the schema is what DuckDB writes for the same columns: types, optional leaves, 3-level lists', async () => {
    const file = encodeParquet(cols, randomRows(5, 9));
    const described = await duckRead(file, 'SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM t)');
    expect(described).toEqual(cols.map((c) => ({ name: c.name, type: c.duckdbType })));
    const f = path.join(dir, 'schema.parquet');
    fs.writeFileSync(f, file);
    const schema = await duck.read([file], `SELECT name, type, repetition_type, converted_type FROM parquet_schema('${f}')`);
    const names = schema.map((s) => s.name);
    const l = names.indexOf('l');
    expect(names.slice(l, l + 3)).toEqual(['l', 'list', 'element']);
    expect(schema.slice(l, l + 3).map((s) => s.repetition_type)).toEqual(['OPTIONAL', 'REPEATED', 'OPTIONAL']);
    expect(schema[l]).toMatchObject({ converted_type: 'LIST' });
    expect(schema.find((s) => s.name === 'a')).toMatchObject({ type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', converted_type: 'UTF8' });
    expect(schema.find((s) => s.name === 'n')).toMatchObject({ type: 'INT64', repetition_type: 'OPTIONAL' });
    const meta = await duck.read([file], `SELECT DISTINCT row_group_id::INTEGER AS g, compression FROM parquet_metadata('${f}')`);
    expect(meta).toEqual([{ g: 0, compression: 'UNCOMPRESSED' }]);
  });

  test('many columns (over 15: the long form of Thrift list headers) keep their order and values', async () => {
    const many = Array.from({ length: 40 }, (_, i) => col(`c${i}`, i % 2 ? 'BIGINT' : 'VARCHAR'));
    const rows = Array.from({ length: 17 }, (_, r) => Object.fromEntries(many.map((c, i) => [c.name, i % 2 ? r * i : `r${r}c${i}`])));
    expect(await duckRead(encodeParquet(many, rows))).toEqual(rows);
  });

  test('an empty file keeps the schema and holds no row', async () => {
    const file = encodeParquet(cols, []);
    expect(await duckRead(file, 'SELECT count(*)::INTEGER AS n FROM t')).toEqual([{ n: 0 }]);
    expect((await duckRead(file, 'SELECT column_type AS type FROM (DESCRIBE SELECT * FROM t)')).map((r) => r.type)).toEqual(cols.map((c) => c.duckdbType));
  });

  test('the same column list gives the same bytes for the same rows (deterministic: re-deliveries overwrite alike)', () => {
    const rows = randomRows(10, 5);
    expect(Buffer.from(encodeParquet(cols, rows)).equals(Buffer.from(encodeParquet(cols, rows)))).toBe(true);
  });

  test('numbers given as text fit numeric columns as the view runner may produce them; anything else is refused', async () => {
    const two = [col('n', 'BIGINT'), col('a', 'VARCHAR')];
    expect(await duckRead(encodeParquet(two, [{ n: '42', a: 7 }]))).toEqual([{ n: 42, a: '7' }]);
    const bad: [ColumnDef[], Row][] = [
      [[col('n', 'BIGINT')], { n: 'forty-two' }],
      [[col('n', 'BIGINT')], { n: 1.5 }],
      [[col('n', 'BIGINT')], { n: 2n ** 63n }],
      [[col('d', 'DOUBLE')], { d: 'NaN' }],
      [[col('b', 'BOOLEAN')], { b: 'true' }],
      [[col('a', 'VARCHAR')], { a: { nested: true } }],
      [[col('l', 'VARCHAR[]')], { l: 'not a list' }],
      [[col('t', 'TIMESTAMP')], { t: null }],
    ];
    for (const [c, row] of bad) expect(() => encodeParquet(c, [row])).toThrow(ParquetEncodeError);
  });
});
