/**
 * GlueCatalog against aws-sdk-client-mock: what it sends to Glue (SerDe, formats, location, partition keys,
 * Athena view encoding, partitions), how it treats Glue's answers, and that the tables it defines have the same
 * columns and types as the local DuckDB catalogue's (DESCRIBE of the real DuckDB views) for every default mart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'aws-sdk-client-mock-jest';
import {
  BatchCreatePartitionCommand,
  CreateDatabaseCommand,
  CreateTableCommand,
  EntityNotFoundException,
  GetDatabaseCommand,
  GetTableCommand,
  InternalServiceException,
  UpdateTableCommand,
} from '@aws-sdk/client-glue';
import { GlueCatalog, decodePrestoView, prestoType } from '../../src/adapters/aws/glue-catalog';
import { DuckDbCatalog } from '../../src/adapters/local/duckdb-catalog';
import {
  CatalogError,
  currentViewDefinition,
  historyTableDefinition,
  martCatalogObjects,
  rawTableDefinition,
  versionsTableDefinition,
  type MartViewInfo,
} from '../../src/core/catalog';
import { loadViews } from '../../src/fhir/views';
import { readViewFiles } from '../../src/paths';
import { fakeGlue } from '../contract/glue-fake';

const VIEWS = loadViews(readViewFiles(path.resolve(__dirname, '../../views')));
const INFOS: MartViewInfo[] = VIEWS.map((v) => ({ name: v.name, resourceType: v.compiled.resource, columns: v.compiled.columns }));
const obs = INFOS.find((v) => v.name === 'observation')!;

describe('GlueCatalog', () => {
  let glue: ReturnType<typeof fakeGlue>;
  let catalog: GlueCatalog;
  beforeEach(async () => {
    glue = fakeGlue();
    catalog = new GlueCatalog(glue.client, 'tributary_dev');
    await catalog.ensureDatabase();
  });
  afterEach(() => glue.mock.restore());

  test('GetDatabase first; CreateDatabase only when missing; AlreadyExists is not an error', async () => {
    await catalog.ensureDatabase();
    expect(glue.mock).toHaveReceivedCommandTimes(CreateDatabaseCommand, 1);
    expect(glue.mock).toHaveReceivedCommandTimes(GetDatabaseCommand, 2);
    expect(glue.state.databases).toEqual(new Set(['tributary_dev']));
    // a concurrent creator between our GetDatabase and CreateDatabase
    glue.mock.on(GetDatabaseCommand).rejects(new EntityNotFoundException({ message: 'gone', $metadata: {} }));
    await expect(catalog.ensureDatabase()).resolves.toBeUndefined();
  });

  test('a role without glue:CreateDatabase works when the database exists (Terraform creates it)', async () => {
    glue.mock.restore();
    const denied = fakeGlue();
    denied.state.databases.add('tributary_dev');
    denied.mock.on(CreateDatabaseCommand).rejects(Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' }));
    await expect(new GlueCatalog(denied.client, 'tributary_dev').ensureDatabase()).resolves.toBeUndefined();
    denied.mock.restore();
  });

  test('CreateTable: Parquet SerDe, Mapred Parquet formats, s3 location, source/date partition keys, typed columns', async () => {
    expect(await catalog.ensureTable(historyTableDefinition(obs, 'tributary-marts-dev'))).toBe('created');
    expect(glue.mock).toHaveReceivedCommandWith(CreateTableCommand, { DatabaseName: 'tributary_dev' });
    const t = glue.state.tables.get('tributary_dev.observation_history')!;
    expect(t.TableType).toBe('EXTERNAL_TABLE');
    expect(t.Parameters).toMatchObject({ EXTERNAL: 'TRUE', classification: 'parquet' });
    expect(t.StorageDescriptor).toMatchObject({
      Location: 's3://tributary-marts-dev/marts/observation/',
      InputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
      OutputFormat: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
      SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
    });
    expect(t.PartitionKeys!.map((k) => [k.Name, k.Type])).toEqual([
      ['source', 'string'],
      ['date', 'string'],
    ]);
    const cols = Object.fromEntries(t.StorageDescriptor!.Columns!.map((c) => [c.Name, c.Type]));
    expect(cols).toMatchObject({ id: 'string', value_quantity: 'double', value_integer: 'bigint', value_boolean: 'boolean', _lake_key: 'string', _version_id: 'string' });
    expect(t.StorageDescriptor!.Columns!.every((c) => (c.Comment ?? '').length <= 255)).toBe(true);
  });

  test('UpdateTable only when the columns changed', async () => {
    const def = historyTableDefinition(obs, 'm');
    await catalog.ensureTable(def);
    expect(await catalog.ensureTable(def)).toBe('unchanged');
    expect(glue.mock).toHaveReceivedCommandTimes(UpdateTableCommand, 0);
    expect(await catalog.ensureTable({ ...def, columns: def.columns.slice(1) })).toBe('updated');
    expect(glue.mock).toHaveReceivedCommandTimes(UpdateTableCommand, 1);
    expect(glue.state.tables.get('tributary_dev.observation_history')!.StorageDescriptor!.Columns![0]!.Name).toBe('patient_id');
  });

  test('raw tables: text files, LazySimpleSerDe with U+0001, one string column', async () => {
    await catalog.ensureTable(rawTableDefinition('Observation', 'tributary-lake-dev'));
    const t = glue.state.tables.get('tributary_dev.raw_observation')!;
    expect(t.StorageDescriptor).toMatchObject({
      Location: 's3://tributary-lake-dev/raw/Observation/',
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe', Parameters: { 'field.delim': '\u0001' } },
    });
    expect(t.StorageDescriptor!.Columns).toEqual([expect.objectContaining({ Name: 'resource', Type: 'string' })]);
  });

  test('the current-version view is an Athena (Presto) view over the history table and resource_versions', async () => {
    await catalog.ensureTable(versionsTableDefinition('m'));
    await catalog.ensureTable(historyTableDefinition(obs, 'm'));
    expect(await catalog.ensureView(currentViewDefinition(obs))).toBe('created');
    const t = glue.state.tables.get('tributary_dev.observation')!;
    expect(t.TableType).toBe('VIRTUAL_VIEW');
    expect(t.Parameters).toMatchObject({ presto_view: 'true' });
    expect(t.ViewExpandedText).toBe('/* Presto View */');
    const presto = decodePrestoView(t.ViewOriginalText)!;
    expect(presto.originalSql).toContain('FROM "observation_history" h');
    expect(presto.originalSql).toContain('try_cast(_version_id AS BIGINT)');
    expect(presto.originalSql).not.toMatch(/QUALIFY/i);
    expect(presto.columns.find((c) => c.name === 'value_quantity')?.type).toBe('double');
    expect(presto.columns.at(-1)).toEqual({ name: 'date', type: 'varchar' });
    expect(t.StorageDescriptor!.Columns!.map((c) => c.Name)).toEqual(presto.columns.map((c) => c.name));
    expect(await catalog.ensureView(currentViewDefinition(obs))).toBe('unchanged');
    expect(prestoType('array<string>')).toBe('array(varchar)');
  });

  test('BatchCreatePartition in chunks of 100 with partition locations; AlreadyExists ignored', async () => {
    await catalog.ensureTable(versionsTableDefinition('m'));
    const parts = Array.from({ length: 150 }, (_, i) => ({ source: `s${String(i).padStart(3, '0')}`, date: '2024-05-01' }));
    expect(await catalog.addPartitions('resource_versions', parts)).toBe(150);
    expect(glue.mock).toHaveReceivedCommandTimes(BatchCreatePartitionCommand, 2);
    const first = glue.mock.commandCalls(BatchCreatePartitionCommand)[0]!.args[0].input;
    expect(first.PartitionInputList![0]).toMatchObject({
      Values: ['s000', '2024-05-01'],
      StorageDescriptor: { Location: 's3://m/marts/resource_versions/source=s000/date=2024-05-01/' },
    });
    expect(await catalog.addPartitions('resource_versions', parts.slice(0, 3))).toBe(0);
    expect((await catalog.listPartitions('resource_versions')).length).toBe(150);
  });

  test('other Glue errors become CatalogError with the cause', async () => {
    glue.mock.on(GetTableCommand).rejects(new InternalServiceException({ message: 'boom', $metadata: {} }));
    const err = await catalog.ensureTable(versionsTableDefinition('m')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CatalogError);
    expect((err as CatalogError).cause).toBeInstanceOf(InternalServiceException);
  });
});

describe('Glue and DuckDB catalogues define the same tables', () => {
  test('every default mart: same column names and types in Glue (sent) and DuckDB (DESCRIBE)', async () => {
    const glue = fakeGlue();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-glue-vs-duck-'));
    try {
      const g = new GlueCatalog(glue.client, 'tributary');
      const d = new DuckDbCatalog({ file: path.join(dir, 'c.duckdb'), locate: (def) => path.join(dir, def.location.prefix, '*', '*', '*.parquet') });
      await g.ensureDatabase();
      await d.ensureDatabase();
      const objs = martCatalogObjects(INFOS, 'marts');
      for (const t of objs.tables) {
        await g.ensureTable(t);
        await d.ensureTable(t);
      }
      for (const v of objs.views) {
        await g.ensureView(v);
        await d.ensureView(v);
      }
      expect(objs.tables).toHaveLength(INFOS.length + 1);
      for (const name of [...objs.tables, ...objs.views].map((x) => x.name)) {
        const sent = glue.state.tables.get(`tributary.${name}`)!;
        const glueCols = [...sent.StorageDescriptor!.Columns!, ...(sent.PartitionKeys ?? [])].map((c) => ({ name: c.Name, glueType: c.Type }));
        const duck = (await d.describe(name))!;
        expect({ name, cols: [...duck.columns, ...duck.partitionKeys] }).toEqual({ name, cols: glueCols });
      }
    } finally {
      glue.mock.restore();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
