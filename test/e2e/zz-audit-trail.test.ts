/**
 * Runs LAST in the e2e suite (see sequencer.js): every request the suite made, accepted or refused, has exactly
 * one audit record; the chain verifies with `npm run audit:verify`'s code, and fails after one record is edited.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main as auditVerify } from '../../scripts/audit-verify';
import { stack } from './helpers';

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
  // the server's own access log: serverless-offline prints one "METHOD /path (λ: function)" line per request
  const log = fs.readFileSync(logFile, 'utf8');
  const served = log.split('\n').filter((l) => /^(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|ANY) \/\S* \(λ: \w+\)/.test(l)).length;
  const files = auditFiles(path.join(dataDir, 'audit'));
  const records = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  const requestIds = records.map((r) => r.entity?.find((e: any) => e.what?.identifier?.system?.endsWith('request-id'))?.what.identifier.value);
  // eslint-disable-next-line no-console
  console.log(`audit trail: ${served} requests served, ${records.length} audit records`);
  expect(served).toBeGreaterThan(50);
  expect(records.length).toBe(served);
  expect(requestIds.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
  expect(new Set(requestIds).size).toBe(records.length);
  for (const r of records) expect(r.resourceType).toBe('AuditEvent');

  const lines: string[] = [];
  const ok = await auditVerify(['--data-dir', dataDir], { stdout: (l: string) => lines.push(l), stderr: (l: string) => lines.push(l) });
  expect(ok).toBe(0);

  // tamper with one record of a copy: verification must fail
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-audit-'));
  fs.cpSync(path.join(dataDir, 'audit'), path.join(copy, 'audit'), { recursive: true });
  const victim = auditFiles(path.join(copy, 'audit'))[Math.floor(files.length / 2)];
  const rec = JSON.parse(fs.readFileSync(victim, 'utf8'));
  rec.recorded = '2000-01-01T00:00:00Z';
  fs.writeFileSync(victim, JSON.stringify(rec));
  const bad = await auditVerify(['--data-dir', copy], { stdout: () => undefined, stderr: () => undefined });
  expect(bad).not.toBe(0);
});
