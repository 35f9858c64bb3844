/**
 * TypeScript shapes of a SQL on FHIR v2 ViewDefinition
 * (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html) and of the rows a runner
 * produces. Only the parts a runner reads are typed strictly; FHIR resource metadata
 * (`id`, `meta`, `text`, `extension`, ...) is allowed on the ViewDefinition itself.
 */

/** A column tag (e.g. `{ name: 'ansi/type', value: 'VARCHAR' }`), carried through untouched. */
export interface ViewColumnTag {
  name: string;
  value: string;
}

/** `ViewDefinition.select.column`: one output column, the FHIRPath `path` evaluated per row. */
export interface ViewColumn {
  /** Column name: `^[A-Za-z][A-Za-z0-9_]*$`, unique in the view. */
  name: string;
  /** FHIRPath expression evaluated against the current row's focus. */
  path: string;
  description?: string;
  /** When true the column holds every value the path returns (an array); otherwise more than one value is an error. */
  collection?: boolean;
  /** FHIR type of the column values (a FHIR primitive type name such as `string`, `integer`, `dateTime`). */
  type?: string;
  tag?: ViewColumnTag[];
}

/** `ViewDefinition.select`: a selection of columns, nested selections, iteration and unions. */
export interface ViewSelect {
  column?: ViewColumn[];
  select?: ViewSelect[];
  /** Iterate over the collection the expression returns: one row group per item, none when empty. */
  forEach?: string;
  /** As `forEach`, but an empty collection yields one row of nulls. */
  forEachOrNull?: string;
  /** Recursive traversal: every path is applied to each visited node, depth-first, pre-order. */
  repeat?: string[];
  unionAll?: ViewSelect[];
}

/** `ViewDefinition.constant`: a named value usable as `%name` in every expression. */
export interface ViewConstant {
  name: string;
  valueBase64Binary?: string;
  valueBoolean?: boolean;
  valueCanonical?: string;
  valueCode?: string;
  valueDate?: string;
  valueDateTime?: string;
  valueDecimal?: number;
  valueId?: string;
  valueInstant?: string;
  valueInteger?: number;
  valueInteger64?: number | string;
  valueOid?: string;
  valueString?: string;
  valuePositiveInt?: number;
  valueTime?: string;
  valueUnsignedInt?: number;
  valueUri?: string;
  valueUrl?: string;
  valueUuid?: string;
}

/** `ViewDefinition.where`: a FHIRPath filter that must be true (empty or false drops the resource). */
export interface ViewWhere {
  path: string;
  description?: string;
}

/** A SQL on FHIR v2 ViewDefinition. */
export interface ViewDefinition {
  resourceType?: 'ViewDefinition';
  url?: string;
  /** Table name of the view (`^[A-Za-z][A-Za-z0-9_]*$`); Tributary requires it for mart views. */
  name?: string;
  title?: string;
  status?: 'draft' | 'active' | 'retired' | 'unknown';
  experimental?: boolean;
  publisher?: string;
  description?: string;
  /** FHIR resource type the view reads, e.g. `Patient`. */
  resource: string;
  fhirVersion?: string[];
  constant?: ViewConstant[];
  select: ViewSelect[];
  where?: ViewWhere[];
  [key: string]: unknown;
}

/** One output row: column name → value (`null` when the path returned nothing; an array for collection columns). */
export type Row = Record<string, unknown>;

/** SQL types a column maps to in DuckDB. */
export type DuckDbType = 'VARCHAR' | 'BIGINT' | 'DOUBLE' | 'BOOLEAN' | 'VARCHAR[]' | 'BIGINT[]' | 'DOUBLE[]' | 'BOOLEAN[]';

/** Hive/Glue (Athena) column types. */
export type GlueType =
  | 'string'
  | 'bigint'
  | 'double'
  | 'boolean'
  | 'array<string>'
  | 'array<bigint>'
  | 'array<double>'
  | 'array<boolean>';

/** A view's output column with its declared FHIR type and the SQL types it maps to. */
export interface ViewColumnInfo {
  name: string;
  /** Declared FHIR type, `string` when the view declares none. */
  type: string;
  /** True when the column is a collection (an array of `type`). */
  collection: boolean;
  duckdbType: DuckDbType;
  glueType: GlueType;
  description?: string;
  /**
   * True when the column is a single patient reference key (`….getReferenceKey(Patient)`): the current-version
   * view resolves it to the person's pseudonym through the `patient_link` view (docs/pseudonymisation.md).
   */
  patientReference?: boolean;
}
