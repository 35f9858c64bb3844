/**
 * Runs LAST in the e2e suite (see sequencer.js): every request the suite made, accepted or refused, has exactly
 * one audit record; the per-writer chains and their anchors verify with `npm run audit:verify`'s code, and
 * verification fails after one record is edited, after a chain is cut short below its last anchor, and after the
 * anchor chain loses its last anchor.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main as auditVerify } from '../../scripts/audit-verify';
import { collectIdentifiers, findLeaks, type IdentifierValue } from '../../src/fhir/pseudo';
import { E2E_SOURCE, hasShared, readAll, SHARED, stack } from './helpers';

function auditFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.json')) out.push(p);
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return out.sort();
}

test('one audit record per request of the whole e2e suite, a valid hash chain, and tamper detection', async () => {
  // give the last requests' audit writes a moment to land
  await new Promise((r) => setTimeout(r, 500));
  const { dataDir, logFile } = stack();
  // the server's own access log: serverless-offline prints one "METHOD (λ: function)" line per request (its path is
  // removed by serverless-plugins/offline-request-log.cjs: no client id in a log)
  const log = fs.readFileSync(logFile, 'utf8');
  const served = log.split('\n').filter((l) => /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|ANY) \(λ: \w+\)$/.test(l)).length;
  // the records: every writer chain (audit/chains/{writer}/{sequence}.json); anchors are in audit/anchors/
  const files = auditFiles(path.join(dataDir, 'audit', 'chains'));
  const records = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const requestIdOf = (r: any): string | undefined =>
    r.entity?.find((e: any) => e.what?.identifier?.system?.endsWith('request-id'))?.what.identifier.value;
  // HTTP requests carry their request id; bulk-import chunks and jobs carry theirs (`imp-{job}-{file}-{chunk}`,
  // `imp-{job}`: no HTTP request of their own, src/core/import/); the other records are re-identifications
  const isImport = (id: string | undefined): boolean => id !== undefined && id.startsWith('imp-');
  const httpRecords = records.filter((r) => requestIdOf(r) !== undefined && !isImport(requestIdOf(r)));
  const importRecords = records.filter((r) => isImport(requestIdOf(r)));
  const others = records.filter((r) => requestIdOf(r) === undefined);
  // eslint-disable-next-line no-console
  console.log(`audit trail: ${served} requests served, ${httpRecords.length} request audit records, ${importRecords.length} bulk-import records, ${others.length} re-identification records`);
  expect(served).toBeGreaterThan(50);
  expect(httpRecords.length).toBe(served);
  expect(new Set(httpRecords.map(requestIdOf)).size).toBe(httpRecords.length);
  // bulk import: one record per chunk and one per job, each once; every chunk's job has its record
  const importIds = importRecords.map((r) => requestIdOf(r)!);
  expect(new Set(importIds).size).toBe(importIds.length);
  // a job's record is an `operation`; a chunk's is its `batch` or `transaction`, under `imp-{job}-{file}-{chunk}`
  const isJob = (r: any): boolean => r.subtype?.[0]?.code === 'operation';
  const jobs = new Set(importRecords.filter(isJob).map((r) => requestIdOf(r)!));
  const chunks = importRecords.filter((r) => !isJob(r)).map((r) => requestIdOf(r)!);
  for (const id of chunks) expect(jobs.has(id.replace(/-\d+-\d+$/, ''))).toBe(true);
  // eslint-disable-next-line no-console
  console.log(`bulk import: ${jobs.size} jobs, ${chunks.length} chunks, each audited once`);
  for (const r of others) expect(JSON.stringify(r)).toMatch(/reidentif/i);
  for (const r of records) expect(r.resourceType).toBe('AuditEvent');

  const lines: string[] = [];
  const ok = await auditVerify(['--data-dir', dataDir], { stdout: (l: string) => lines.push(l), stderr: (l: string) => lines.push(l) });
  // eslint-disable-next-line no-console
  console.log(lines.filter((l) => !l.startsWith('chain ')).join('\n'));
  expect(ok).toBe(0);
  const chains = lines.filter((l) => l.startsWith('chain '));
  expect(chains.length).toBeGreaterThan(0);
  expect(chains.every((l) => l.endsWith(': OK'))).toBe(true);
  expect(fs.readdirSync(path.join(dataDir, 'audit', 'anchors')).length).toBeGreaterThan(0);

  // tamper with one record of a copy: verification must fail
  const copyOf = (): string => {
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-audit-'));
    fs.cpSync(path.join(dataDir, 'audit'), path.join(copy, 'audit'), { recursive: true });
    return copy;
  };
  const verifyCopy = async (copy: string): Promise<{ code: number; err: string[] }> => {
    const err: string[] = [];
    const code = await auditVerify(['--data-dir', copy, '--quiet'], { stdout: () => undefined, stderr: (l: string) => err.push(l) });
    fs.rmSync(copy, { recursive: true, force: true });
    return { code, err };
  };
  // 1. one record edited
  const edited = copyOf();
  const victim = auditFiles(path.join(edited, 'audit', 'chains'))[Math.floor(files.length / 2)];
  const rec = JSON.parse(fs.readFileSync(victim, 'utf8'));
  rec.recorded = '2000-01-01T00:00:00Z';
  fs.writeFileSync(victim, JSON.stringify(rec));
  expect((await verifyCopy(edited)).code).toBe(1);
  // 2. the longest chain cut short: every record from its last anchored count on removed
  const anchors = fs.readdirSync(path.join(dataDir, 'audit', 'anchors')).sort().map((f) => JSON.parse(fs.readFileSync(path.join(dataDir, 'audit', 'anchors', f), 'utf8')));
  const lastCount = new Map<string, number>();
  for (const a of anchors) for (const c of a.chains) lastCount.set(c.writer, Math.max(lastCount.get(c.writer) ?? 0, c.count));
  const [writer, count] = [...lastCount.entries()].sort((a, b) => b[1] - a[1])[0];
  const cut = copyOf();
  const chainDir = path.join(cut, 'audit', 'chains', writer);
  for (const f of fs.readdirSync(chainDir)) if (Number(f.slice(0, 12)) >= count) fs.rmSync(path.join(chainDir, f));
  const truncated = await verifyCopy(cut);
  expect(truncated.code).toBe(1);
  expect(truncated.err.join('\n')).toMatch(/\(truncated\)|\(deleted\)/);
  // 3. the anchor chain cut short: its last anchor removed; a later record refers to it, or a chain's count is lost
  const anchorCut = copyOf();
  const anchorDir = path.join(anchorCut, 'audit', 'anchors');
  const lastAnchor = fs.readdirSync(anchorDir).sort().at(-1)!;
  fs.rmSync(path.join(anchorDir, lastAnchor));
  const afterAnchorCut = await verifyCopy(anchorCut);
  // detected exactly when some record was sealed after that anchor (it names it); otherwise the anchor was itself
  // in the window (docs/audit.md), and its records show up as unanchored
  const cutSeq = Number(lastAnchor.slice(0, 12));
  const chainOf = (r: any) => r.extension.find((e: any) => e.url.endsWith('/audit-chain')).extension;
  const referenced = records.some((r) => chainOf(r).some((e: any) => e.url === 'anchor' && e.valueUnsignedInt === cutSeq));
  // eslint-disable-next-line no-console
  console.log(`anchor chain cut at ${cutSeq}: referenced by a later record: ${referenced}; audit:verify exit ${afterAnchorCut.code}`);
  expect(afterAnchorCut.code).toBe(referenced ? 1 : 0);
});

test('no log line, audit record or lake object contains an identifier the suite sent', async () => {
  const { dataDir, logFile } = stack();
  const valuesFile = path.join(dataDir, 'planted-values.json');
  const values: (IdentifierValue | string)[] = fs.existsSync(valuesFile) ? JSON.parse(fs.readFileSync(valuesFile, 'utf8')) : [];
  if (hasShared) {
    const dir = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      values.push(...collectIdentifiers(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))));
    }
  }
  expect(values.length).toBeGreaterThan(60);
  // the region name in serverless-offline's banner ("eu-west-2") would match the surname West
  const log = fs.readFileSync(logFile, 'utf8').replaceAll('eu-west-2', '');
  // records and anchors alike (anchors hold writer ids, counts and hashes only)
  const audit = auditFiles(path.join(dataDir, 'audit')).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  expect(findLeaks(log, values)).toEqual([]);
  expect(findLeaks(audit, values)).toEqual([]);
  // The whole lake against every request's values: single words (given names, family names, cities) are left
  // out of this cross-request scan, because they legitimately occur in OTHER requests' non-personal text
  // ("QUEEN ELIZABETH HOSPITAL", "ST JAMES'S", a "Brain" SNOMED display for patient "Brain Erdman").
  // Names are checked against the objects of their own request in pseudonymisation.test.ts and, for every
  // corpus, in test/unit/pseudo-corpus.test.ts. Everything else (identifiers, telecom, addresses, postcodes,
  // birth dates, planted values) must be absent from the whole lake.
  // (one copy of the Synthea set is enough: the lake objects and mart files of the default e2e source, which
  // holds synthea.test.ts's 36,308 resources and the REST tests' writes; the marts test re-ingests the same data)
  const lake = [...(await readAll('raw/'))].filter(([k]) => k.includes(`/source=${E2E_SOURCE}/`)).map(([, v]) => v).join('\n');
  // Five-digit US ZIP codes (Synthea) are left out of the cross-request scan too: they collide with codes in other
  // requests' clinical data (the HL7 ChargeItemDefinition example bills German EBM code "01510", a Massachusetts
  // ZIP). Each ZIP is still hunted in its own request's objects (pseudonymisation.test.ts, pseudo-corpus.test.ts).
  const crossRequest = values.filter(
    (v) => typeof v === 'string' || (v.kind !== 'city' && v.kind !== 'name' && !(v.kind === 'postcode' && /^\d{5}$/.test(v.value.trim()))),
  );
  // the marts, when the ETL has written any: every row of every Parquet file, as JSON text
  let marts = '';
  const martsDir = path.join(dataDir, 'marts');
  if (fs.existsSync(martsDir)) {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const con = await db.connect();
    const views = fs
      .readdirSync(martsDir, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.parquet') && f.includes(`source=${E2E_SOURCE}`));
    const byView = new Map<string, string[]>();
    for (const f of views) byView.set(f.split(path.sep)[0], [...(byView.get(f.split(path.sep)[0]) ?? []), path.join(martsDir, f)]);
    for (const files of byView.values()) {
      const r = await con.runAndReadAll(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet([${files.map((f) => `'${f}'`).join(',')}], union_by_name=true) t`);
      marts += r.getRows().map((row) => String(row[0])).join('\n');
    }
    con.closeSync();
  }
  const leaks = findLeaks(lake, crossRequest);
  // the mart rows against the values the suite planted and sent itself (planted set, UK Core): the marts are
  // computed from the lake objects scanned above, and one alternation regex over every Synthea value across
  // tens of MB of rows would take minutes
  const sent = values.slice(0, fs.existsSync(valuesFile) ? JSON.parse(fs.readFileSync(valuesFile, 'utf8')).length : 0);
  const martLeaks = findLeaks(marts, sent.filter((v) => typeof v === 'string' || (v.kind !== 'city' && v.kind !== 'name')));
  expect(martLeaks).toEqual([]);
  // eslint-disable-next-line no-console
  console.log(`whole-suite scan: ${values.length} identifying values, ${Math.round(lake.length / 1e6)} MB of lake, ${Math.round(marts.length / 1e6)} MB of mart rows, ${Math.round(log.length / 1e3)} kB of logs: ${leaks.length} found`);
  expect(leaks).toEqual([]);
});
