/**
 * The metadata catalogue of the console (findability, after the PLANET data lake): every mart table and raw table,
 * its columns with types and the descriptions the ViewDefinitions give (https://build.fhir.org/ig/FHIR/sql-on-fhir-v2/
 * StructureDefinition-ViewDefinition.html, `select.column.description`), row counts, partitions and freshness.
 * Row counts, partitions and freshness come from the ETL job records (rows written per table by each successful
 * run), so the catalogue needs no query engine; the ETL job record test checks they add up to the marts' counts.
 */
import { rawTableName, type TableDefinition } from '../catalog';
import type { JobRecord } from './jobs';

/** One catalogue entry. */
export interface CatalogueTable {
  name: string;
  kind: 'mart' | 'raw';
  /** The FHIR resource type(s) behind the table. */
  resourceTypes: string[];
  description?: string;
  columns: { name: string; type: string; description?: string }[];
  partitionKeys: string[];
  rows: number;
  partitions: { source: string; date: string }[];
  /** Last successful ETL run that wrote the table. */
  freshness?: string;
}

/** What the catalogue is built from. */
export interface CatalogueInput {
  /** Mart tables (history tables and resource_versions) with the resource type each is fed by (`*`: every type). */
  marts: { table: TableDefinition; resourceType: string }[];
  /** Raw tables by resource type. */
  raw: { table: TableDefinition; resourceType: string }[];
  jobs: readonly JobRecord[];
}

/** Builds the catalogue. */
export function buildCatalogue(input: CatalogueInput): CatalogueTable[] {
  const ok = input.jobs.filter((j) => j.kind === 'etl' && j.status === 'succeeded');
  const entry = (table: TableDefinition, kind: 'mart' | 'raw', resourceTypes: string[]): CatalogueTable => {
    const contributing = ok.filter((j) => (kind === 'raw' ? resourceTypes.includes(j.resourceType) : table.name in j.rows));
    const rows = contributing.reduce((s, j) => s + (kind === 'raw' ? j.resources : (j.rows[table.name] ?? 0)), 0);
    const parts = new Map<string, { source: string; date: string }>();
    for (const j of contributing) parts.set(`${j.source}|${j.date}`, { source: j.source, date: j.date });
    const freshness = contributing.reduce<string | undefined>((m, j) => (m === undefined || j.finishedAt > m ? j.finishedAt : m), undefined);
    return {
      name: table.name,
      kind,
      resourceTypes,
      ...(table.description ? { description: table.description } : {}),
      columns: table.columns.map((c) => ({ name: c.name, type: c.duckdbType, ...(c.description ? { description: c.description } : {}) })),
      partitionKeys: table.partitionKeys.map((c) => c.name),
      rows,
      partitions: [...parts.values()].sort((a, b) => (a.date + a.source).localeCompare(b.date + b.source)),
      ...(freshness ? { freshness } : {}),
    };
  };
  const out = [
    ...input.marts.map((m) => entry(m.table, 'mart', m.resourceType === '*' ? [...new Set(ok.map((j) => j.resourceType))].sort() : [m.resourceType])),
    ...input.raw.map((r) => entry(r.table, 'raw', [r.resourceType])),
  ];
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** The raw table names of resource types (for callers that only know types). */
export const rawTablesOf = (types: readonly string[]): string[] => types.map(rawTableName);

/**
 * Search across table names, column names (and descriptions) and resource types, case-insensitive. Each hit says
 * what matched; the columns of a table are narrowed to the matching ones when only columns matched.
 */
export function searchCatalogue(tables: readonly CatalogueTable[], q: string): (CatalogueTable & { matched: string[] })[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return tables.map((t) => ({ ...t, matched: [] }));
  const out: (CatalogueTable & { matched: string[] })[] = [];
  for (const t of tables) {
    const matched: string[] = [];
    if (t.name.toLowerCase().includes(needle)) matched.push('table');
    if (t.resourceTypes.some((r) => r.toLowerCase().includes(needle))) matched.push('resourceType');
    if ((t.description ?? '').toLowerCase().includes(needle)) matched.push('description');
    const cols = t.columns.filter((c) => c.name.toLowerCase().includes(needle) || (c.description ?? '').toLowerCase().includes(needle));
    if (cols.length > 0) matched.push('column');
    if (matched.length === 0) continue;
    out.push({ ...t, matched, columns: matched.length === 1 && matched[0] === 'column' ? cols : t.columns });
  }
  return out;
}
