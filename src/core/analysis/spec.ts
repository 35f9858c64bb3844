/**
 * The analysis registry's records: what an analysis is (its metadata, beside its SQL), the studies it belongs
 * to, and the approval that binds one exact SQL text and one exact metadata to a named approver.
 *
 * An approval records two SHA-256 digests: `sqlSha256` over the SQL file's bytes (UTF-8) and `specSha256` over the
 * canonical JSON (RFC 8785 style, {@link canonicalJson}) of the metadata without its approval fields. Changing
 * either voids the approval: the SQL because it is what runs, the metadata because it says how the output is
 * checked (output kind, counts, statistics, date handling). Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/chain';
import { AnalysisRefused } from './errors';

/** What an analysis releases. */
export type OutputKind = 'aggregate' | 'row-level';

/** A statistic column (mean, median, …) and the count column giving the number of people it is over. */
export interface StatisticColumn {
  column: string;
  n: string;
}

/** A ratio column recomputed from the released numerator and denominator: `scale × numerator / denominator`. */
export interface RatioColumn {
  column: string;
  numerator: string;
  denominator: string;
  /** Default 100 (a percentage). */
  scale: number;
  /** Decimal places (default 1). */
  digits: number;
}

/** A column that is the sum of other columns of the same row. */
export interface ColumnTotal {
  total: string;
  parts: string[];
}

/** How the columns of an aggregate output are to be read (docs/safe-analysis.md, "Aggregate outputs"). */
export interface AggregateColumns {
  groups: string[];
  counts: string[];
  statistics: StatisticColumn[];
  ratios: RatioColumn[];
  totals: {
    /** Group values that mark a total row (case-insensitive). Default `Total` and `All`. */
    labels: string[];
    columns: ColumnTotal[];
  };
}

/** The date handling a row-level approval allows. */
export type DateHandling = { method: 'shift'; maxDays: number } | { method: 'month' } | { method: 'year' };

/** How a row-level extract is de-identified (docs/safe-analysis.md, "Row-level extracts"). */
export interface RowLevelSpec {
  /** Columns holding a person's lake pseudonym: replaced by the study pseudonym. */
  person: string[];
  /** Columns holding other lake ids (resources, references): replaced by per-study keyed hashes. */
  ids: string[];
  dates: DateHandling;
}

/** An approval: who, when, and the digests of what was approved. */
export interface Approval {
  approvedBy: string;
  approvedAt: string;
  sqlSha256: string;
  specSha256: string;
}

/** One analysis of the registry. */
export interface AnalysisSpec {
  id: string;
  purpose: string;
  study: string;
  output: OutputKind;
  /** Who asked for the analysis (the approver must be someone else). */
  requestedBy?: string;
  /** Aggregate outputs: declared columns; absent = the naming convention. */
  columns?: AggregateColumns;
  rowLevel?: RowLevelSpec;
  approval?: Approval;
}

/** A study's disclosure settings. */
export interface StudySpec {
  id: string;
  title?: string;
  /** Counts from 1 to threshold − 1 are redacted. Default: the deployment's minimum. */
  threshold?: number;
  /** Released counts are rounded to a multiple of this. Default 5 (or the deployment's minimum, if higher). */
  rounding?: number;
}

/** The deployment's floors (src/config.ts `analysis`). */
export interface DisclosureFloors {
  minThreshold: number;
  minRounding: number;
}

/** The effective policy of a run: the study's settings checked against the deployment's floors. */
export interface DisclosurePolicy {
  threshold: number;
  rounding: number;
}

/** The metadata keys an approval writes. */
export const APPROVAL_KEYS = ['approvedBy', 'approvedAt', 'sqlSha256', 'specSha256'] as const;

const ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const COLUMN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function invalid(id: string, message: string): AnalysisRefused {
  return new AnalysisRefused('spec-invalid', `analysis ${id}: ${message}`);
}

function str(o: Obj, key: string, id: string, required = true): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw invalid(id, `${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string' || v.trim() === '') throw invalid(id, `${key} must be a non-empty string`);
  return v;
}

function columnList(v: unknown, where: string, id: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((c) => typeof c !== 'string' || !COLUMN.test(c))) throw invalid(id, `${where} must be a list of column names`);
  return v as string[];
}

function int(v: unknown, where: string, id: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw invalid(id, `${where} must be an integer ≥ ${min}`);
  return v;
}

function parseColumns(v: unknown, id: string): AggregateColumns {
  if (!isObj(v)) throw invalid(id, 'columns must be a mapping');
  const statistics = (Array.isArray(v.statistics) ? v.statistics : v.statistics === undefined ? [] : null) as unknown[] | null;
  const ratios = (Array.isArray(v.ratios) ? v.ratios : v.ratios === undefined ? [] : null) as unknown[] | null;
  if (!statistics || !ratios) throw invalid(id, 'columns.statistics and columns.ratios must be lists');
  const totals = v.totals === undefined ? {} : v.totals;
  if (!isObj(totals)) throw invalid(id, 'columns.totals must be a mapping');
  const labels = totals.labels === undefined ? ['Total', 'All'] : totals.labels;
  if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string')) throw invalid(id, 'columns.totals.labels must be a list of strings');
  const columnTotals = totals.columns === undefined ? [] : totals.columns;
  if (!Array.isArray(columnTotals)) throw invalid(id, 'columns.totals.columns must be a list');
  return {
    groups: columnList(v.groups, 'columns.groups', id),
    counts: columnList(v.counts, 'columns.counts', id),
    statistics: statistics.map((s, i) => {
      if (!isObj(s)) throw invalid(id, `columns.statistics[${i}] must be a mapping`);
      return { column: columnList([s.column], `columns.statistics[${i}].column`, id)[0]!, n: columnList([s.n], `columns.statistics[${i}].n`, id)[0]! };
    }),
    ratios: ratios.map((r, i) => {
      if (!isObj(r)) throw invalid(id, `columns.ratios[${i}] must be a mapping`);
      const [column, numerator, denominator] = columnList([r.column, r.numerator, r.denominator], `columns.ratios[${i}]`, id);
      return {
        column: column!,
        numerator: numerator!,
        denominator: denominator!,
        scale: r.scale === undefined ? 100 : int(r.scale, `columns.ratios[${i}].scale`, id, 1),
        digits: r.digits === undefined ? 1 : int(r.digits, `columns.ratios[${i}].digits`, id, 0),
      };
    }),
    totals: {
      labels: labels as string[],
      columns: columnTotals.map((t, i) => {
        if (!isObj(t)) throw invalid(id, `columns.totals.columns[${i}] must be a mapping`);
        const parts = columnList(t.parts, `columns.totals.columns[${i}].parts`, id);
        if (parts.length === 0) throw invalid(id, `columns.totals.columns[${i}].parts is empty`);
        return { total: columnList([t.total], `columns.totals.columns[${i}].total`, id)[0]!, parts };
      }),
    },
  };
}

function parseRowLevel(v: unknown, id: string): RowLevelSpec {
  if (!isObj(v)) throw invalid(id, 'a row-level analysis needs rowLevel (person, ids, dates)');
  const d = v.dates;
  if (!isObj(d)) throw invalid(id, 'rowLevel.dates is required: { method: shift, maxDays } | { method: month } | { method: year }');
  let dates: DateHandling;
  if (d.method === 'shift') dates = { method: 'shift', maxDays: int(d.maxDays, 'rowLevel.dates.maxDays', id, 1) };
  else if (d.method === 'month' || d.method === 'year') dates = { method: d.method };
  else throw invalid(id, 'rowLevel.dates.method must be shift, month or year');
  return { person: columnList(v.person, 'rowLevel.person', id), ids: columnList(v.ids, 'rowLevel.ids', id), dates };
}

/**
 * Parses and checks an analysis's metadata (the parsed YAML/JSON of `analyses/<id>.yaml`).
 * @param expectedId - the id the file is named for; the metadata's `id` must equal it.
 * @throws AnalysisRefused (`spec-invalid`) naming what is wrong.
 */
export function parseAnalysisSpec(raw: unknown, expectedId: string): AnalysisSpec {
  if (!isObj(raw)) throw invalid(expectedId, 'metadata must be a mapping');
  const id = str(raw, 'id', expectedId)!;
  if (id !== expectedId || !ID.test(id)) throw invalid(expectedId, `id must be '${expectedId}' (lower-case letters, digits, - and _)`);
  const output = raw.output;
  if (output !== 'aggregate' && output !== 'row-level') throw invalid(id, 'output must be aggregate or row-level');
  const spec: AnalysisSpec = { id, purpose: str(raw, 'purpose', id)!, study: str(raw, 'study', id)!, output };
  const requestedBy = str(raw, 'requestedBy', id, false);
  if (requestedBy) spec.requestedBy = requestedBy;
  if (raw.columns !== undefined) {
    if (output !== 'aggregate') throw invalid(id, 'columns applies to aggregate outputs only');
    spec.columns = parseColumns(raw.columns, id);
  }
  if (output === 'row-level') spec.rowLevel = parseRowLevel(raw.rowLevel, id);
  else if (raw.rowLevel !== undefined) throw invalid(id, 'rowLevel applies to row-level outputs only');
  const present = APPROVAL_KEYS.filter((k) => raw[k] !== undefined && raw[k] !== null);
  if (present.length === APPROVAL_KEYS.length) {
    const a = { approvedBy: str(raw, 'approvedBy', id)!, approvedAt: str(raw, 'approvedAt', id)!, sqlSha256: str(raw, 'sqlSha256', id)!, specSha256: str(raw, 'specSha256', id)! };
    if (!HEX64.test(a.sqlSha256) || !HEX64.test(a.specSha256)) throw invalid(id, 'sqlSha256 and specSha256 must be 64 lower-case hex digits');
    if (Number.isNaN(Date.parse(a.approvedAt))) throw invalid(id, 'approvedAt must be a date-time');
    spec.approval = a;
  } else if (present.length > 0) {
    throw invalid(id, `an approval needs all of ${APPROVAL_KEYS.join(', ')} (found only ${present.join(', ')})`);
  }
  return spec;
}

/**
 * Parses the study registry (`analyses/studies.yaml`: `studies: { <id>: { title, threshold, rounding } }`).
 * @throws AnalysisRefused (`spec-invalid`).
 */
export function parseStudies(raw: unknown): Map<string, StudySpec> {
  const out = new Map<string, StudySpec>();
  const studies = isObj(raw) ? raw.studies : undefined;
  if (!isObj(studies)) throw new AnalysisRefused('spec-invalid', 'the study registry must have a `studies` mapping');
  for (const [id, s] of Object.entries(studies)) {
    if (!ID.test(id) || !isObj(s)) throw new AnalysisRefused('spec-invalid', `study ${id}: must be a mapping under a lower-case id`);
    const study: StudySpec = { id };
    if (typeof s.title === 'string') study.title = s.title;
    if (s.threshold !== undefined) study.threshold = int(s.threshold, `study ${id} threshold`, id, 1);
    if (s.rounding !== undefined) study.rounding = int(s.rounding, `study ${id} rounding`, id, 1);
    out.set(id, study);
  }
  return out;
}

/** Lower-case hex SHA-256 of a UTF-8 text. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** SHA-256 of the SQL an approval covers (the file's text, byte for byte). */
export function sqlSha256(sql: string): string {
  return sha256Hex(sql);
}

/** SHA-256 of the metadata an approval covers: its canonical JSON without the approval fields. */
export function specSha256(raw: Record<string, unknown>): string {
  const copy: Record<string, unknown> = { ...raw };
  for (const k of APPROVAL_KEYS) delete copy[k];
  return sha256Hex(canonicalJson(copy));
}

/**
 * Checks that an analysis is approved for exactly this SQL and metadata.
 * @throws AnalysisRefused: `approval-missing`, `approval-sql-changed` or `approval-spec-changed`.
 */
export function checkApproval(spec: AnalysisSpec, sql: string, raw: Record<string, unknown>): Approval {
  const a = spec.approval;
  if (!a) throw new AnalysisRefused('approval-missing', `analysis ${spec.id} has not been approved (npm run analysis:approve -- ${spec.id} --by NAME)`);
  const sqlNow = sqlSha256(sql);
  if (sqlNow !== a.sqlSha256) {
    throw new AnalysisRefused('approval-sql-changed', `the SQL of ${spec.id} has changed since ${a.approvedBy} approved it on ${a.approvedAt} (approved ${a.sqlSha256.slice(0, 12)}…, now ${sqlNow.slice(0, 12)}…); it needs a new approval`);
  }
  const specNow = specSha256(raw);
  if (specNow !== a.specSha256) {
    throw new AnalysisRefused('approval-spec-changed', `the metadata of ${spec.id} has changed since ${a.approvedBy} approved it on ${a.approvedAt}; it needs a new approval`);
  }
  return a;
}

/**
 * The effective disclosure policy of a study, never below the deployment's floors.
 * @throws AnalysisRefused: `threshold-floor` or `rounding-floor` when the study asks for less.
 */
export function disclosurePolicy(study: StudySpec, floors: DisclosureFloors): DisclosurePolicy {
  const threshold = study.threshold ?? floors.minThreshold;
  if (threshold < floors.minThreshold) {
    throw new AnalysisRefused('threshold-floor', `study ${study.id} sets threshold ${threshold}, below this deployment's minimum ${floors.minThreshold}`);
  }
  const rounding = study.rounding ?? Math.max(5, floors.minRounding);
  if (rounding < floors.minRounding) {
    throw new AnalysisRefused('rounding-floor', `study ${study.id} rounds to ${rounding}, below this deployment's minimum ${floors.minRounding}`);
  }
  return { threshold, rounding };
}

/**
 * Checks that SQL is exactly one SELECT (or `WITH … SELECT`) statement: comments and one trailing `;` allowed.
 * A syntactic guard only (semicolons inside string literals are tolerated); the approval is the real control.
 * @throws AnalysisRefused (`select-only`).
 */
export function checkSelectOnly(id: string, sql: string): void {
  const stripped = sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''")
    .trim()
    .replace(/;\s*$/, '');
  if (!/^(with|select)\b/i.test(stripped) || stripped.includes(';')) {
    throw new AnalysisRefused('select-only', `analysis ${id} must be exactly one SELECT (or WITH … SELECT) statement`);
  }
}
