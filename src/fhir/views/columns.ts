/**
 * Column types of a view: each column's declared FHIR type mapped to DuckDB and Glue (Hive/Athena) types.
 *
 * Choices, documented for the ETL and analysts:
 * - `boolean` → BOOLEAN / boolean; `integer`, `positiveInt`, `unsignedInt`, `integer64` → BIGINT / bigint;
 *   `decimal` → DOUBLE / double.
 * - Every other primitive — including `date`, `dateTime`, `instant` and `time` — is VARCHAR / string.
 *   Lake dates are partial on purpose (pseudonymisation keeps `1967` of a birth date) and FHIR dateTimes carry
 *   their own offsets and precision; a SQL DATE/TIMESTAMP would invent a day or shift a zone. Cast in queries.
 * - A column without a declared type is a string. A complex value (should a path return an object) is for
 *   the writer to serialise as JSON text.
 * - `collection: true` columns are arrays of the element type: VARCHAR[] / array<string> (DuckDB LIST, Parquet
 *   LIST, Athena array), so `list_contains(activity_codes, '…')` / `contains(activity_codes, '…')` work.
 */
import type { DuckDbType, GlueType, ViewColumnInfo, ViewDefinition, ViewSelect } from './types';

type Scalar = 'VARCHAR' | 'BIGINT' | 'DOUBLE' | 'BOOLEAN';

const SCALAR: Readonly<Record<string, Scalar>> = {
  boolean: 'BOOLEAN',
  integer: 'BIGINT',
  positiveInt: 'BIGINT',
  unsignedInt: 'BIGINT',
  integer64: 'BIGINT',
  decimal: 'DOUBLE',
};

const GLUE: Readonly<Record<Scalar, 'string' | 'bigint' | 'double' | 'boolean'>> = {
  VARCHAR: 'string',
  BIGINT: 'bigint',
  DOUBLE: 'double',
  BOOLEAN: 'boolean',
};

/**
 * SQL types of a FHIR column type (see the module notes for the choices); the column `type` is the SQL on FHIR v2
 * ViewDefinition's (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html, `select.column.type`).
 */
export function sqlTypes(fhirType: string | undefined, collection: boolean): { duckdbType: DuckDbType; glueType: GlueType } {
  const scalar = (fhirType && SCALAR[fhirType]) || 'VARCHAR';
  const glue = GLUE[scalar];
  return collection
    ? { duckdbType: `${scalar}[]` as DuckDbType, glueType: `array<${glue}>` as GlueType }
    : { duckdbType: scalar, glueType: glue };
}

/** A column path ending in `getReferenceKey(Patient)` (SQL on FHIR v2 `getReferenceKey([type])`). */
const PATIENT_REFERENCE_KEY = /(^|\.)getReferenceKey\(\s*Patient\s*\)\s*$/;

function collect(sel: ViewSelect, out: ViewColumnInfo[]): void {
  for (const c of sel.column ?? []) {
    const collection = c.collection === true;
    const info: ViewColumnInfo = { name: c.name, type: c.type ?? 'string', collection, ...sqlTypes(c.type, collection) };
    if (c.description !== undefined) info.description = c.description;
    if (!collection && PATIENT_REFERENCE_KEY.test(c.path)) info.patientReference = true;
    out.push(info);
  }
  for (const s of sel.select ?? []) collect(s, out);
  const first = sel.unionAll?.[0];
  if (first) collect(first, out);
}

/**
 * Output columns of an already validated view, in row order (SQL on FHIR v2: `select`, nested `select` and the
 * first `unionAll` branch give the columns; https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html).
 */
export function columnInfo(view: ViewDefinition): ViewColumnInfo[] {
  const out: ViewColumnInfo[] = [];
  for (const s of view.select) collect(s, out);
  return out;
}
