/**
 * scripts/reidentify.ts: prints the original identifiers held for a pseudonym and appends an AuditEvent (who,
 * when, which pseudonym, outcome) that carries no identifier. End to end: engine → local vault → reidentify.
 */
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AuditEntry, AuditLog, IdentityVault, ObjectHead, ObjectStore } from '../../src/core/ports';
import { createLocalIdentityVault } from '../../src/adapters/local/identity-vault';
import { createPseudonymiser, parsePolicy } from '../../src/fhir/pseudo';
import { main } from '../../scripts/reidentify';

/** In-memory ObjectStore. */
class MemStore implements ObjectStore {
  readonly name = 'mem-identity';
  readonly objects = new Map<string, Uint8Array>();
  async put(key: string, body: Uint8Array | string) {
    this.objects.set(key, typeof body === 'string' ? Buffer.from(body) : Buffer.from(body));
  }
  async get(key: string) {
    return this.objects.get(key);
  }
  async head(key: string): Promise<ObjectHead | undefined> {
    const b = this.objects.get(key);
    return b ? { key, size: b.length, metadata: {} } : undefined;
  }
  async list(prefix: string) {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
  async copy(a: string, b: string) {
    const v = this.objects.get(a);
    if (v) this.objects.set(b, v);
  }
  async delete(keys: string[]) {
    for (const k of keys) this.objects.delete(k);
  }
}

class MemAudit implements AuditLog {
  readonly entries: AuditEntry[] = [];
  async append(e: AuditEntry) {
    this.entries.push(e);
  }
}

const clock = { now: () => new Date('2024-06-01T09:30:00Z') };
const planted = path.resolve(__dirname, '../fixtures/planted');

async function ingest(): Promise<{ vault: IdentityVault; pseudonym: string }> {
  const p = await createPseudonymiser({
    policy: parsePolicy(readFileSync(path.resolve(__dirname, '../../policy/pseudonymisation.yaml'), 'utf8')),
    keys: { keyVersion: 'k1', mac: async (m) => createHmac('sha256', 'reid').update(m).digest('hex') },
  });
  const vault = await createLocalIdentityVault({ store: new MemStore(), dataDir: mkdtempSync(path.join(os.tmpdir(), 'tributary-reid-')) });
  let pseudonym = '';
  for (const [file, source] of [['transaction-gp.json', 'gp'], ['observation-hospital.json', 'hospital']]) {
    const r = await p.pseudonymise(JSON.parse(readFileSync(path.join(planted, file!), 'utf8')), { source: source! });
    for (const id of r.identities) await vault.put(id.pseudonym, id.source, id.record);
    pseudonym = r.resources[0]!.id!;
  }
  return { vault, pseudonym };
}

test('returns the original identifiers from every source and writes an audit record without them', async () => {
  const { vault, pseudonym } = await ingest();
  const audit = new MemAudit();
  const out: string[] = [];
  const code = await main([pseudonym, '--purpose', 'PATRQT'], { vault, audit, who: 'analyst@trust.nhs.uk', clock, out: (t) => out.push(t), err: () => {} });
  expect(code).toBe(0);
  const printed = JSON.parse(out.join('\n'));
  expect(printed.pseudonym).toBe(pseudonym);
  expect(printed.records.map((r: any) => r.source).sort()).toEqual(['gp', 'hospital']);
  const gp = printed.records.find((r: any) => r.source === 'gp').record;
  const ids = gp.elements.find((e: any) => e.path === 'Patient.identifier').value;
  expect(ids).toContainEqual({ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '943 476 5919' });
  expect(gp.elements.find((e: any) => e.path === 'Patient.name').value[0].family).toBe('Featherstonehaugh');
  expect(gp.sourceIds).toEqual(['Patient/gp-patient-55501234']);
  const hosp = printed.records.find((r: any) => r.source === 'hospital').record;
  expect(hosp.elements.find((e: any) => e.path === 'Patient.name').value[0].family).toBe('FEATHERSTONEHAUGH');

  expect(audit.entries).toHaveLength(1);
  const ev = audit.entries[0]!;
  expect(ev).toMatchObject({
    resourceType: 'AuditEvent',
    action: 'R',
    recorded: '2024-06-01T09:30:00.000Z',
    outcome: '0',
    agent: [{ who: { identifier: { value: 'analyst@trust.nhs.uk' } }, requestor: true }],
    entity: [{ what: { identifier: { value: pseudonym } }, detail: [{ type: 'identity-records', valueString: '2' }] }],
    purposeOfEvent: [{ coding: [{ code: 'PATRQT' }] }],
  });
  const text = JSON.stringify(ev);
  for (const secret of ['9434765919', '943 476 5919', 'Featherstonehaugh', 'FEATHERSTONEHAUGH', 'Oluwaseun', 'gp-patient-55501234', '1984-03-17']) expect(text).not.toContain(secret);
});

test('an unknown pseudonym is audited as a minor failure and prints nothing', async () => {
  const { vault } = await ingest();
  const audit = new MemAudit();
  const out: string[] = [];
  const err: string[] = [];
  expect(await main(['p-unknown'], { vault, audit, who: 'analyst', clock, out: (t) => out.push(t), err: (t) => err.push(t) })).toBe(1);
  expect(out).toEqual([]);
  expect(err.join()).toMatch(/no identity record for p-unknown/);
  expect(audit.entries).toMatchObject([{ outcome: '4', entity: [{ what: { identifier: { value: 'p-unknown' } } }] }]);
});

test('vault errors are audited as serious failures; audit failures reveal nothing; usage errors', async () => {
  const audit = new MemAudit();
  const broken: IdentityVault = { stage: async () => {}, promote: async () => {}, discard: async () => {}, get: async () => Promise.reject(new Error('cannot decrypt 9434765919')) };
  const err: string[] = [];
  expect(await main(['p-x'], { vault: broken, audit, who: 'a', clock, out: () => {}, err: (t) => err.push(t) })).toBe(1);
  expect(audit.entries).toMatchObject([{ outcome: '8' }]);
  expect(err.join()).not.toContain('9434765919');

  const { vault, pseudonym } = await ingest();
  const out: string[] = [];
  const failing: AuditLog = { append: async () => Promise.reject(new Error('audit bucket unavailable')) };
  await expect(main([pseudonym], { vault, audit: failing, who: 'a', clock, out: (t) => out.push(t), err: () => {} })).rejects.toThrow('audit bucket unavailable');
  expect(out).toEqual([]);

  for (const argv of [[], ['--purpose'], ['../x'], ['p-1', 'p-2'], ['p-1', '--purpose', 'treat me']]) {
    expect(await main(argv, { vault, audit: new MemAudit(), who: 'a', out: () => {}, err: () => {} })).toBe(2);
  }
  expect(await main(['p-1'], { vault, audit: new MemAudit(), who: '', out: () => {}, err: () => {} })).toBe(2);
});
