/**
 * The Catalog port and the table definitions of the data marts (issue 4).
 *
 * A catalogue records, for the analytical engines, which tables exist, where their files are, their columns
 * and types and their partitions: the AWS Glue Data Catalog for Athena in the cloud
 * (`src/adapters/aws/glue-catalog.ts`), a DuckDB database file locally (`src/adapters/local/duckdb-catalog.ts`).
 * Both receive the SAME {@link TableDefinition}s and {@link CatalogView}s built here, so the local marts and
 * the cloud marts have the same tables, columns and types.
 *
 * Tables (all partitioned by `source` and `date`, both strings: the source system and the ingestion day, as in
 * the lake layout `raw/{Type}/source={source}/date={yyyy-mm-dd}/`; every key and prefix is built by
 * `./lake-layout`):
 * - `{view}_history`: every row the ViewDefinition `{view}` produced for every committed resource version,
 *   Parquet under `marts/{view}/`, with the lineage columns ({@link LINEAGE_COLUMNS}).
 * - `resource_versions`: one row per committed resource version (type, id, version, lastUpdated + lineage),
 *   Parquet under `marts/resource_versions/`. It decides which version is current, also for views that
 *   produce no row for a version (a `where` that no longer matches, a `forEach` over an emptied list).
 * - `raw_{type}` (e.g. `raw_observation`): the lake's NDJSON objects as they are, one row per resource with the
 *   resource as JSON text in `resource`. Slow but complete: every type, every element.
 *
 * Views:
 * - `{view}`: the current version only: the rows of `{view}_history` whose version is the latest of that
 *   resource in `resource_versions` (per `_source`, `_resource_id`; versions compared as numbers), so an update
 *   never double-counts. SQL for DuckDB and for Athena (Trino) by {@link currentViewSql}.
 *
 * Pure: no I/O, no AWS SDK, no environment.
 */
import type { DuckDbType, GlueType, ViewColumnInfo } from '../fhir/views';
import { ServerFault } from '../fhir/errors';
import { martTablePrefix, rawTypePrefix, type PartitionValues } from './lake-layout';

export type { PartitionValues };

/** One column: its name, DuckDB type and Glue (Hive/Athena) type. */
export interface ColumnDef {
  name: string;
  duckdbType: DuckDbType;
  glueType: GlueType;
  description?: string;
}

/** Where a table's files are: a bucket and a key prefix ending in `/` (partitions are `source=…/date=…/` below it). */
export interface TableLocation {
  bucket: string;
  prefix: string;
}

/**
 * File format of a table:
 * - `parquet`: Parquet files (ParquetHiveSerDe in Glue, `read_parquet` in DuckDB);
 * - `ndjson`: newline-delimited JSON objects, one per line, exposed as ONE string column holding the line
 *   (LazySimpleSerDe with a field delimiter that JSON text cannot contain raw, `read_ndjson_objects` in DuckDB).
 */
export type TableFormat = 'parquet' | 'ndjson';

/** A physical table: files under a location, columns, partition keys. */
export interface TableDefinition {
  /** Table name (`^[a-z][a-z0-9_]*$`, lower case: Glue folds names to lower case). */
  name: string;
  description?: string;
  location: TableLocation;
  format: TableFormat;
  /** Data columns in order (partition keys excluded). */
  columns: ColumnDef[];
  /** Partition keys in order: always {@link PARTITION_KEYS}. */
  partitionKeys: ColumnDef[];
}

/** A logical view over tables of the same catalogue (e.g. the current-version view of a mart). */
export interface CatalogView {
  name: string;
  description?: string;
  /** Output columns in order (partition keys included, as the view exposes them). */
  columns: ColumnDef[];
  /** The view's query in each dialect (table names unqualified; the adapter qualifies them as needed). */
  sql: { duckdb: string; athena: string };
}

/** What an `ensure…` call did. */
export type EnsureResult = 'created' | 'updated' | 'unchanged';

/** A table or view as the catalogue holds it: names and Glue types, as the engine would expose them. */
export interface DescribedTable {
  name: string;
  kind: 'table' | 'view';
  /** Data columns (for a view: every output column). */
  columns: { name: string; glueType: string }[];
  /** Partition keys (none for a view). */
  partitionKeys: { name: string; glueType: string }[];
}

/**
 * The catalogue of the marts. Implementations: `GlueCatalog` (AWS Glue Data Catalog, queried with Athena)
 * and `DuckDbCatalog` (a local DuckDB database file). Every method is idempotent; callers may repeat them.
 */
export interface Catalog {
  /** Database (Glue database / DuckDB catalogue) name, for logs. */
  readonly database: string;
  /**
   * Creates the database if it does not exist.
   * @see https://docs.aws.amazon.com/glue/latest/webapi/API_CreateDatabase.html
   */
  ensureDatabase(): Promise<void>;
  /**
   * Creates the table, or updates it when its columns, partition keys, location or format differ.
   * @see https://docs.aws.amazon.com/glue/latest/webapi/API_CreateTable.html
   * @see https://docs.aws.amazon.com/glue/latest/webapi/API_UpdateTable.html
   */
  ensureTable(def: TableDefinition): Promise<EnsureResult>;
  /**
   * Creates or replaces a view over the catalogue's tables (an Athena view in Glue, a DuckDB view locally).
   * The tables it reads must exist.
   * @see https://docs.aws.amazon.com/athena/latest/ug/views.html
   */
  ensureView(def: CatalogView): Promise<EnsureResult>;
  /**
   * Registers partitions of a table; existing ones are left alone.
   * @returns how many partitions were new.
   * @see https://docs.aws.amazon.com/glue/latest/webapi/API_BatchCreatePartition.html
   */
  addPartitions(table: string, partitions: PartitionValues[]): Promise<number>;
  /** The partitions of a table, sorted by source then date. */
  listPartitions(table: string): Promise<PartitionValues[]>;
  /** A table or view's columns as the catalogue exposes them, or `undefined` when there is none. */
  describe(name: string): Promise<DescribedTable | undefined>;
}

/** Thrown by catalogue adapters when the catalogue refuses a request (other than "already exists"). A server fault: logs only. */
export class CatalogError extends ServerFault {
  override readonly name = 'CatalogError';
}

const str = (name: string, description: string): ColumnDef => ({ name, duckdbType: 'VARCHAR', glueType: 'string', description });

/** Partition keys of every table: source system, ingestion day. */
export const PARTITION_KEYS: readonly ColumnDef[] = [
  str('source', 'Source system that sent the data (partition)'),
  str('date', 'Ingestion day, yyyy-mm-dd (partition)'),
];

/**
 * Lineage columns added to every mart row: where the row came from and which resource version it describes.
 * Timestamps are ISO 8601 strings, like every FHIR date in the marts (see src/fhir/views/columns.ts).
 */
export const LINEAGE_COLUMNS: readonly ColumnDef[] = [
  str('_source', 'Source system (equals the source partition)'),
  str('_ingested_at', 'When the lake object was committed (ISO 8601 instant)'),
  str('_lake_key', 'Key of the lake object (raw NDJSON) the row was computed from'),
  str('_policy_version', 'Version of the pseudonymisation policy applied at ingest, when there was one'),
  str('_resource_id', 'Lake id of the resource the row describes'),
  str('_version_id', 'meta.versionId of that resource (1, 2, …)'),
  str('_last_updated', 'meta.lastUpdated of that resource version'),
];

/** Name of the table of committed resource versions. */
export const VERSIONS_TABLE = 'resource_versions';

/** Columns of {@link VERSIONS_TABLE}: the resource type, then the lineage columns. */
export const VERSIONS_COLUMNS: readonly ColumnDef[] = [str('resource_type', 'FHIR resource type'), ...LINEAGE_COLUMNS];

/** The Glue type of a DuckDB type (the subset marts use). */
export function glueTypeOf(duckdbType: string): string {
  const scalar: Record<string, string> = { VARCHAR: 'string', BIGINT: 'bigint', DOUBLE: 'double', BOOLEAN: 'boolean', JSON: 'string' };
  const m = /^(\w+)\[\]$/.exec(duckdbType);
  if (m) return `array<${scalar[m[1]!] ?? m[1]!.toLowerCase()}>`;
  return scalar[duckdbType] ?? duckdbType.toLowerCase();
}

/** Columns of a mart view as catalogue columns. */
export function viewColumnDefs(columns: readonly ViewColumnInfo[]): ColumnDef[] {
  return columns.map((c) => ({
    name: c.name,
    duckdbType: c.duckdbType,
    glueType: c.glueType,
    ...(c.description !== undefined ? { description: c.description } : {}),
  }));
}

/** A mart view as the ETL sees it: name, resource type and output columns. */
export interface MartViewInfo {
  name: string;
  resourceType: string;
  columns: readonly ViewColumnInfo[];
  description?: string;
}

/** Name of the physical (all versions) table of a view. */
export const historyTableName = (view: string): string => `${view}_history`;

/** Name of the raw table of a resource type: `raw_observation`, `raw_medicationrequest`. */
export const rawTableName = (resourceType: string): string => `raw_${resourceType.toLowerCase()}`;

/** The `{view}_history` table of a mart view: its columns, then the lineage columns; Parquet under `marts/{view}/`. */
export function historyTableDefinition(view: MartViewInfo, martsBucket: string): TableDefinition {
  return {
    name: historyTableName(view.name),
    description: `${view.description ?? view.name} (every version; current versions are in the view ${view.name})`,
    location: { bucket: martsBucket, prefix: martTablePrefix(view.name) },
    format: 'parquet',
    columns: [...viewColumnDefs(view.columns), ...LINEAGE_COLUMNS],
    partitionKeys: [...PARTITION_KEYS],
  };
}

/** The `resource_versions` table: one row per committed resource version. */
export function versionsTableDefinition(martsBucket: string): TableDefinition {
  return {
    name: VERSIONS_TABLE,
    description: 'One row per committed resource version: decides which version of a resource is current',
    location: { bucket: martsBucket, prefix: martTablePrefix(VERSIONS_TABLE) },
    format: 'parquet',
    columns: [...VERSIONS_COLUMNS],
    partitionKeys: [...PARTITION_KEYS],
  };
}

/** The `raw_{type}` table over the lake's NDJSON objects of one resource type. */
export function rawTableDefinition(resourceType: string, lakeBucket: string): TableDefinition {
  return {
    name: rawTableName(resourceType),
    description: `${resourceType} resources as stored in the lake (JSON text per row)`,
    location: { bucket: lakeBucket, prefix: rawTypePrefix(resourceType) },
    format: 'ndjson',
    columns: [{ name: 'resource', duckdbType: 'VARCHAR', glueType: 'string', description: `The ${resourceType} resource as JSON text` }],
    partitionKeys: [...PARTITION_KEYS],
  };
}

/** Quotes an identifier for DuckDB and Athena (both use double quotes). */
export const q = (identifier: string): string => `"${identifier.replace(/"/g, '""')}"`;

/** Name of the mart that links source-local patient keys to people's pseudonyms (`views/patient_link.json`). */
export const PATIENT_LINK_VIEW = 'patient_link';

/** How a current-version view is built. */
export interface CurrentViewOptions {
  /**
   * Resolve the view's patient reference columns ({@link ViewColumnInfo.patientReference}) through the
   * {@link PATIENT_LINK_VIEW} view (true when the marts have it).
   */
  patientLink?: boolean;
}

/**
 * The latest committed copy of each resource of a type, one row per (`_source`, `_resource_id`) from
 * `resource_versions`: highest `_version_id` as a number, then latest `_last_updated`, then latest
 * `_ingested_at`, then the greatest `_lake_key`. A re-sent request commits the same lake ids again (both copies
 * may be version 1); the order picks exactly one of them, deterministically.
 */
function latestCopySql(resourceType: string, dialect: 'duckdb' | 'athena'): string {
  const cast = dialect === 'duckdb' ? 'TRY_CAST' : 'try_cast';
  const type = resourceType.replace(/'/g, "''");
  return [
    `  SELECT _source, _resource_id, _version_id, _lake_key FROM (`,
    `    SELECT _source, _resource_id, _version_id, _lake_key, row_number() OVER (`,
    `      PARTITION BY _source, _resource_id`,
    `      ORDER BY ${cast}(_version_id AS BIGINT) DESC NULLS LAST, _last_updated DESC NULLS LAST, _ingested_at DESC NULLS LAST, _lake_key DESC) AS _rn`,
    `    FROM ${q(VERSIONS_TABLE)} WHERE resource_type = '${type}'`,
    `  ) v WHERE _rn = 1`,
  ].join('\n');
}

/**
 * SQL of the current-version view of a mart: the history rows of the latest committed copy of each resource
 * (see {@link latestCopySql}; joined on the lake object too, so a re-sent copy never adds rows). With
 * `patientLink`, each patient reference column becomes the person's pseudonym when the `patient_link` view
 * knows the key (a reference sent before its Patient), else stays as stored. The `patient_link` view itself keeps
 * one row per (`_source`, `local_id`): the latest Patient carrying that key. Standard SQL both engines accept
 * (no QUALIFY, which Athena lacks).
 */
export function currentViewSql(view: MartViewInfo, dialect: 'duckdb' | 'athena', opts: CurrentViewOptions = {}): string {
  const links = opts.patientLink && view.name !== PATIENT_LINK_VIEW ? view.columns.filter((c) => c.patientReference) : [];
  const linked = new Map(links.map((c, i) => [c.name, `pl${i}`]));
  const all = [...viewColumnDefs(view.columns), ...LINEAGE_COLUMNS, ...PARTITION_KEYS];
  const cols = all
    .map((c) => (linked.has(c.name) ? `COALESCE(${linked.get(c.name)}.person_id, h.${q(c.name)}) AS ${q(c.name)}` : `h.${q(c.name)}`))
    .join(', ');
  const current = [
    `SELECT ${cols}`,
    `FROM ${q(historyTableName(view.name))} h`,
    `JOIN (`,
    latestCopySql(view.resourceType, dialect),
    `) l ON h._source = l._source AND h._resource_id = l._resource_id AND h._version_id = l._version_id AND h._lake_key = l._lake_key`,
    ...links.map((c) => `LEFT JOIN ${q(PATIENT_LINK_VIEW)} ${linked.get(c.name)} ON ${linked.get(c.name)}._source = h._source AND ${linked.get(c.name)}.local_id = h.${q(c.name)}`),
  ].join('\n');
  if (view.name !== PATIENT_LINK_VIEW) return current;
  const names = all.map((c) => q(c.name)).join(', ');
  return [
    `SELECT ${names} FROM (`,
    `  SELECT c.*, row_number() OVER (PARTITION BY c._source, c.local_id ORDER BY c._ingested_at DESC NULLS LAST, c._lake_key DESC, c.person_id DESC) AS _ln`,
    `  FROM (${current}) c WHERE c.local_id IS NOT NULL`,
    `) k WHERE _ln = 1`,
  ].join('\n');
}

/** The current-version view of a mart (`{view}`), with SQL for both engines. */
export function currentViewDefinition(view: MartViewInfo, opts: CurrentViewOptions = {}): CatalogView {
  return {
    name: view.name,
    description: `${view.description ?? view.name} (current version of each resource)`,
    columns: [...viewColumnDefs(view.columns), ...LINEAGE_COLUMNS, ...PARTITION_KEYS],
    sql: { duckdb: currentViewSql(view, 'duckdb', opts), athena: currentViewSql(view, 'athena', opts) },
  };
}

/** Whether these mart views include the patient link ({@link PATIENT_LINK_VIEW} over Patient). */
export function hasPatientLink(views: readonly MartViewInfo[]): boolean {
  return views.some((v) => v.name === PATIENT_LINK_VIEW && v.resourceType === 'Patient');
}

/**
 * Every table and view the marts of these views need, in creation order (tables before the views reading them,
 * the `patient_link` view before the views resolving patient references through it).
 */
export function martCatalogObjects(views: readonly MartViewInfo[], martsBucket: string): { tables: TableDefinition[]; views: CatalogView[] } {
  const patientLink = hasPatientLink(views);
  const ordered = [...views.filter((v) => v.name === PATIENT_LINK_VIEW), ...views.filter((v) => v.name !== PATIENT_LINK_VIEW)];
  return {
    tables: [versionsTableDefinition(martsBucket), ...views.map((v) => historyTableDefinition(v, martsBucket))],
    views: ordered.map((v) => currentViewDefinition(v, { patientLink })),
  };
}

/** Table names must be safe identifiers in both engines (and Glue lower-cases names). */
export function assertTableName(name: string): void {
  if (!/^[a-z][a-z0-9_]{0,127}$/.test(name)) throw new CatalogError(`table name '${name}' is not a lower-case identifier`);
}

/** Two column lists are equal in names and Glue types (what both catalogues compare to decide on an update). */
export function sameColumns(a: readonly { name: string; glueType: string }[], b: readonly { name: string; glueType: string }[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i]!.name && c.glueType === b[i]!.glueType);
}
