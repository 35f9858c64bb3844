/**
 * The rows of the marts: mart views prepared for one marts bucket, evaluated over the resources of a lake object,
 * with the lineage columns added and every value coerced to its column's type; the `resource_versions` rows.
 */
import type { Row, ViewColumnInfo } from '../../fhir/views';
import { hasRawNumbers, withNumberTexts } from '../../fhir/json';
import { historyTableDefinition, type ColumnDef, type MartViewInfo, type TableDefinition } from '../catalog';
import type { IngestEvent } from '../ports';
import { EtlError } from './lake-object';

/** A compiled mart view (what `loadViews` returns: `{ name, compiled }`). */
export interface MartView {
  name: string;
  compiled: {
    readonly resource: string;
    readonly columns: readonly ViewColumnInfo[];
    readonly definition: { description?: string };
    rows(resource: unknown): Row[];
  };
}

type Coerce = (v: unknown) => unknown;

/** A mart view with its `{view}_history` table and the coercion of each of its columns. */
export interface PreparedView {
  view: MartView;
  info: MartViewInfo;
  table: TableDefinition;
  columns: ColumnDef[];
  fix: { name: string; type: string; coerce: Coerce }[];
  /** The view's decimal columns that have a `{column}_text` column. */
  decimals: { name: string; text: string }[];
}

/** Suffix of the column that holds a decimal column's value as sent (its exact text). */
export const DECIMAL_TEXT_SUFFIX = '_text';

/**
 * The columns of a mart view as the marts hold them: the view's own, each `decimal` column followed by a VARCHAR
 * `{column}_text` column holding the decimal exactly as sent (`1.50`, `0.10000000000000000001`, `1e-400`): FHIR
 * decimals carry their precision (https://hl7.org/fhir/R4/datatypes.html#decimal), which a DOUBLE cannot hold.
 * A view that already has a column of that name keeps its own.
 */
export function martColumns(columns: readonly ViewColumnInfo[]): ViewColumnInfo[] {
  const names = new Set(columns.map((c) => c.name));
  const out: ViewColumnInfo[] = [];
  for (const c of columns) {
    out.push(c);
    const text = `${c.name}${DECIMAL_TEXT_SUFFIX}`;
    if (c.type !== 'decimal' || names.has(text)) continue;
    out.push({
      name: text,
      type: 'string',
      collection: c.collection,
      duckdbType: c.collection ? 'VARCHAR[]' : 'VARCHAR',
      glueType: c.collection ? 'array<string>' : 'string',
      description: `${c.name} exactly as sent (the decimal's text, precision kept)`,
    } as ViewColumnInfo);
  }
  return out;
}

/** What the catalogue needs of a mart view: name, resource type, columns, description. */
export function martViewInfo(view: MartView): MartViewInfo {
  return { name: view.name, resourceType: view.compiled.resource, columns: martColumns(view.compiled.columns), description: view.compiled.definition.description };
}

/** Prepares a mart view for the marts bucket `martsBucket` (its table definition, its column coercions). */
export function prepareView(view: MartView, martsBucket: string): PreparedView {
  const info = martViewInfo(view);
  const table = historyTableDefinition(info, martsBucket);
  return {
    view,
    info,
    table,
    columns: table.columns,
    fix: info.columns.map((c) => ({ name: c.name, type: c.duckdbType, coerce: coercer(c.duckdbType)! })),
    decimals: view.compiled.columns
      .filter((c) => c.type === 'decimal' && !view.compiled.columns.some((x) => x.name === `${c.name}${DECIMAL_TEXT_SUFFIX}`))
      .map((c) => ({ name: c.name, text: `${c.name}${DECIMAL_TEXT_SUFFIX}` })),
  };
}

const asText = (v: unknown): unknown =>
  v === null || v === undefined ? null : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
const asNumber = (integer: boolean) => (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n)) return null;
  return integer ? (Number.isInteger(n) ? n : null) : n;
};
/** A decimal's text: as recorded by the lossless parser (a string), else the JS number's own text. */
const decimalText = (v: unknown): unknown => {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map(decimalText).filter((x) => x !== null);
  if (typeof v === 'string') return v;
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : null;
};

/**
 * Sets each row's `{column}_text` from the decimal texts: `rows` are the view's rows of a resource, `texts` (when the
 * resource holds decimals a JS number would alter) its rows over the copy whose decimals are their texts. When the
 * two row sets differ in length (a view whose `where` compares such a decimal), the texts are unknown: null.
 */
function setDecimalTexts(pv: PreparedView, rows: Row[], texts: Row[] | undefined): void {
  const lost = texts !== undefined && texts.length !== rows.length;
  for (let j = 0; j < rows.length; j++) {
    const row = rows[j]!;
    for (const d of pv.decimals) row[d.text] = lost ? null : decimalText((texts ? texts[j]! : row)[d.name]);
  }
}

const asBoolean = (v: unknown): unknown => (typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null);

/** A function that makes a value fit a column's SQL type (text for complex values, numbers from numeric text). */
function coercer(duckdbType: string): Coerce | undefined {
  const list = duckdbType.endsWith('[]');
  const scalar = list ? duckdbType.slice(0, -2) : duckdbType;
  const one: Coerce = scalar === 'VARCHAR' ? asText : scalar === 'BIGINT' ? asNumber(true) : scalar === 'DOUBLE' ? asNumber(false) : asBoolean;
  if (!list) return one;
  return (v) => (v === null || v === undefined ? null : (Array.isArray(v) ? v : [v]).map(one).filter((x) => x !== null));
}

/** Checks a value already fits (the common case) before coercing. */
function fits(duckdbType: string, v: unknown): boolean {
  if (v === null) return true;
  switch (duckdbType) {
    case 'VARCHAR':
      return typeof v === 'string';
    case 'DOUBLE':
      return typeof v === 'number';
    case 'BIGINT':
      return typeof v === 'number' && Number.isInteger(v);
    case 'BOOLEAN':
      return typeof v === 'boolean';
    default:
      return Array.isArray(v) && v.every((x) => fits(duckdbType.slice(0, -2), x));
  }
}

/** How {@link objectRows} evaluates. */
export interface ObjectRowsContext {
  event: IngestEvent;
  /** The resource type of the lake object (from its key). */
  resourceType: string;
  /** The prepared views of that type. */
  views: readonly PreparedView[];
  /** `skip` a resource's rows of a view that fails on it (logged), or `fail` (throw the view's error). */
  onViewError: 'skip' | 'fail';
  log?: { warn(message: string, extra?: Record<string, unknown>): void };
}

/** The rows of one lake object. */
export interface ObjectRows {
  /** One `resource_versions` row per resource. */
  versions: Row[];
  /** Rows per view, in the order of the context's views. */
  viewRows: Row[][];
  /** Resources whose rows of some view were skipped. */
  viewErrors: number;
}

/**
 * Evaluates every view over the resources of a lake object and adds the lineage columns to each row.
 * @throws EtlError when a resource is not of the object's type; a view's error when `onViewError` is `fail`.
 */
export function objectRows(resources: readonly Record<string, unknown>[], ctx: ObjectRowsContext): ObjectRows {
  const { event, resourceType, views } = ctx;
  const base = {
    _source: event.source,
    _ingested_at: event.ingestedAt ?? null,
    _lake_key: event.objectKey,
    _policy_version: event.policyVersion ?? null,
  };
  const versions: Row[] = [];
  const viewRows: Row[][] = views.map(() => []);
  let viewErrors = 0;
  for (const r of resources) {
    if (r.resourceType !== resourceType) {
      throw new EtlError(`${event.objectKey} holds a ${String(r.resourceType)} among ${resourceType} resources`);
    }
    const meta = (r.meta ?? {}) as { versionId?: unknown; lastUpdated?: unknown };
    const lineage = {
      ...base,
      _resource_id: typeof r.id === 'string' ? r.id : null,
      _version_id: meta.versionId === undefined || meta.versionId === null ? null : String(meta.versionId),
      _last_updated: typeof meta.lastUpdated === 'string' ? meta.lastUpdated : null,
    };
    versions.push({ resource_type: resourceType, ...lineage });
    for (let i = 0; i < views.length; i++) {
      const pv = views[i]!;
      let rows: Row[];
      try {
        rows = pv.view.compiled.rows(r);
        if (pv.decimals.length > 0) setDecimalTexts(pv, rows, hasRawNumbers(r) ? pv.view.compiled.rows(withNumberTexts(r)) : undefined);
      } catch (err) {
        if (ctx.onViewError === 'fail') throw err;
        viewErrors++;
        ctx.log?.warn('view failed on a resource; its rows are skipped', {
          view: pv.info.name,
          resourceId: lineage._resource_id,
          objectKey: event.objectKey,
          error: err instanceof Error ? err.name : 'Error',
          location: (err as { location?: string }).location,
        });
        continue;
      }
      const rowsOut = viewRows[i]!;
      for (const row of rows) {
        for (const f of pv.fix) {
          const v = row[f.name];
          if (v === undefined) row[f.name] = null;
          else if (v !== null && !fits(f.type, v)) row[f.name] = f.coerce(v);
        }
        rowsOut.push(Object.assign(row, lineage));
      }
    }
  }
  return { versions, viewRows, viewErrors };
}
