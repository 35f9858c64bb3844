/**
 * The COVID-19 case study through the safe-analysis path, over marts built in this process from the shared
 * COVID-19 sample (../shared/fhir/synthea/covid19/): the write path (pseudonymisation with a local lake key, the
 * version index) lands the 12 Bundles (sent as transactions, as test/e2e/marts.test.ts explains) in an in-memory
 * lake, the ETL builds the marts and the DuckDB catalogue, and `npm run analyse -- covid19` (its code) runs the
 * approved analyses/covid19.sql and releases the checked output. No HTTP stack: the e2e suite covers that path.
 *
 * Also: the same sample under a stricter study (threshold 10) shows redaction on real figures, and a row-level
 * extract of the confirmed cohort under two studies shows per-study pseudonyms over real lake pseudonyms.
 */
import fs from 'node:fs';
import path from 'node:path';
import { harness, type Harness } from './etl-fixtures';
import { Ingestor } from '../../src/core/ingest';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../../src/core/pseudonymise';
import { createPseudonymiser, parsePolicy } from '../../src/fhir/pseudo';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { LocalKeyService } from '../../src/adapters/local/key-service';
import { localCatalogFile } from '../../src/adapters/local/duckdb-catalog';
import { runQuery } from '../../src/adapters/local/duckdb-query';
import { readAuditRecords } from '../../src/core/audit';
import { FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';
import type { IngestEvent, TributaryEvent } from '../../src/core/ports';
import { main as analyse } from '../../scripts/analyse';
import { main as approve } from '../../scripts/approve-analysis';
import { formatTable } from '../../scripts/query';

const REPO = path.resolve(__dirname, '../..');
const COVID = path.resolve(REPO, '../shared/fhir/synthea/covid19');
const haveSample = fs.existsSync(COVID);
const describeSample = haveSample ? describe : describe.skip;

let h: Harness;

async function cli(fn: typeof analyse | typeof approve, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await fn(argv, { env: { TRIBUTARY_RUNTIME: 'local', DATA_DIR: h.dir, ...env }, who: 'analyst@test', out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

const released = (dir: string, name: string): any => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));

describeSample('the COVID-19 case study through npm run analyse', () => {
  beforeAll(async () => {
    h = harness();
    const versions = new FileVersionIndex(path.join(h.dir, 'index'));
    const keys = await LocalKeyService.open(h.dir);
    const policy = parsePolicy(fs.readFileSync(path.join(REPO, 'policy/pseudonymisation.yaml'), 'utf8'));
    const transform = new PseudonymiseTransform(createPseudonymiser({ policy, keys, patientResolver: new VersionIndexPatientResolver(versions) }));
    const events: TributaryEvent[] = [];
    const ingestor = new Ingestor({ lake: h.lake, versions, events: { publish: async (e) => void events.push(...e) }, clock: { now: () => new Date() }, validate: () => [], transform });
    const files = fs.readdirSync(COVID).filter((f) => f.endsWith('.json'));
    const ordered = [...files.filter((f) => /Information/.test(f)), ...files.filter((f) => !/Information/.test(f))];
    for (const [i, f] of ordered.entries()) {
      const bundle = JSON.parse(fs.readFileSync(path.join(COVID, f), 'utf8'));
      await ingestor.write({ requestId: `covid-${i}`, method: 'POST', body: { ...bundle, type: 'transaction' }, principal: { source: 'covid', clientId: 'covid' } });
    }
    for (const e of events) if (e.type === 'tributary.ingest.committed') await h.etl.process(e as IngestEvent);
  });
  afterAll(async () => {
    await h?.close();
  });

  test('the approved analysis is released with counts 1–7 redacted and the rest rounded to 5', async () => {
    // what an operator sees with raw `npm run query` (the figures of analyses/README.md)
    const [raw] = await runQuery(fs.readFileSync(path.join(REPO, 'analyses/covid19.sql'), 'utf8'), localCatalogFile(h.dir));
    expect(raw!.rows.map((r) => [r.metric, r.patients, r.of_patients])).toEqual([
      ['suspected COVID-19', 9, null],
      ['confirmed COVID-19 (of suspected)', 8, 9],
      ['recovered', 8, 8],
      ['deceased', 0, 8],
      ['hospitalised', 0, 8],
      ['home isolation care plan', 8, 8],
      ['ICU admission', 0, 8],
      ['ICU admission (of hospitalised)', 0, 0],
      ['ventilated', 0, 8],
    ]);

    const out = path.join(h.dir, 'release-covid19');
    const r = await cli(analyse, ['covid19', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = released(out, 'covid19.json');
    expect(json.rows.map((x: any) => [x.metric, x.patients, x.of_patients, x.percent])).toEqual([
      ['suspected COVID-19', 10, null, null],
      ['confirmed COVID-19 (of suspected)', 10, 10, 100],
      ['recovered', 10, 10, 100],
      ['deceased', 0, 10, 0],
      ['hospitalised', 0, 10, 0],
      ['home isolation care plan', 10, 10, 100],
      ['ICU admission', 0, 10, 0],
      ['ICU admission (of hospitalised)', 0, 0, null],
      ['ventilated', 0, 10, 0],
    ]);
    const record = released(out, 'covid19.release.json');
    expect(record).toMatchObject({ analysis: 'covid19', study: 'covid19-pht', output: 'aggregate', policy: { threshold: 8, rounding: 5 }, cellsRedacted: 0, releasedBy: 'analyst@test' });
    expect(record.rules.find((x: any) => x.rule === 'rounding').cells).toBe(11);
    const trail = (await readAuditRecords(new FileAuditStore(localAuditDir(h.dir)))) as any[];
    expect(trail.map((x) => x.subtype[0].code)).toEqual(['analysis-run', 'analysis-release']);
    // for docs/safe-analysis.md and the README
    // eslint-disable-next-line no-console
    console.log(`npm run analyse -- covid19 (released):\n${r.out}`);
  });

  test('under a stricter study (threshold 10) the same figures come out redacted', async () => {
    const reg = path.join(h.dir, 'strict-registry');
    fs.mkdirSync(reg, { recursive: true });
    fs.copyFileSync(path.join(REPO, 'analyses/covid19.sql'), path.join(reg, 'covid19.sql'));
    const meta = fs.readFileSync(path.join(REPO, 'analyses/covid19.yaml'), 'utf8').replace(/^(approvedBy|approvedAt|sqlSha256|specSha256):.*\n/gm, '');
    fs.writeFileSync(path.join(reg, 'covid19.yaml'), meta.replace('study: covid19-pht', 'study: strict'));
    fs.writeFileSync(path.join(reg, 'studies.yaml'), 'studies:\n  strict:\n    threshold: 10\n');
    expect((await cli(approve, ['covid19', '--by', 'Dee Guardian'], { ANALYSES_DIR: reg })).code).toBe(0);
    const out = path.join(h.dir, 'release-strict');
    const r = await cli(analyse, ['covid19', '--out', out], { ANALYSES_DIR: reg });
    expect(r.code).toBe(0);
    const rows = released(out, 'covid19.json').rows.map((x: any) => [x.patients, x.of_patients, x.percent]);
    expect(rows).toEqual([
      ['[REDACTED]', null, null],
      ['[REDACTED]', '[REDACTED]', '[REDACTED]'],
      ['[REDACTED]', '[REDACTED]', '[REDACTED]'],
      [0, '[REDACTED]', '[REDACTED]'],
      [0, '[REDACTED]', '[REDACTED]'],
      ['[REDACTED]', '[REDACTED]', '[REDACTED]'],
      [0, '[REDACTED]', '[REDACTED]'],
      [0, 0, null],
      [0, '[REDACTED]', '[REDACTED]'],
    ]);
    expect(released(out, 'covid19.release.json').cellsRedacted).toBe(18);
    // eslint-disable-next-line no-console
    console.log(`npm run analyse -- covid19 under a study with threshold 10:\n${formatTable(released(out, 'covid19.json'))}`);
  });

  test('a row-level extract under two studies: per-study pseudonyms over real lake pseudonyms, no lake id in the files', async () => {
    const reg = path.join(h.dir, 'row-registry');
    fs.mkdirSync(reg, { recursive: true });
    const sql = `SELECT c.patient_id, c.id AS condition_id, c.onset_datetime, p.birth_year, p.gender, c._lake_key
FROM condition c JOIN patient p ON p.id = c.patient_id
WHERE c.code = '840539006' ORDER BY c.patient_id, c.id\n`;
    fs.writeFileSync(path.join(reg, 'studies.yaml'), 'studies:\n  study-a: {}\n  study-b: {}\n');
    for (const s of ['a', 'b']) {
      fs.writeFileSync(path.join(reg, `cohort-${s}.sql`), sql);
      fs.writeFileSync(
        path.join(reg, `cohort-${s}.yaml`),
        `id: cohort-${s}\npurpose: Confirmed COVID-19 cohort\nstudy: study-${s}\noutput: row-level\nrowLevel:\n  person: [patient_id]\n  ids: [condition_id]\n  dates: { method: shift, maxDays: 60 }\n`,
      );
      expect((await cli(approve, [`cohort-${s}`, '--by', 'Dee Guardian'], { ANALYSES_DIR: reg })).code).toBe(0);
    }
    const run = async (id: string, dir: string): Promise<any> => {
      const r = await cli(analyse, [id, '--out', path.join(h.dir, dir)], { ANALYSES_DIR: reg });
      expect(r.err).toBe('');
      return released(path.join(h.dir, dir), `${id}.json`);
    };
    const a1 = await run('cohort-a', 'ra1');
    const a2 = await run('cohort-a', 'ra2');
    const b = await run('cohort-b', 'rb');
    const [raw] = await runQuery(sql, localCatalogFile(h.dir));
    const lake = raw!.rows.map((r) => r.patient_id as string);
    expect(lake).toHaveLength(8);
    expect(new Set(lake).size).toBe(8);
    expect(a1.columns).toEqual(['patient_id', 'condition_id', 'onset_datetime', 'birth_year', 'gender']); // _lake_key dropped
    for (let i = 0; i < lake.length; i++) {
      expect(a1.rows[i].patient_id).toBe(a2.rows[i].patient_id); // stable across runs within a study
      expect(b.rows[i].patient_id).not.toBe(a1.rows[i].patient_id); // different in another study
      expect([a1.rows[i].patient_id, b.rows[i].patient_id]).not.toContain(lake[i]); // never the lake pseudonym
      expect(a1.rows[i].onset_datetime).not.toBe(raw!.rows[i]!.onset_datetime); // shifted
    }
    // a scan of every released file: no lake pseudonym of the marts, no lake id, no lake object key
    const [patients] = await runQuery('SELECT DISTINCT id FROM patient_history', localCatalogFile(h.dir));
    const lakeIds = [...patients!.rows.map((r) => r.id as string), ...raw!.rows.map((r) => r.condition_id as string), ...raw!.rows.map((r) => r._lake_key as string)];
    for (const dir of ['ra1', 'rb']) {
      for (const f of fs.readdirSync(path.join(h.dir, dir))) {
        const text = fs.readFileSync(path.join(h.dir, dir, f), 'utf8');
        const leaked = lakeIds.filter((id) => text.includes(id));
        expect({ file: f, leaked }).toEqual({ file: f, leaked: [] });
      }
    }
  });
});

if (!haveSample) test.skip('the shared COVID-19 sample is not available', () => undefined);
