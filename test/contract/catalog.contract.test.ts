/**
 * The Catalog port's contract, run against both implementations: the DuckDB catalogue (a real file in a temp
 * folder, with Parquet files the ETL's codec wrote) and the Glue catalogue (through aws-sdk-client-mock with an
 * in-memory fake of Glue's state). Same definitions in, same observable catalogue out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  PARTITION_KEYS,
  currentViewDefinition,
  historyTableDefinition,
  rawTableDefinition,
  versionsTableDefinition,
  type Catalog,
  type MartViewInfo,
  type TableDefinition,
} from '../../src/core/catalog';
import { GlueCatalog } from '../../src/adapters/aws/glue-catalog';
import { DuckDbCatalog } from '../../src/adapters/local/duckdb-catalog';
import { DuckDbParquetCodec } from '../../src/adapters/local/parquet-writer';
import { loadViews } from '../../src/fhir/views';
import { readViewFiles } from '../../src/paths';
import { fakeGlue } from './glue-fake';

const VIEWS = loadViews(readViewFiles(path.resolve(__dirname, '../../views')));
const info = (name: string): MartViewInfo => {
  const v = VIEWS.find((x) => x.name === name)!;
  return { name: v.name, resourceType: v.compiled.resource, columns: v.compiled.columns };
};
const BUCKET = 'marts-bucket';

interface Subject {
  catalog: Catalog;
  /** Makes files exist for a partition (DuckDB reads them; Glue needs nothing). */
  materialise(def: TableDefinition, source: string, date: string): Promise<void>;
  close(): Promise<void>;
}

const subjects: [string, () => Subject][] = [
  [
    'DuckDbCatalog',
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-catalog-contract-'));
      const codec = new DuckDbParquetCodec({ tmpDir: path.join(dir, 'tmp') });
      const locate = (def: TableDefinition): string => path.join(dir, def.location.bucket, def.location.prefix, '*', '*', def.format === 'parquet' ? '*.parquet' : '*.ndjson');
      return {
        catalog: new DuckDbCatalog({ file: path.join(dir, 'catalog.duckdb'), locate }),
        async materialise(def, source, date) {
          const folder = path.join(dir, def.location.bucket, def.location.prefix, `source=${source}`, `date=${date}`);
          fs.mkdirSync(folder, { recursive: true });
          if (def.format === 'parquet') fs.writeFileSync(path.join(folder, 'x.parquet'), await codec.encode(def.columns, []));
          else fs.writeFileSync(path.join(folder, 'x.ndjson'), '{"resourceType":"Claim","id":"c1"}\n');
        },
        async close() {
          await codec.close();
          fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  ],
  [
    'GlueCatalog',
    () => {
      const { client, mock } = fakeGlue();
      return {
        catalog: new GlueCatalog(client, 'tributary'),
        async materialise() {
          /* S3 files are not Glue's concern */
        },
        async close() {
          mock.restore();
        },
      };
    },
  ],
];

describe.each(subjects)('Catalog contract: %s', (_name, make) => {
  let s: Subject;
  beforeEach(() => {
    s = make();
  });
  afterEach(async () => {
    await s.close();
  });

  test('ensureDatabase is idempotent', async () => {
    await s.catalog.ensureDatabase();
    await expect(s.catalog.ensureDatabase()).resolves.toBeUndefined();
  });

  test('ensureTable: created, then unchanged, then updated when the columns change', async () => {
    await s.catalog.ensureDatabase();
    const def = historyTableDefinition(info('observation'), BUCKET);
    expect(await s.catalog.ensureTable(def)).toBe('created');
    expect(await s.catalog.ensureTable(def)).toBe('unchanged');
    const d = await s.catalog.describe('observation_history');
    expect(d?.kind).toBe('table');
    expect(d?.columns).toEqual(def.columns.map((c) => ({ name: c.name, glueType: c.glueType })));
    expect(d?.partitionKeys).toEqual(PARTITION_KEYS.map((c) => ({ name: c.name, glueType: c.glueType })));
    const changed = { ...def, columns: [...def.columns, { name: 'extra_flag', duckdbType: 'BOOLEAN' as const, glueType: 'boolean' as const }] };
    expect(await s.catalog.ensureTable(changed)).toBe('updated');
    expect((await s.catalog.describe('observation_history'))?.columns.at(-1)).toEqual({ name: 'extra_flag', glueType: 'boolean' });
  });

  test('list columns are arrays; raw tables are one string column', async () => {
    await s.catalog.ensureDatabase();
    await s.catalog.ensureTable(historyTableDefinition(info('care_plan'), BUCKET));
    const cols = (await s.catalog.describe('care_plan_history'))!.columns;
    expect(cols.find((c) => c.name === 'activity_codes')).toEqual({ name: 'activity_codes', glueType: 'array<string>' });
    await s.catalog.ensureTable(rawTableDefinition('Claim', 'lake-bucket'));
    expect((await s.catalog.describe('raw_claim'))!.columns).toEqual([{ name: 'resource', glueType: 'string' }]);
  });

  test('addPartitions counts only new partitions; listPartitions is sorted', async () => {
    await s.catalog.ensureDatabase();
    const def = versionsTableDefinition(BUCKET);
    await s.catalog.ensureTable(def);
    const parts = [
      { source: 'b-src', date: '2024-05-02' },
      { source: 'a-src', date: '2024-05-01' },
      { source: 'a-src', date: '2024-04-30' },
    ];
    for (const p of parts) await s.materialise(def, p.source, p.date);
    expect(await s.catalog.addPartitions(def.name, parts.slice(0, 2))).toBe(2);
    expect(await s.catalog.addPartitions(def.name, parts)).toBe(1);
    expect(await s.catalog.addPartitions(def.name, parts)).toBe(0);
    expect(await s.catalog.listPartitions(def.name)).toEqual([
      { source: 'a-src', date: '2024-04-30' },
      { source: 'a-src', date: '2024-05-01' },
      { source: 'b-src', date: '2024-05-02' },
    ]);
    await expect(s.catalog.addPartitions('no_such_table', parts)).rejects.toThrow();
  });

  test('ensureView: the current-version view, created then unchanged, with the columns of the history table', async () => {
    await s.catalog.ensureDatabase();
    const v = info('patient');
    await s.catalog.ensureTable(versionsTableDefinition(BUCKET));
    await s.catalog.ensureTable(historyTableDefinition(v, BUCKET));
    expect(await s.catalog.ensureView(currentViewDefinition(v))).toBe('created');
    expect(await s.catalog.ensureView(currentViewDefinition(v))).toBe('unchanged');
    const d = await s.catalog.describe('patient');
    expect(d?.kind).toBe('view');
    const hist = (await s.catalog.describe('patient_history'))!;
    expect(d?.columns).toEqual([...hist.columns, ...hist.partitionKeys]);
  });

  test('describe of an unknown name is undefined', async () => {
    await s.catalog.ensureDatabase();
    expect(await s.catalog.describe('nothing_here')).toBeUndefined();
  });
});
