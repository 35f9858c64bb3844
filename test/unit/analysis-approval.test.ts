/**
 * Approvals and refusals through the two CLIs (`npm run analysis:approve`, `npm run analyse`) over a registry in a
 * temporary folder and the local hash-chained audit trail: an unapproved analysis, and an approved one whose SQL
 * (or metadata) was edited afterwards, are refused, naming the rule, and audited; nothing is written for them.
 * The marts are a stub here (analysis-covid19.test.ts runs over real ones).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main as analyse } from '../../scripts/analyse';
import { main as approve } from '../../scripts/approve-analysis';
import { readAuditRecords, verifyAuditTrail } from '../../src/core/audit';
import { FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';
import { specSha256, sqlSha256, type MartQuery } from '../../src/core/analysis';
import YAML from 'yaml';

const SQL = `-- beds per ward\nSELECT ward, count(*) AS n FROM encounter GROUP BY ward\n`;
const META = `# a comment that is not part of the approval
id: beds
purpose: Beds per ward, for capacity planning.
study: capacity
output: aggregate
requestedBy: ann.analyst
`;

let dir: string;
let dataDir: string;
let registry: string;
const marts: MartQuery = {
  run: async (sql) =>
    /patient_history/.test(sql)
      ? { columns: ['id'], rows: [{ id: 'p-lake1' }] }
      : { columns: ['ward', 'n'], rows: [{ ward: 'A', n: 5 }, { ward: 'B', n: 23 }, { ward: 'C', n: 0 }] },
};

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'analysis-approval-'));
  dataDir = path.join(dir, 'data');
  registry = path.join(dir, 'analyses');
  fs.mkdirSync(registry);
  fs.writeFileSync(path.join(registry, 'beds.sql'), SQL);
  fs.writeFileSync(path.join(registry, 'beds.yaml'), META);
  fs.writeFileSync(path.join(registry, 'studies.yaml'), 'studies:\n  capacity:\n    title: Capacity\n');
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const env = (): NodeJS.ProcessEnv => ({ DATA_DIR: dataDir, ANALYSES_DIR: registry, TRIBUTARY_RUNTIME: 'local' });

async function cli(fn: typeof analyse | typeof approve, argv: string[], who = 'ann.analyst'): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await fn(argv, { env: env(), who, overrides: { marts }, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

/** The analysis audit records appended so far (the chain verified on the way). */
async function auditTrail(): Promise<any[]> {
  const store = new FileAuditStore(localAuditDir(dataDir));
  const records = await readAuditRecords(store);
  expect((await verifyAuditTrail(store)).ok).toBe(true);
  return (records as any[]).filter((r) => r.subtype?.[0]?.code?.startsWith('analysis-'));
}
const summary = (r: any): string => `${r.subtype[0].code} ${r.outcome}${r.outcomeDesc ? ` ${r.outcomeDesc}` : ''}`;
const released = (): string[] => (fs.existsSync(path.join(dataDir, 'releases')) ? fs.readdirSync(path.join(dataDir, 'releases'), { recursive: true }).map(String) : []);

test('an unapproved analysis is refused, naming the rule, audited, and nothing is written', async () => {
  const r = await cli(analyse, ['beds']);
  expect(r.code).toBe(3);
  expect(r.err).toMatch(/^refused by rule approval-missing: analysis beds has not been approved/);
  expect((await auditTrail()).map(summary)).toEqual(['analysis-run 4 refused by rule approval-missing']);
  const [rec] = await auditTrail();
  expect(rec.agent[0].who.identifier.value).toBe('ann.analyst');
  expect(rec.entity[0].what.identifier.value).toBe('beds');
  expect(rec.entity[0].detail).toContainEqual({ type: 'sqlSha256', valueString: sqlSha256(SQL) });
  expect(released()).toEqual([]);
});

test('an SQL file without metadata, and an unknown analysis, are refused and audited', async () => {
  fs.writeFileSync(path.join(registry, 'loose.sql'), 'SELECT 1 AS n');
  expect((await cli(analyse, ['loose'])).err).toMatch(/refused by rule approval-missing: analysis loose has no metadata/);
  const unknown = await cli(analyse, ['nope']);
  expect(unknown.code).toBe(3);
  expect(unknown.err).toMatch(/refused by rule analysis-unknown/);
  expect((await auditTrail()).map(summary)).toEqual(['analysis-run 4 refused by rule approval-missing', 'analysis-run 4 refused by rule analysis-unknown']);
});

test('approval records the SQL and metadata digests and is audited; the approved analysis runs and is released', async () => {
  const a = await cli(approve, ['beds', '--by', 'Dee Guardian'], 'dee@host');
  expect(a.code).toBe(0);
  const meta = YAML.parse(fs.readFileSync(path.join(registry, 'beds.yaml'), 'utf8'));
  expect(meta).toMatchObject({ approvedBy: 'Dee Guardian', sqlSha256: sqlSha256(SQL), specSha256: specSha256(YAML.parse(META)) });
  expect(Date.parse(meta.approvedAt)).not.toBeNaN();
  expect(fs.readFileSync(path.join(registry, 'beds.yaml'), 'utf8')).toMatch(/^# a comment that is not part of the approval\n/);

  const r = await cli(analyse, ['beds']);
  expect(r.code).toBe(0);
  expect(r.out).toContain('[REDACTED]');
  expect(r.out).toMatch(/small-count: counts from 1 to 7 redacted/);
  expect((await auditTrail()).map(summary)).toEqual(['analysis-approve 0', 'analysis-run 0', 'analysis-release 0']);
  const [approval, , release] = await auditTrail();
  expect(approval.agent[0].who.identifier.value).toBe('dee@host');
  expect(approval.entity[0].detail).toContainEqual({ type: 'approvedBy', valueString: 'Dee Guardian' });
  expect(release.entity[0].detail).toContainEqual({ type: 'cellsRedacted', valueString: '1' });

  const files = released().filter((f) => /\.(csv|json)$/.test(f));
  expect(files.map((f) => path.basename(f)).sort()).toEqual(['beds.csv', 'beds.json', 'beds.release.json']);
  const csv = fs.readFileSync(path.join(dataDir, 'releases', files.find((f) => f.endsWith('.csv'))!), 'utf8');
  expect(csv).toBe('ward,n\r\nA,[REDACTED]\r\nB,25\r\nC,0\r\n');
  const record = JSON.parse(fs.readFileSync(path.join(dataDir, 'releases', files.find((f) => f.endsWith('release.json'))!), 'utf8'));
  expect(record).toMatchObject({ analysis: 'beds', study: 'capacity', sqlSha256: sqlSha256(SQL), approvedBy: 'Dee Guardian', releasedBy: 'ann.analyst', cellsRedacted: 1 });
  expect(record.redactions).toEqual([{ row: 0, column: 'n', rule: 'small-count' }]);
  expect(record.files.map((f: any) => f.name)).toEqual(['beds.csv', 'beds.json']);
});

test('an approved analysis whose SQL was edited afterwards is refused, naming the rule, and audited', async () => {
  expect((await cli(approve, ['beds', '--by', 'Dee Guardian'])).code).toBe(0);
  fs.writeFileSync(path.join(registry, 'beds.sql'), SQL.replace('count(*)', 'count(DISTINCT patient_id)'));
  const r = await cli(analyse, ['beds', '--out', path.join(dir, 'out')]);
  expect(r.code).toBe(3);
  expect(r.err).toMatch(/^refused by rule approval-sql-changed: the SQL of beds has changed since Dee Guardian approved it/);
  expect((await auditTrail()).map(summary)).toEqual(['analysis-approve 0', 'analysis-run 4 refused by rule approval-sql-changed']);
  expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
});

test('an approved analysis whose metadata was edited is refused; editing a comment is not a change', async () => {
  expect((await cli(approve, ['beds', '--by', 'Dee Guardian'])).code).toBe(0);
  const file = path.join(registry, 'beds.yaml');
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('# a comment', '# an edited comment'));
  expect((await cli(analyse, ['beds'])).code).toBe(0);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('output: aggregate', 'output: aggregate\ncolumns:\n  groups: [ward]\n  counts: [n]'));
  const r = await cli(analyse, ['beds']);
  expect(r.code).toBe(3);
  expect(r.err).toMatch(/refused by rule approval-spec-changed/);
});

test('the approver cannot be the analyst who asked (four eyes); the refusal is audited', async () => {
  const r = await cli(approve, ['beds', '--by', 'Ann.Analyst']);
  expect(r.code).toBe(3);
  expect(r.err).toMatch(/refused by rule approval-four-eyes/);
  expect(YAML.parse(fs.readFileSync(path.join(registry, 'beds.yaml'), 'utf8')).approvedBy).toBeUndefined();
  expect((await auditTrail()).map(summary)).toEqual(['analysis-approve 4 refused by rule approval-four-eyes']);
});

test('only one SELECT statement can be approved; a study cannot go below the deployment minimum threshold', async () => {
  fs.writeFileSync(path.join(registry, 'beds.sql'), 'SELECT 1 AS n; COPY patient TO \'/tmp/x.csv\'');
  expect((await cli(approve, ['beds', '--by', 'Dee'])).err).toMatch(/refused by rule select-only/);
  fs.writeFileSync(path.join(registry, 'beds.sql'), SQL);
  fs.writeFileSync(path.join(registry, 'studies.yaml'), 'studies:\n  capacity:\n    threshold: 3\n');
  expect((await cli(approve, ['beds', '--by', 'Dee'])).err).toMatch(/refused by rule threshold-floor: study capacity sets threshold 3, below this deployment's minimum 8/);
  fs.writeFileSync(path.join(registry, 'studies.yaml'), 'studies:\n  capacity:\n    threshold: 11\n');
  expect((await cli(approve, ['beds', '--by', 'Dee'])).code).toBe(0);
  const r = await cli(analyse, ['beds', '--json']);
  expect(JSON.parse(r.out)).toMatchObject({ policy: { threshold: 11, rounding: 5 }, cellsRedacted: 1 });
});

test('usage errors exit 2', async () => {
  expect((await cli(analyse, [])).code).toBe(2);
  expect((await cli(approve, ['beds'])).code).toBe(2);
  expect((await cli(analyse, ['beds', '--bogus'])).code).toBe(2);
});
