/**
 * Row-level extracts (src/core/analysis/extract.ts, run.ts): per-study pseudonyms under the study key, date
 * shifting and generalising, lineage columns dropped, undeclared identifiers refused, and the scan that stops any
 * lake pseudonym from leaving. The marts are a stub; analysis-covid19.test.ts runs a row-level extract over real
 * marts built from the COVID-19 sample.
 */
import { createHmac } from 'node:crypto';
import {
  AnalysisRefused,
  deidentify,
  handleDate,
  runAnalysis,
  scanForLakeIdentifiers,
  StudyKey,
  type AnalysisDeps,
  type AnalysisRegistry,
  type AnalysisSpec,
  type ReleaseFile,
  type RowLevelSpec,
} from '../../src/core/analysis';
import type { AuditEntry, KeyService } from '../../src/core/ports';
import { sqlSha256, specSha256 } from '../../src/core/analysis/spec';

/** A study key service with a fixed key (the local one is an HMAC over a key file, like this). */
const keys = (secret: string): KeyService => ({ keyVersion: 'test', mac: async (m) => createHmac('sha256', secret).update(m).digest('hex') });
const LAKE = ['p-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'p-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'];
const rows = [
  { patient_id: LAKE[0], id: 'h-enc1', onset: '2020-03-10', recorded: '2020-03-12T09:30:00Z', birth_year: 1950, code: '840539006', _lake_key: 'raw/Condition/x.ndjson', _version_id: '1' },
  { patient_id: LAKE[0], id: 'h-enc2', onset: '2021-01-05', recorded: null, birth_year: 1950, code: '840544004', _lake_key: 'raw/Condition/y.ndjson', _version_id: '2' },
  { patient_id: LAKE[1], id: 'h-enc3', onset: '2020-07-01', recorded: '2020-07-01', birth_year: 1988, code: '840539006', _lake_key: 'raw/Condition/z.ndjson', _version_id: '1' },
];
const table = { columns: Object.keys(rows[0]!), rows };
const shift: RowLevelSpec = { person: ['patient_id'], ids: ['id'], dates: { method: 'shift', maxDays: 30 } };

describe('study pseudonyms', () => {
  test('the same person in two studies gets two different pseudonyms, stable within a study, neither the lake pseudonym', async () => {
    const a1 = deidentify('x', table, shift, await StudyKey.derive(keys('study-secret'), 'study-a'));
    const a2 = deidentify('x', table, shift, await StudyKey.derive(keys('study-secret'), 'study-a'));
    const b = deidentify('x', table, shift, await StudyKey.derive(keys('study-secret'), 'study-b'));
    const pa = a1.rows.map((r) => r.patient_id);
    const pb = b.rows.map((r) => r.patient_id);
    expect(pa[0]).toBe(pa[1]); // one person, one pseudonym within a study
    expect(pa[0]).not.toBe(pa[2]);
    expect(a2.rows.map((r) => r.patient_id)).toEqual(pa); // stable across runs
    for (let i = 0; i < rows.length; i++) {
      expect(pa[i]).toMatch(/^sp-[0-9a-f]{32}$/);
      expect(pb[i]).not.toBe(pa[i]); // cannot be joined across studies
      expect([pa[i], pb[i]]).not.toContain(rows[i]!.patient_id); // nor to the lake
    }
    // other lake ids are re-keyed per study as well
    expect(a1.rows[0]!.id).toMatch(/^sr-/);
    expect(a1.rows[0]!.id).not.toBe(b.rows[0]!.id);
  });

  test('another study key service gives other pseudonyms for the same study', async () => {
    const one = deidentify('x', table, shift, await StudyKey.derive(keys('k1'), 'study-a'));
    const two = deidentify('x', table, shift, await StudyKey.derive(keys('k2'), 'study-a'));
    expect(one.rows[0]!.patient_id).not.toBe(two.rows[0]!.patient_id);
  });
});

describe('lineage and identifiers', () => {
  test('lineage columns are dropped: the extract never carries _lake_key', async () => {
    const e = deidentify('x', table, shift, await StudyKey.derive(keys('s'), 'a'));
    expect(e.dropped).toEqual(['_lake_key', '_version_id']);
    expect(e.columns).not.toContain('_lake_key');
    expect(e.rows.every((r) => !('_lake_key' in r))).toBe(true);
  });

  test('an id-like column the approval does not cover is refused (undeclared-identifier)', async () => {
    const k = await StudyKey.derive(keys('s'), 'a');
    const t = { columns: ['patient_id', 'encounter_id'], rows: [{ patient_id: LAKE[0], encounter_id: 'h-e' }] };
    expect(() => deidentify('x', t, { ...shift, ids: [] }, k)).toThrow(AnalysisRefused);
    expect(() => deidentify('x', t, { ...shift, ids: [] }, k)).toThrow(/undeclared-identifier: analysis x: column\(s\) encounter_id/);
    // patient_id is a person column by convention even when not declared
    const conv = deidentify('x', { columns: ['patient_id'], rows: [{ patient_id: LAKE[0] }] }, { person: [], ids: [], dates: { method: 'year' } }, k);
    expect(conv.rows[0]!.patient_id).toBe(k.person(LAKE[0]!));
  });
});

describe('dates as the approval says', () => {
  test('shift: one offset per person and study, in [−maxDays, −1] ∪ [1, maxDays]; intervals kept', async () => {
    const k = await StudyKey.derive(keys('s'), 'a');
    const e = deidentify('x', table, shift, k);
    const days = (a: string, b: string): number => (Date.parse(b) - Date.parse(a)) / 86_400_000;
    const d0 = days(rows[0]!.onset, e.rows[0]!.onset as string);
    expect(Math.abs(d0)).toBeGreaterThanOrEqual(1);
    expect(Math.abs(d0)).toBeLessThanOrEqual(30);
    expect(days(rows[1]!.onset, e.rows[1]!.onset as string)).toBe(d0); // same person, same shift
    expect(days(rows[0]!.onset, rows[1]!.onset)).toBe(days(e.rows[0]!.onset as string, e.rows[1]!.onset as string));
    expect(e.rows[0]!.recorded).toMatch(/^\d{4}-\d{2}-\d{2}T09:30:00Z$/); // time of day kept
    expect(e.rows[1]!.recorded).toBeNull();
    expect(e.rows[0]!.birth_year).toBe(1950); // partial dates are already generalised
    const all = new Set<number>();
    for (let i = 0; i < 2000; i++) all.add(k.shiftDays(`p-${i}`, 30));
    expect(Math.min(...all)).toBe(-30);
    expect(Math.max(...all)).toBe(30);
    expect(all.has(0)).toBe(false);
  });

  test('month and year generalise every full date', () => {
    expect(handleDate('2020-03-10', { method: 'month' })).toBe('2020-03');
    expect(handleDate('2020-03-12T09:30:00Z', { method: 'year' })).toBe('2020');
    expect(handleDate('2020-02-27', { method: 'shift', maxDays: 5 }, 3)).toBe('2020-03-01');
    expect(handleDate('1967', { method: 'month' })).toBeUndefined();
  });

  test('shifting dates needs a person column (date-shift-needs-person)', async () => {
    const k = await StudyKey.derive(keys('s'), 'a');
    expect(() => deidentify('x', { columns: ['onset'], rows: [{ onset: '2020-01-01' }] }, { person: [], ids: [], dates: { method: 'shift', maxDays: 10 } }, k)).toThrow(/date-shift-needs-person/);
  });
});

describe('the scan for lake identifiers', () => {
  test('finds a lake pseudonym whole or inside a reference, and nothing in a clean extract', async () => {
    const known = new Set(LAKE);
    expect(scanForLakeIdentifiers({ columns: ['a', 'b'], rows: [{ a: 'x', b: `Patient/${LAKE[1]}` }, { a: LAKE[0], b: 1 }] }, known)).toEqual([
      { row: 0, column: 'b' },
      { row: 1, column: 'a' },
    ]);
    const e = deidentify('x', table, shift, await StudyKey.derive(keys('s'), 'a'));
    expect(scanForLakeIdentifiers(e, new Set([...known, ...e.lakeValues]))).toEqual([]);
  });

  test('a row-level run whose output still holds a lake pseudonym (in a free-text column) is refused and nothing is written', async () => {
    const spec: AnalysisSpec = { id: 'leaky', purpose: 'p', study: 'study-a', output: 'row-level', rowLevel: shift };
    const sql = 'SELECT * FROM condition';
    const raw: Record<string, unknown> = { id: 'leaky', purpose: 'p', study: 'study-a', output: 'row-level', rowLevel: { person: ['patient_id'], ids: ['id'], dates: { method: 'shift', maxDays: 30 } } };
    spec.approval = { approvedBy: 'Dee', approvedAt: '2025-01-01T00:00:00Z', sqlSha256: sqlSha256(sql), specSha256: specSha256(raw) };
    const registry: AnalysisRegistry = {
      get: async () => ({ sql, spec, raw }),
      studies: async () => new Map([['study-a', { id: 'study-a' }]]),
      recordApproval: async () => undefined,
    };
    const audit: AuditEntry[] = [];
    const written: ReleaseFile[] = [];
    const note = { columns: ['patient_id', 'id', 'note'], rows: [{ patient_id: LAKE[0], id: 'h-1', note: `see ${LAKE[1]}` }] };
    const deps: AnalysisDeps = {
      registry,
      marts: { run: async (q) => (/patient_history/.test(q) ? { columns: ['id'], rows: LAKE.map((id) => ({ id })) } : note) },
      studyKeys: keys('s'),
      audit: { append: async (e) => void audit.push(e) },
      floors: { minThreshold: 8, minRounding: 5 },
    };
    const sink = () => ({ write: async (f: ReleaseFile[]) => (written.push(...f), f.map((x) => x.name)) });
    await expect(runAnalysis(deps, { id: 'leaky', who: 'ann', sink })).rejects.toThrow(/refused by rule lake-identifier: analysis leaky: the output holds lake identifiers \(row 1 column note\)/);
    expect(written).toEqual([]);
    expect(audit.map((a) => a.outcomeDesc)).toEqual(['refused by rule lake-identifier']);

    // without the leak, the extract is released, and the scan of what was written finds no lake pseudonym
    note.rows[0]!.note = 'no identifiers here';
    const r = await runAnalysis(deps, { id: 'leaky', who: 'ann', sink });
    expect(r.record.rowLevel).toMatchObject({ droppedColumns: [], pseudonymisedColumns: ['patient_id'], rekeyedColumns: ['id'], lakeIdentifiersChecked: 3 });
    const text = written.map((f) => f.body).join('\n');
    for (const p of [...LAKE, 'h-1']) expect(text).not.toContain(p);
    expect(audit.map((a) => `${(a.subtype as any)[0].code} ${a.outcome}`)).toEqual(['analysis-run 4', 'analysis-run 0', 'analysis-release 0']);
  });

  test('fail closed: when the scan cannot read the lake pseudonyms, nothing is released; a lake without a patient table yet is empty', async () => {
    const sql = 'SELECT * FROM condition';
    const raw: Record<string, unknown> = { id: 'scan', purpose: 'p', study: 'study-a', output: 'row-level', rowLevel: { person: ['patient_id'], ids: ['id'], dates: { method: 'shift', maxDays: 30 } } };
    const spec: AnalysisSpec = { id: 'scan', purpose: 'p', study: 'study-a', output: 'row-level', rowLevel: shift };
    spec.approval = { approvedBy: 'Dee', approvedAt: '2025-01-01T00:00:00Z', sqlSha256: sqlSha256(sql), specSha256: specSha256(raw) };
    const registry: AnalysisRegistry = { get: async () => ({ sql, spec, raw }), studies: async () => new Map([['study-a', { id: 'study-a' }]]), recordApproval: async () => undefined };
    const written: ReleaseFile[] = [];
    const sink = () => ({ write: async (f: ReleaseFile[]) => (written.push(...f), f.map((x) => x.name)) });
    const rows = { columns: ['patient_id', 'id'], rows: [{ patient_id: LAKE[0], id: 'h-1' }] };
    const depsWith = (scanError: Error): AnalysisDeps => ({
      registry,
      marts: { run: async (q) => { if (/patient_history/.test(q)) throw scanError; return rows; } },
      studyKeys: keys('s'),
      audit: { append: async () => undefined },
      floors: { minThreshold: 8, minRounding: 5 },
    });
    await expect(runAnalysis(depsWith(new Error('query timed out')), { id: 'scan', who: 'ann', sink })).rejects.toThrow(/timed out/);
    expect(written).toEqual([]);
    const r = await runAnalysis(depsWith(new Error('Catalog Error: Table with name patient_history does not exist!')), { id: 'scan', who: 'ann', sink });
    expect(r.record.output).toBe('row-level');
    expect(written.length).toBeGreaterThan(0);
  });
});
