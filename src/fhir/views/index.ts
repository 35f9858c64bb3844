/**
 * SQL on FHIR v2 ViewDefinition runner and mart loading.
 *
 * - {@link compileView} validates a view and compiles every FHIRPath once (direct accessors for plain paths,
 *   the HL7 `fhirpath` package with its R4 model for the rest); {@link CompiledView.rows} / `.run` produce rows.
 *   Conformance: all 123 `shareable` cases of the v2 suite, and 7 of 11 `experimental`.
 * - `getResourceKey()` is the resource id; `getReferenceKey([Type])` the referenced id (`Patient/x`, absolute URLs,
 *   `_history`, and `urn:uuid:` references, whose type cannot be checked and so always match).
 * - Rows are plain objects in column order: `null` for an empty path, an array for `collection: true` columns,
 *   values as in the JSON (dates stay strings, decimals are numbers).
 * - {@link viewColumns} gives each column's FHIR type and its DuckDB / Glue type (see `columns.ts` for the choices).
 * - {@link loadViews} compiles the mart files (`views/*.json`, read by the caller; `name` = table name); lineage
 *   columns are the ETL's.
 *
 * @see https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html
 */
import { checkView } from './compile';
import { columnInfo } from './columns';
import type { ViewColumnInfo, ViewDefinition } from './types';

export { compileView, runView, checkView } from './compile';
export type { CompiledView, CompileOptions, EvaluationMode, ExpressionPlan } from './compile';
export { loadViews } from './load';
export type { LoadedView, ViewFile } from './load';
export { sqlTypes } from './columns';
export { ViewDefinitionError, ViewEvaluationError } from './errors';
export { parseReference, referenceKeys, resourceKeys } from './fhirpath';
export type * from './types';

/**
 * A view's output columns in row order, each with its declared FHIR type (`string` when undeclared), whether it is
 * a collection, and its DuckDB and Glue types.
 * @throws ViewDefinitionError when the view is invalid.
 */
export function viewColumns(view: unknown): ViewColumnInfo[] {
  checkView(view);
  return columnInfo(view as ViewDefinition);
}
