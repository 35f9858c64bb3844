/**
 * The rows of the marts: mart views prepared for one marts bucket, evaluated over the resources of a lake object,
 * with the lineage columns added and every value coerced to its column's type; the `resource_versions` rows.
 */
import type { Row, ViewColumnInfo } from '../../fhir/views';
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
}

/** What the catalogue needs of a mart view: name, resource type, columns, description. */
export function martViewInfo(view: MartView): MartViewInfo {
  return { name: view.name, resourceType: view.compiled.resource, columns: view.compiled.columns, description: view.compiled.definition.description };
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
    fix: view.compiled.columns.map((c) => ({ name: c.name, type: c.duckdbType, coerce: coercer(c.duckdbType)! })),
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
