/**
 * The output checker of aggregate outputs (src/core/analysis/disclosure.ts), one rule per test: small counts
 * redacted (5), the rest rounded (23 → 25), zeros kept, secondary suppression of a total beside all but one of its
 * parts, statistics over too few people redacted, ratios recomputed from the released counts, and the shape rules.
 */
import { AnalysisRefused, checkAggregate, REDACTED, roundCount, type AggregateColumns } from '../../src/core/analysis';

const policy = { threshold: 8, rounding: 5 };
const cols = (c: Partial<AggregateColumns>): AggregateColumns => ({
  groups: [],
  counts: [],
  statistics: [],
  ratios: [],
  totals: { labels: ['Total', 'All'], columns: [] },
  ...c,
});

function refusedRule(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof AnalysisRefused) return e.rule;
    throw e;
  }
  return undefined;
}

describe('small-count: counts from 1 to threshold − 1 are redacted', () => {
  test('a count of 5 is redacted and marked, with the rule in the redaction list', () => {
    const r = checkAggregate('t', { columns: ['region', 'n'], rows: [{ region: 'North', n: 5 }, { region: 'South', n: 40 }] }, undefined, policy);
    expect(r.rows[0]).toEqual({ region: 'North', n: REDACTED });
    expect(r.redactions).toEqual([{ row: 0, column: 'n', rule: 'small-count' }]);
    expect(r.rules.find((x) => x.rule === 'small-count')).toMatchObject({ cells: 1, description: expect.stringContaining('1 to 7') });
  });

  test('1 and 7 are redacted, 8 is not (threshold 8); a study threshold of 10 redacts 8 and 9', () => {
    const t = { columns: ['g', 'n'], rows: [1, 7, 8, 9].map((n, i) => ({ g: `g${i}`, n })) };
    expect(checkAggregate('t', t, undefined, policy).rows.map((r) => r.n)).toEqual([REDACTED, REDACTED, 10, 10]);
    expect(checkAggregate('t', t, undefined, { threshold: 10, rounding: 5 }).rows.map((r) => r.n)).toEqual([REDACTED, REDACTED, REDACTED, REDACTED]);
  });
});

describe('rounding: released counts to the nearest 5', () => {
  test('23 becomes 25, 22 becomes 20, 1000 stays 1000', () => {
    const r = checkAggregate('t', { columns: ['g', 'n'], rows: [23, 22, 1000].map((n, i) => ({ g: `g${i}`, n })) }, undefined, policy);
    expect(r.rows.map((x) => x.n)).toEqual([25, 20, 1000]);
    expect(r.rules.find((x) => x.rule === 'rounding')).toMatchObject({ cells: 2 });
  });

  test('0 stays 0 (a true zero is released); a non-zero count never rounds to 0', () => {
    const r = checkAggregate('t', { columns: ['g', 'n'], rows: [{ g: 'a', n: 0 }, { g: 'b', n: 30 }] }, undefined, policy);
    expect(r.rows.map((x) => x.n)).toEqual([0, 30]);
    expect(r.redactions).toEqual([]);
    expect(roundCount(0, 5)).toBe(0);
    expect(roundCount(2, 5)).toBe(5); // only reachable with a threshold below 3
    expect(roundCount(15, 10)).toBe(20); // halves up
  });
});

describe('differencing: no total beside all but one of its parts', () => {
  test('a total row and all but one of its cells: the next smallest cell is redacted too', () => {
    const rows = [
      { sex: 'female', n: 5 },
      { sex: 'male', n: 30 },
      { sex: 'unknown', n: 12 },
      { sex: 'Total', n: 47 },
    ];
    const r = checkAggregate('t', { columns: ['sex', 'n'], rows }, undefined, policy);
    // without the second redaction, 47 − 30 − 12 = 5 would give the redacted cell away
    expect(r.rows.map((x) => x.n)).toEqual([REDACTED, 30, REDACTED, 45]);
    expect(r.redactions).toEqual([
      { row: 0, column: 'n', rule: 'small-count' },
      { row: 2, column: 'n', rule: 'differencing' },
    ]);
  });

  test('a total per group in a two-way table, and a declared total column', () => {
    const rows = [
      { region: 'North', sex: 'female', n: 3 },
      { region: 'North', sex: 'male', n: 50 },
      { region: 'North', sex: 'All', n: 53 },
      { region: 'South', sex: 'female', n: 20 },
      { region: 'South', sex: 'male', n: 21 },
      { region: 'South', sex: 'All', n: 41 },
    ];
    const r = checkAggregate('t', { columns: ['region', 'sex', 'n'], rows }, cols({ groups: ['region', 'sex'], counts: ['n'] }), policy);
    // North: the only other part is 50 → it goes too; South is untouched
    expect(r.rows.map((x) => x.n)).toEqual([REDACTED, REDACTED, 55, 20, 20, 40]);

    const wide = { columns: ['region', 'female', 'male', 'all_n'], rows: [{ region: 'North', female: 4, male: 60, all_n: 64 }] };
    const w = checkAggregate('t', wide, cols({ groups: ['region'], counts: ['female', 'male', 'all_n'], totals: { labels: [], columns: [{ total: 'all_n', parts: ['female', 'male'] }] } }), policy);
    expect(w.rows[0]).toEqual({ region: 'North', female: REDACTED, male: REDACTED, all_n: 65 });
  });

  test('secondary suppression spreads until no relation has a lone redacted cell', () => {
    // a 2×2 table with row and column totals: redacting one cell forces a rectangle of redactions
    const rows = [
      { a: 'x', b: 'p', n: 2 },
      { a: 'x', b: 'q', n: 40 },
      { a: 'x', b: 'Total', n: 42 },
      { a: 'y', b: 'p', n: 30 },
      { a: 'y', b: 'q', n: 50 },
      { a: 'y', b: 'Total', n: 80 },
      { a: 'Total', b: 'p', n: 32 },
      { a: 'Total', b: 'q', n: 90 },
      { a: 'Total', b: 'Total', n: 122 },
    ];
    const r = checkAggregate('t', { columns: ['a', 'b', 'n'], rows }, undefined, policy);
    const hidden = r.rows.map((x, i) => (x.n === REDACTED ? `${rows[i]!.a}/${rows[i]!.b}` : null)).filter(Boolean);
    expect(hidden).toEqual(['x/p', 'x/q', 'y/p', 'y/q']);
  });
});

describe('small-statistic: statistics over fewer than the threshold are redacted', () => {
  test('a mean over 4 people is redacted; a mean over 12 is released', () => {
    const rows = [
      { ward: 'A', n: 4, mean_age: 71.25 },
      { ward: 'B', n: 12, mean_age: 64.5 },
    ];
    const r = checkAggregate('t', { columns: ['ward', 'n', 'mean_age'], rows }, undefined, policy);
    expect(r.rows).toEqual([
      { ward: 'A', n: REDACTED, mean_age: REDACTED },
      { ward: 'B', n: 10, mean_age: 64.5 },
    ]);
    expect(r.redactions).toContainEqual({ row: 0, column: 'mean_age', rule: 'small-statistic' });
  });

  test('a median whose count was redacted by differencing is redacted too', () => {
    const rows = [
      { g: 'a', n: 3, median_los: 4 },
      { g: 'b', n: 9, median_los: 6 },
      { g: 'Total', n: 12, median_los: 5 },
    ];
    const r = checkAggregate('t', { columns: ['g', 'n', 'median_los'], rows }, undefined, policy);
    expect(r.rows[1]).toEqual({ g: 'b', n: REDACTED, median_los: REDACTED });
  });
});

describe('ratio: recomputed from the released counts', () => {
  const roles = cols({ groups: ['metric'], counts: ['k', 'of_k'], ratios: [{ column: 'pct', numerator: 'k', denominator: 'of_k', scale: 100, digits: 1 }] });

  test('a percentage says no more than its rounded counts; redacted with either count; null over 0', () => {
    const rows = [
      { metric: 'a', k: 8, of_k: 9, pct: 88.9 },
      { metric: 'b', k: 3, of_k: 40, pct: 7.5 },
      { metric: 'c', k: 0, of_k: 0, pct: null },
    ];
    const r = checkAggregate('t', { columns: ['metric', 'k', 'of_k', 'pct'], rows }, roles, policy);
    expect(r.rows).toEqual([
      { metric: 'a', k: 10, of_k: 10, pct: 100 },
      { metric: 'b', k: REDACTED, of_k: 40, pct: REDACTED },
      { metric: 'c', k: 0, of_k: 0, pct: null },
    ]);
  });
});

describe('aggregate-shape: only grouped counts or statistics with their counts', () => {
  test('an undeclared numeric column, a table without counts, a negative or fractional count, min/max', () => {
    expect(refusedRule(() => checkAggregate('t', { columns: ['g', 'n', 'weight'], rows: [{ g: 'a', n: 10, weight: 70.2 }] }, undefined, policy))).toBe('aggregate-shape');
    expect(refusedRule(() => checkAggregate('t', { columns: ['patient_id', 'birth_year'], rows: [{ patient_id: 'p-x', birth_year: 1970 }] }, undefined, policy))).toBe('aggregate-shape');
    expect(refusedRule(() => checkAggregate('t', { columns: ['g', 'n'], rows: [{ g: 'a', n: -1 }] }, undefined, policy))).toBe('aggregate-shape');
    expect(refusedRule(() => checkAggregate('t', { columns: ['g', 'n'], rows: [{ g: 'a', n: 2.5 }] }, undefined, policy))).toBe('aggregate-shape');
    expect(refusedRule(() => checkAggregate('t', { columns: ['g', 'n', 'max_age'], rows: [{ g: 'a', n: 20, max_age: 101 }] }, undefined, policy))).toBe('aggregate-shape');
  });

  test('declared columns must cover the output and exist in it; the refusal names the rule', () => {
    const t = { columns: ['metric', 'patients'], rows: [{ metric: 'a', patients: 9 }] };
    expect(refusedRule(() => checkAggregate('t', t, cols({ groups: ['metric'] }), policy))).toBe('aggregate-shape');
    expect(refusedRule(() => checkAggregate('t', t, cols({ groups: ['metric'], counts: ['patients', 'nope'] }), policy))).toBe('aggregate-shape');
    try {
      checkAggregate('t', { columns: ['g', 'n', 'x'], rows: [] }, undefined, policy);
    } catch (e) {
      expect((e as AnalysisRefused).message).toMatch(/^refused by rule aggregate-shape: analysis t: column\(s\) x are neither/);
      expect((e as AnalysisRefused).status).toBe(422);
    }
  });
});
