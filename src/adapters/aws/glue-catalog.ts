/**
 * {@link Catalog} on the AWS Glue Data Catalog (@aws-sdk/client-glue), queried with Amazon Athena.
 *
 * - Parquet tables: `EXTERNAL_TABLE`s with the Parquet SerDe
 *   (`org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe`, Mapred Parquet input/output formats),
 *   location `s3://{bucket}/{prefix}`, partition keys `source`, `date` (strings).
 * - NDJSON tables (`raw_{type}`): text files with LazySimpleSerDe and a field delimiter of U+0001, which JSON
 *   text never holds raw, so the whole line lands in the one string column `resource`
 *   (`json_extract_scalar(resource, '$.id')`).
 * - Views (the current-version view of each mart): Athena views, which Glue stores as `VIRTUAL_VIEW` tables whose
 *   `ViewOriginalText` is `/* Presto View: base64(JSON) *\/` (the encoding Athena itself writes for CREATE VIEW).
 * - Partitions: BatchCreatePartition, "already exists" ignored.
 *
 * Table and view definitions are compared with what Glue holds; UpdateTable only when something changed.
 * Note for Athena queries: `date` is a reserved word there, quote it (`"date"`).
 */
import {
  AlreadyExistsException,
  BatchCreatePartitionCommand,
  CreateDatabaseCommand,
  CreateTableCommand,
  EntityNotFoundException,
  GetDatabaseCommand,
  GetPartitionsCommand,
  GetTableCommand,
  UpdateTableCommand,
  type Column,
  type GlueClient,
  type StorageDescriptor,
  type Table,
  type TableInput,
} from '@aws-sdk/client-glue';
import {
  CatalogError,
  assertTableName,
  type Catalog,
  type CatalogView,
  type ColumnDef,
  type DescribedTable,
  type EnsureResult,
  type PartitionValues,
  type TableDefinition,
} from '../../core/catalog';
import { partitionPath } from '../../core/lake-layout';

/** Hive/Glue class names of the formats. */
export const PARQUET_FORMAT = {
  serde: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe',
  input: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
  output: 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
} as const;
export const TEXT_FORMAT = {
  serde: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
  input: 'org.apache.hadoop.mapred.TextInputFormat',
  output: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
} as const;

const isName = (err: unknown, name: string, cls?: abstract new (...args: never[]) => unknown): boolean =>
  (cls !== undefined && err instanceof cls) || (err as { name?: string })?.name === name;

const comment = (c: ColumnDef): string | undefined => (c.description ? c.description.slice(0, 255) : undefined);
const glueColumns = (cols: readonly ColumnDef[]): Column[] => cols.map((c) => ({ Name: c.name, Type: c.glueType, Comment: comment(c) }));

/** The Glue StorageDescriptor of a table definition. */
export function storageDescriptor(def: TableDefinition): StorageDescriptor {
  const parquet = def.format === 'parquet';
  const f = parquet ? PARQUET_FORMAT : TEXT_FORMAT;
  return {
    Columns: glueColumns(def.columns),
    Location: `s3://${def.location.bucket}/${def.location.prefix}`,
    InputFormat: f.input,
    OutputFormat: f.output,
    Compressed: false,
    NumberOfBuckets: -1,
    StoredAsSubDirectories: false,
    SerdeInfo: parquet
      ? { SerializationLibrary: f.serde, Parameters: { 'serialization.format': '1' } }
      : { SerializationLibrary: f.serde, Parameters: { 'serialization.format': '\u0001', 'field.delim': '\u0001' } },
  };
}

/** The Glue TableInput of a table definition (what CreateTable/UpdateTable send). */
export function tableInput(def: TableDefinition): TableInput {
  return {
    Name: def.name,
    Description: def.description?.slice(0, 2048),
    TableType: 'EXTERNAL_TABLE',
    Parameters: {
      EXTERNAL: 'TRUE',
      classification: def.format === 'parquet' ? 'parquet' : 'text',
      'tributary.managed': 'true',
    },
    PartitionKeys: glueColumns(def.partitionKeys),
    StorageDescriptor: storageDescriptor(def),
  };
}

/** Presto/Trino type of a Glue (Hive) type: `string` → `varchar`, `array<string>` → `array(varchar)`. */
export function prestoType(glueType: string): string {
  const m = /^array<(.+)>$/.exec(glueType);
  if (m) return `array(${prestoType(m[1]!)})`;
  return glueType === 'string' ? 'varchar' : glueType;
}

/** The Glue TableInput of an Athena view (the Presto view encoding Athena uses itself). */
export function viewInput(def: CatalogView, database: string): TableInput {
  const presto = {
    originalSql: def.sql.athena,
    catalog: 'awsdatacatalog',
    schema: database,
    columns: def.columns.map((c) => ({ name: c.name, type: prestoType(c.glueType) })),
    owner: 'tributary',
    runAsInvoker: false,
    properties: {},
  };
  return {
    Name: def.name,
    Description: def.description?.slice(0, 2048),
    TableType: 'VIRTUAL_VIEW',
    Parameters: { presto_view: 'true', comment: 'Presto View', 'tributary.managed': 'true' },
    PartitionKeys: [],
    ViewOriginalText: `/* Presto View: ${Buffer.from(JSON.stringify(presto), 'utf8').toString('base64')} */`,
    ViewExpandedText: '/* Presto View */',
    StorageDescriptor: { Columns: glueColumns(def.columns), SerdeInfo: {} },
  };
}

/** Decodes the SQL of an Athena view's `ViewOriginalText`. */
export function decodePrestoView(text: string | undefined): { originalSql: string; columns: { name: string; type: string }[] } | undefined {
  const m = /^\/\* Presto View: (.+) \*\/$/.exec(text ?? '');
  if (!m) return undefined;
  return JSON.parse(Buffer.from(m[1]!, 'base64').toString('utf8'));
}

const sameCols = (a: Column[] | undefined, b: Column[] | undefined): boolean =>
  (a ?? []).length === (b ?? []).length && (a ?? []).every((c, i) => c.Name === b![i]!.Name && c.Type === b![i]!.Type);

/** The Glue catalogue. */
export class GlueCatalog implements Catalog {
  private readonly descriptors = new Map<string, StorageDescriptor>();

  /**
   * @param client - a Glue client (region/credentials from the Lambda environment).
   * @param database - the Glue database (Terraform creates it; {@link ensureDatabase} creates it if missing).
   * @param opts.catalogId - the account id of the Data Catalog, when not the caller's.
   */
  constructor(
    private readonly client: GlueClient,
    readonly database: string,
    private readonly opts: { catalogId?: string } = {},
  ) {}

  private get ids(): { CatalogId?: string; DatabaseName: string } {
    return { ...(this.opts.catalogId ? { CatalogId: this.opts.catalogId } : {}), DatabaseName: this.database };
  }

  /**
   * GetDatabase first (the ETL role may read but not create databases: Terraform creates it), CreateDatabase only
   * when it is missing; AlreadyExists from a concurrent creator is fine.
   */
  async ensureDatabase(): Promise<void> {
    try {
      await this.client.send(new GetDatabaseCommand({ ...(this.opts.catalogId ? { CatalogId: this.opts.catalogId } : {}), Name: this.database }));
      return;
    } catch (err) {
      if (!isName(err, 'EntityNotFoundException', EntityNotFoundException)) throw new CatalogError(`GetDatabase ${this.database} failed`, { cause: err });
    }
    try {
      await this.client.send(
        new CreateDatabaseCommand({
          ...(this.opts.catalogId ? { CatalogId: this.opts.catalogId } : {}),
          DatabaseInput: { Name: this.database, Description: 'Tributary data marts (SQL on FHIR views over the lake)' },
        }),
      );
    } catch (err) {
      if (!isName(err, 'AlreadyExistsException', AlreadyExistsException)) throw new CatalogError(`CreateDatabase ${this.database} failed`, { cause: err });
    }
  }

  private async getTable(name: string): Promise<Table | undefined> {
    try {
      return (await this.client.send(new GetTableCommand({ ...this.ids, Name: name }))).Table;
    } catch (err) {
      if (isName(err, 'EntityNotFoundException', EntityNotFoundException)) return undefined;
      throw new CatalogError(`GetTable ${name} failed`, { cause: err });
    }
  }

  private async put(existing: Table | undefined, input: TableInput): Promise<void> {
    try {
      if (existing) await this.client.send(new UpdateTableCommand({ ...this.ids, TableInput: input }));
      else await this.client.send(new CreateTableCommand({ ...this.ids, TableInput: input }));
    } catch (err) {
      if (!existing && isName(err, 'AlreadyExistsException', AlreadyExistsException)) {
        // a concurrent ETL created it: make sure it is ours now
        await this.client.send(new UpdateTableCommand({ ...this.ids, TableInput: input }));
        return;
      }
      throw new CatalogError(`${existing ? 'UpdateTable' : 'CreateTable'} ${input.Name} failed`, { cause: err });
    }
  }

  async ensureTable(def: TableDefinition): Promise<EnsureResult> {
    assertTableName(def.name);
    const input = tableInput(def);
    const existing = await this.getTable(def.name);
    this.descriptors.set(def.name, input.StorageDescriptor!);
    if (existing) {
      const sd = existing.StorageDescriptor;
      const same =
        existing.TableType === 'EXTERNAL_TABLE' &&
        sameCols(sd?.Columns, input.StorageDescriptor!.Columns) &&
        sameCols(existing.PartitionKeys, input.PartitionKeys) &&
        sd?.Location === input.StorageDescriptor!.Location &&
        sd?.SerdeInfo?.SerializationLibrary === input.StorageDescriptor!.SerdeInfo!.SerializationLibrary;
      if (same) return 'unchanged';
    }
    await this.put(existing, input);
    return existing ? 'updated' : 'created';
  }

  async ensureView(def: CatalogView): Promise<EnsureResult> {
    assertTableName(def.name);
    const input = viewInput(def, this.database);
    const existing = await this.getTable(def.name);
    if (existing) {
      const prev = decodePrestoView(existing.ViewOriginalText);
      const next = decodePrestoView(input.ViewOriginalText)!;
      if (existing.TableType === 'VIRTUAL_VIEW' && prev && prev.originalSql === next.originalSql && JSON.stringify(prev.columns) === JSON.stringify(next.columns)) {
        return 'unchanged';
      }
    }
    await this.put(existing, input);
    return existing ? 'updated' : 'created';
  }

  private async descriptorOf(table: string): Promise<StorageDescriptor> {
    let sd = this.descriptors.get(table);
    if (!sd) {
      const t = await this.getTable(table);
      if (!t?.StorageDescriptor || t.TableType === 'VIRTUAL_VIEW') throw new CatalogError(`no table ${table} in ${this.database}`);
      sd = t.StorageDescriptor;
      this.descriptors.set(table, sd);
    }
    return sd;
  }

  async addPartitions(table: string, partitions: PartitionValues[]): Promise<number> {
    if (partitions.length === 0) return 0;
    const sd = await this.descriptorOf(table);
    const base = sd.Location!.endsWith('/') ? sd.Location! : `${sd.Location}/`;
    let added = 0;
    for (let i = 0; i < partitions.length; i += 100) {
      const chunk = partitions.slice(i, i + 100);
      let r;
      try {
        r = await this.client.send(
          new BatchCreatePartitionCommand({
            ...this.ids,
            TableName: table,
            PartitionInputList: chunk.map((p) => ({
              Values: [p.source, p.date],
              StorageDescriptor: { ...sd, Location: `${base}${partitionPath(p)}` },
            })),
          }),
        );
      } catch (err) {
        throw new CatalogError(`BatchCreatePartition on ${table} failed`, { cause: err });
      }
      const errors = r.Errors ?? [];
      const real = errors.filter((e) => e.ErrorDetail?.ErrorCode !== 'AlreadyExistsException');
      if (real.length > 0) {
        throw new CatalogError(`BatchCreatePartition on ${table}: ${real.map((e) => `${e.ErrorDetail?.ErrorCode}: ${e.ErrorDetail?.ErrorMessage}`).join('; ')}`);
      }
      added += chunk.length - errors.length;
    }
    return added;
  }

  async listPartitions(table: string): Promise<PartitionValues[]> {
    const out: PartitionValues[] = [];
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new GetPartitionsCommand({ ...this.ids, TableName: table, NextToken: token }));
      } catch (err) {
        if (isName(err, 'EntityNotFoundException', EntityNotFoundException)) return [];
        throw new CatalogError(`GetPartitions on ${table} failed`, { cause: err });
      }
      for (const p of r.Partitions ?? []) out.push({ source: p.Values?.[0] ?? '', date: p.Values?.[1] ?? '' });
      token = r.NextToken;
    } while (token);
    return out.sort((a, b) => a.source.localeCompare(b.source) || a.date.localeCompare(b.date));
  }

  async describe(name: string): Promise<DescribedTable | undefined> {
    const t = await this.getTable(name);
    if (!t) return undefined;
    const cols = (t.StorageDescriptor?.Columns ?? []).map((c) => ({ name: c.Name!, glueType: c.Type! }));
    const keys = (t.PartitionKeys ?? []).map((c) => ({ name: c.Name!, glueType: c.Type! }));
    return { name, kind: t.TableType === 'VIRTUAL_VIEW' ? 'view' : 'table', columns: cols, partitionKeys: keys };
  }
}
