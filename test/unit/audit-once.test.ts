/**
 * Idempotent audit appends (`append(entry, { key })`, src/core/audit/trail.ts): exactly one record per key, across
 * trails (processes), across a crash between the claim and the record (the record is then written at the claimed
 * place on the claimant's behalf), and with a slow claimant racing a helper; every trail still verifies.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildAuditEvent, claimKey, createAuditTrail, readAuditRecords, REQUEST_ID_SYSTEM, verifyAuditTrail, type AuditStore } from '../../src/core/audit';
import { FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';

const entry = (requestId: string) =>
  buildAuditEvent({ time: new Date(), requestId, source: 'gp-feed', clientId: 'client-1', interaction: 'transaction', outcomeStatus: 200 });
const requestIdOf = (record: unknown): string | undefined =>
  (record as { entity: { what?: { identifier?: { system: string; value: string } } }[] }).entity.find((e) => e.what?.identifier?.system === REQUEST_ID_SYSTEM)
    ?.what?.identifier?.value;

let dataDir: string;
let store: FileAuditStore;
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-audit-once-'));
  store = new FileAuditStore(localAuditDir(dataDir));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const recordsOf = async (requestId: string) => (await readAuditRecords(store)).filter((r) => requestIdOf(r) === requestId);

/** A store whose chain-record creates can be made to fail (the process dies after its claim) or wait. */
function controlled(): AuditStore & { failRecords: boolean; hold?: Promise<void> } {
  const s: AuditStore & { failRecords: boolean; hold?: Promise<void> } = {
    name: 'controlled',
    failRecords: false,
    read: (k) => store.read(k),
    exists: (k) => store.exists(k),
    list: (p) => store.list(p),
    create: async (k, b) => {
      if (k.startsWith('chains/')) {
        if (s.failRecords) throw new Error('process killed');
        if (s.hold) await s.hold;
      }
      return store.create(k, b);
    },
  };
  return s;
}

describe('append(entry, { key }): exactly one record per key', () => {
  it('writes one record however often one key is appended, by one trail or several (processes)', async () => {
    const a = createAuditTrail(store, { label: 'a' });
    const b = createAuditTrail(store, { label: 'b' });
    await a.append(entry('r1'), { key: 'r1' });
    await a.append(entry('r1'), { key: 'r1' });
    await b.append(entry('r1'), { key: 'r1' });
    await Promise.all([a.append(entry('r2'), { key: 'r2' }), b.append(entry('r2'), { key: 'r2' }), b.append(entry('r2'), { key: 'r2' })]);
    await a.append(entry('u')); // without a key: as before, one record per call
    await a.append(entry('u'));
    expect(await recordsOf('r1')).toHaveLength(1);
    expect(await recordsOf('r2')).toHaveLength(1);
    expect(await recordsOf('u')).toHaveLength(2);
    expect(await store.exists(claimKey('r1'))).toBe(true);
    expect(await store.exists(claimKey('u'))).toBe(false);
    await Promise.all([a.close(), b.close()]);
    const report = await verifyAuditTrail(store);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(4);
  });

  it('after a crash between claim and record, the next append writes the record at the claimed place, once', async () => {
    const s = controlled();
    const dead = createAuditTrail(s, { label: 'dead', maxWriters: 1 });
    await dead.append(entry('before'), { key: 'before' });
    s.failRecords = true; // the process dies between its claim and its record
    await expect(dead.append(entry('r'), { key: 'r' })).rejects.toThrow(/audit write failed/);
    const claimant = dead.writers()[0].id;
    expect(JSON.parse((await store.read(claimKey('r')))!)).toEqual({ writer: claimant, sequence: 2 });
    expect(await recordsOf('r')).toHaveLength(0);

    // recovery, in another process: a fresh trail, another writer
    const recovery = createAuditTrail(store, { label: 'recovery' });
    const written = await recovery.appendRecord(entry('r'), { key: 'r' });
    expect(written.id).toBe(`${claimant}.000000000002`); // on the claimant's behalf, in its chain
    await recovery.append(entry('r'), { key: 'r' }); // a second recovery pass: nothing more
    await createAuditTrail(store, { label: 'third' }).append(entry('r'), { key: 'r' });
    expect(await recordsOf('r')).toHaveLength(1);
    expect(recovery.writers().every((w) => w.count === 0)).toBe(true); // the helper wrote nothing in a chain of its own

    const report = await verifyAuditTrail(store);
    expect(report.ok).toBe(true);
    const chain = report.chains.find((c) => c.writer === claimant)!;
    expect(chain).toMatchObject({ records: 2, anchoredCount: 1, unanchored: 1 }); // the record the claimant never anchored
  });

  it('in the same process (recovery after a failed write), the written record is anchored by the trail', async () => {
    const s = controlled();
    const trail = createAuditTrail(s, { maxWriters: 1 });
    await trail.append(entry('x'));
    s.failRecords = true;
    await expect(trail.append(entry('r'), { key: 'r' })).rejects.toThrow(/audit write failed/);
    s.failRecords = false;
    await trail.append(entry('r'), { key: 'r' });
    await trail.append(entry('r'), { key: 'r' });
    await trail.append(entry('y'));
    await trail.close();
    expect(await recordsOf('r')).toHaveLength(1);
    const report = await verifyAuditTrail(store);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(3);
    expect(report.chains.every((c) => c.unanchored === 0)).toBe(true);
  });

  it('a slow claimant racing a helper: one record, the claimant succeeds and stops using its chain', async () => {
    const s = controlled();
    const slow = createAuditTrail(s, { maxWriters: 1 });
    let go!: () => void;
    s.hold = new Promise<void>((r) => (go = r));
    const pending = slow.append(entry('r'), { key: 'r' });
    for (let i = 0; i < 50 && !(await store.exists(claimKey('r'))); i++) await new Promise((r) => setTimeout(r, 5));
    const helper = createAuditTrail(store);
    await helper.append(entry('r'), { key: 'r' }); // the claimant's record is missing: written on its behalf
    go();
    await expect(pending).resolves.toBeUndefined();
    expect(await recordsOf('r')).toHaveLength(1);
    expect(slow.writers()[0].retired).toBe(true);
    s.hold = undefined;
    await slow.append(entry('next'), { key: 'next' }); // a fresh writer
    expect(slow.writers().map((w) => w.count)).toEqual([1, 1]);
    expect((await verifyAuditTrail(store)).ok).toBe(true);
  });

  it('a claim whose write failed leaves its writer retired (its place may be promised to the key)', async () => {
    let failClaim = true;
    const s: AuditStore = {
      name: 'claims',
      read: (k) => store.read(k),
      exists: (k) => store.exists(k),
      list: (p) => store.list(p),
      create: async (k, b) => {
        if (k.startsWith('requests/') && failClaim) {
          failClaim = false;
          await store.create(k, b); // it landed, but the caller is told it failed
          throw new Error('timeout');
        }
        return store.create(k, b);
      },
    };
    const trail = createAuditTrail(s, { maxWriters: 1 });
    await expect(trail.append(entry('r'), { key: 'r' })).rejects.toThrow(/audit claim failed/);
    await trail.append(entry('other'));
    await trail.append(entry('r'), { key: 'r' });
    expect(await recordsOf('r')).toHaveLength(1);
    expect(await recordsOf('other')).toHaveLength(1);
    await trail.close();
    expect((await verifyAuditTrail(store)).ok).toBe(true);
  });
});
