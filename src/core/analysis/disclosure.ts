/**
 * The output checker of aggregate outputs: statistical disclosure control applied before anything is written,
 * after the rules of NHS England's trusted research environments and OpenSAFELY's output checking
 * (counts 1–7 redacted, the rest rounded to the nearest 5). Pure: a table in, a checked table out.
 *
 * Rules, in the order they are applied (docs/safe-analysis.md has the reasoning):
 * 1. `small-count`: a count from 1 to threshold − 1 is redacted. 0 is released as 0 (a true zero reveals no one).
 * 2. `differencing`: in every linear relation of the output (a total row beside its parts, a total column beside
 *    its part columns) a lone redacted cell could be recovered by subtraction; so while a relation holds exactly
 *    one redacted cell, its smallest released non-zero part is redacted too (a zero part if there is no other;
 *    the total if there are no released parts at all). Repeated until no relation has a lone redacted cell.
 * 3. `rounding`: every released count is rounded to the nearest multiple of the study's rounding base (halves
 *    up); 0 stays 0 and a non-zero count never rounds down to 0 (it becomes the base).
 * 4. `small-statistic`: a statistic (mean, median, …) over fewer than threshold people, or whose count was
 *    redacted, is redacted.
 * 5. `ratio`: a ratio (percentage) is recomputed from the released, rounded numerator and denominator, so it
 *    reveals nothing they do not; it is redacted when either of them is (and null when there is no denominator).
 */
import { AnalysisRefused } from './errors';
import type { ResultTable } from './ports';
import type { AggregateColumns, DisclosurePolicy } from './spec';

/** What a redacted cell holds in the released CSV and JSON. */
export const REDACTED = '[REDACTED]';

/** The rules that redact cells. */
export type RedactionRule = 'small-count' | 'differencing' | 'small-statistic' | 'ratio';

/** One redacted cell: its row (0-based, in output order), its column and the rule that redacted it. */
export interface Redaction {
  row: number;
  column: string;
  rule: RedactionRule;
}

/** A rule as applied to one output, for the release record. */
export interface RuleApplied {
  rule: RedactionRule | 'rounding';
  description: string;
  /** Cells the rule redacted (or, for rounding, changed). */
  cells: number;
}

/** A checked output, ready to be released. */
export interface CheckedOutput {
  columns: string[];
  rows: Record<string, unknown>[];
  redactions: Redaction[];
  rules: RuleApplied[];
}

/** Count columns by naming convention: `n`, `count`, `n_*`, `*_count`, `*_n`. */
export const COUNT_NAME = /^(n|count|n_\w+|\w+_count|\w+_n)$/i;
/** Statistic columns by naming convention: `mean_*`, `median_*`, `avg_*`, `sd_*`, `iqr_*`, `p25_*`, … */
export const STATISTIC_NAME = /^(mean|median|avg|average|sd|stddev|iqr|p\d{1,2})_\w+$/i;

function shape(id: string, message: string): AnalysisRefused {
  return new AnalysisRefused('aggregate-shape', `analysis ${id}: ${message}`);
}

/**
 * The column roles of an output: the declared ones, else the naming convention (counts and statistics by name,
 * a statistic's count being the output's only count column; groups = the remaining columns holding only text,
 * booleans or nulls). Every column must get a role.
 * @throws AnalysisRefused (`aggregate-shape`).
 */
export function columnRoles(id: string, table: ResultTable, declared?: AggregateColumns): AggregateColumns {
  let roles: AggregateColumns;
  if (declared) {
    roles = declared;
  } else {
    const counts = table.columns.filter((c) => COUNT_NAME.test(c));
    const stats = table.columns.filter((c) => STATISTIC_NAME.test(c));
    if (stats.length > 0 && counts.length !== 1) throw shape(id, `statistics ${stats.join(', ')} need exactly one count column to be over, or declared columns`);
    const rest = table.columns.filter((c) => !counts.includes(c) && !stats.includes(c));
    const groups = rest.filter((c) => table.rows.every((r) => r[c] === null || r[c] === undefined || typeof r[c] === 'string' || typeof r[c] === 'boolean'));
    roles = { groups, counts, statistics: stats.map((column) => ({ column, n: counts[0]! })), ratios: [], totals: { labels: ['Total', 'All'], columns: [] } };
  }
  const known = new Set([...roles.groups, ...roles.counts, ...roles.statistics.map((s) => s.column), ...roles.ratios.map((r) => r.column)]);
  const unclassified = table.columns.filter((c) => !known.has(c));
  if (unclassified.length > 0) {
    throw shape(id, `column(s) ${unclassified.join(', ')} are neither a group, a count, a statistic with its count, nor a ratio of counts`);
  }
  const missing = [...known].filter((c) => !table.columns.includes(c));
  if (missing.length > 0) throw shape(id, `declared column(s) ${missing.join(', ')} are not in the output`);
  if (roles.counts.length === 0) throw shape(id, 'an aggregate output needs at least one count column (grouped counts, or statistics with their counts)');
  for (const s of roles.statistics) if (!roles.counts.includes(s.n)) throw shape(id, `statistic ${s.column} is over ${s.n}, which is not a count column`);
  for (const r of roles.ratios) {
    if (!roles.counts.includes(r.numerator) || !roles.counts.includes(r.denominator)) throw shape(id, `ratio ${r.column} must divide two count columns`);
  }
  for (const t of roles.totals.columns) {
    if (![t.total, ...t.parts].every((c) => roles.counts.includes(c))) throw shape(id, `total column ${t.total} and its parts must be count columns`);
  }
  return roles;
}

/** Rounds a count to the nearest multiple of `base` (halves up); 0 stays 0, a non-zero count never becomes 0. */
export function roundCount(count: number, base: number): number {
  if (count === 0 || base <= 1) return count;
  return Math.max(base, Math.round(count / base) * base);
}

type Cell = `${number}|${string}`;
const cell = (row: number, column: string): Cell => `${row}|${column}`;

/** The linear relations (a total and its parts) an output declares or shows. */
function relations(table: ResultTable, roles: AggregateColumns): { total: Cell; parts: Cell[] }[] {
  const out: { total: Cell; parts: Cell[] }[] = [];
  const labels = new Set(roles.totals.labels.map((l) => l.toLowerCase()));
  const isTotal = (v: unknown): boolean => typeof v === 'string' && labels.has(v.toLowerCase());
  const key = (v: unknown): string => (v === null || v === undefined ? '\u0000' : String(v));
  table.rows.forEach((row, i) => {
    for (const d of roles.groups) {
      if (!isTotal(row[d])) continue;
      const others = roles.groups.filter((g) => g !== d);
      const parts: number[] = [];
      table.rows.forEach((r, j) => {
        if (j !== i && !isTotal(r[d]) && others.every((g) => key(r[g]) === key(row[g]))) parts.push(j);
      });
      if (parts.length === 0) continue;
      for (const c of roles.counts) out.push({ total: cell(i, c), parts: parts.map((j) => cell(j, c)) });
    }
    for (const t of roles.totals.columns) out.push({ total: cell(i, t.total), parts: t.parts.map((p) => cell(i, p)) });
  });
  return out;
}

function countValue(id: string, v: unknown, column: string): number | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  throw shape(id, `count column ${column} holds ${typeof v === 'number' ? v : typeof v}, not a non-negative integer`);
}

/**
 * Checks an aggregate output and returns what may be released (rules 1–5 of the module doc).
 * @param id - the analysis id, for messages.
 * @throws AnalysisRefused (`aggregate-shape`) when the output is not grouped counts / statistics with counts.
 */
export function checkAggregate(id: string, table: ResultTable, declared: AggregateColumns | undefined, policy: DisclosurePolicy): CheckedOutput {
  const roles = columnRoles(id, table, declared);
  const { threshold, rounding } = policy;
  const raw = table.rows.map((r) => {
    const counts: Record<string, number | null> = {};
    for (const c of roles.counts) counts[c] = countValue(id, r[c], c);
    return counts;
  });
  const redacted = new Map<Cell, RedactionRule>();
  const value = (c: Cell): number => {
    const [row, column] = [Number(c.slice(0, c.indexOf('|'))), c.slice(c.indexOf('|') + 1)];
    return raw[row]![column] ?? 0;
  };

  // 1. small counts
  raw.forEach((counts, i) => {
    for (const [c, v] of Object.entries(counts)) if (v !== null && v >= 1 && v < threshold) redacted.set(cell(i, c), 'small-count');
  });
  // 2. differencing: no relation may keep a lone redacted cell
  const rels = relations(table, roles);
  for (let changed = true; changed; ) {
    changed = false;
    for (const rel of rels) {
      const all = [rel.total, ...rel.parts];
      if (all.filter((c) => redacted.has(c)).length !== 1) continue;
      const open = rel.parts.filter((c) => !redacted.has(c)).sort((a, b) => value(a) - value(b));
      const pick = open.find((c) => value(c) > 0) ?? open[0] ?? (redacted.has(rel.total) ? undefined : rel.total);
      if (pick) {
        redacted.set(pick, 'differencing');
        changed = true;
      }
    }
  }
  // 3. rounding, 4. statistics, 5. ratios
  let rounded = 0;
  const rows = table.rows.map((r, i) => {
    const out: Record<string, unknown> = {};
    for (const c of table.columns) out[c] = r[c];
    for (const c of roles.counts) {
      const v = raw[i]![c];
      if (redacted.has(cell(i, c))) out[c] = REDACTED;
      else if (v !== null) {
        out[c] = roundCount(v, rounding);
        if (out[c] !== v) rounded++;
      }
    }
    for (const s of roles.statistics) {
      const n = raw[i]![s.n];
      const small = n === null || n < threshold || redacted.has(cell(i, s.n));
      if (small && r[s.column] !== null && r[s.column] !== undefined) {
        redacted.set(cell(i, s.column), 'small-statistic');
        out[s.column] = REDACTED;
      }
    }
    for (const q of roles.ratios) {
      if (raw[i]![q.denominator] === null) {
        out[q.column] = null;
        continue;
      }
      if (redacted.has(cell(i, q.numerator)) || redacted.has(cell(i, q.denominator))) {
        redacted.set(cell(i, q.column), 'ratio');
        out[q.column] = REDACTED;
        continue;
      }
      const num = out[q.numerator] as number | null;
      const den = out[q.denominator] as number | null;
      const f = 10 ** q.digits;
      out[q.column] = num === null || den === null || den === 0 ? null : Math.round((q.scale * num * f) / den) / f;
    }
    return out;
  });
  const redactions: Redaction[] = [...redacted.entries()]
    .map(([c, rule]) => ({ row: Number(c.slice(0, c.indexOf('|'))), column: c.slice(c.indexOf('|') + 1), rule }))
    .sort((a, b) => a.row - b.row || table.columns.indexOf(a.column) - table.columns.indexOf(b.column));
  const n = (rule: RedactionRule): number => redactions.filter((x) => x.rule === rule).length;
  const rules: RuleApplied[] = [
    { rule: 'small-count', description: `counts from 1 to ${threshold - 1} redacted (threshold ${threshold}); 0 released as 0`, cells: n('small-count') },
    { rule: 'differencing', description: 'secondary suppression: no total released beside all but one of its parts', cells: n('differencing') },
    { rule: 'rounding', description: `released counts rounded to the nearest ${rounding}; 0 stays 0`, cells: rounded },
    { rule: 'small-statistic', description: `statistics over fewer than ${threshold} people, or over a redacted count, redacted`, cells: n('small-statistic') },
    { rule: 'ratio', description: 'ratios recomputed from the released counts; redacted with either count', cells: n('ratio') },
  ];
  return { columns: [...table.columns], rows, redactions, rules };
}
