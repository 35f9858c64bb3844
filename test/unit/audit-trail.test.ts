/**
 * Per-writer audit chains with anchors (src/core/audit/trail.ts) and their verification (src/core/audit/verify.ts),
 * over the real local store (files): no contention between writers, the anchors, the window, and every kind of
 * tampering `npm run audit:verify` must catch (deletion, reordering, truncation after an anchor, a truncated anchor
 * chain, a deleted chain, a moved record, records after a clean close, edits).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import {
  AUDIT_CHAIN_EXTENSION,
  buildAuditEvent,
  chainLinkOf,
  computeRecordHash,
  createAuditTrail,
  readAuditRecords,
  REQUEST_ID_SYSTEM,
  sealAuditRecord,
  verifyAuditTrail,
  type AuditStore,
} from '../../src/core/audit';
import { createLocalAuditLog, FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';
import { main as auditVerifyMain } from '../../scripts/audit-verify';

const entry = (requestId: string) =>
  buildAuditEvent({ time: new Date(), requestId, source: 'gp-feed', clientId: 'client-1', interaction: 'create', outcomeStatus: 201 });

const requestIdOf = (record: unknown): string =>
  (record as { entity: { what?: { identifier?: { system: string; value: string } } }[] }).entity.find((e) => e.what?.identifier?.system === REQUEST_ID_SYSTEM)
    ?.what?.identifier?.value as string;

let dataDir: string;
let store: FileAuditStore;
let n = 0;
const ids = (prefix: string) => () => `${prefix}${++n}`;
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-trail-'));
  store = new FileAuditStore(localAuditDir(dataDir));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const file = (...parts: string[]) => path.join(localAuditDir(dataDir), ...parts);
const recordFile = (writer: string, seq: number) => file('chains', writer, `${String(seq).padStart(12, '0')}.json`);
const anchorFile = (seq: number) => file('anchors', `${String(seq).padStart(12, '0')}.json`);
async function rm(f: string) {
  await fs.rm(f);
}
async function rewrite(f: string, edit: (r: Record<string, any>) => void): Promise<void> {
  const r = JSON.parse(await fs.readFile(f, 'utf8'));
  edit(r);
  await fs.chmod(f, 0o644);
  await fs.writeFile(f, JSON.stringify(r));
}
const rehash = (r: Record<string, any>) => {
  const chain = r.extension.find((e: { url: string }) => e.url === AUDIT_CHAIN_EXTENSION);
  chain.extension = chain.extension.filter((e: { url: string }) => e.url !== 'hash');
  chain.extension.push({ url: 'hash', valueString: computeRecordHash(r) });
};

/** One trail of `count` records with `anchorEvery`; resolves to its writer id. */
async function oneWriter(count: number, anchorEvery = 5, label = 'w'): Promise<string> {
  const trail = createAuditTrail(store, { anchorEvery, writerId: ids(label) });
  for (let i = 0; i < count; i++) await trail.append(entry(`${label}-${i}`));
  return trail.writers()[0]!.id;
}

/** A store that counts conditional writes that lost (the key was taken), by key kind. */
function counting(inner: AuditStore) {
  const lost = { chains: 0, anchors: 0 };
  const creates = { chains: 0, anchors: 0 };
  const s: AuditStore = {
    name: inner.name,
    read: (k) => inner.read(k),
    exists: (k) => inner.exists(k),
    list: (p) => inner.list(p),
    async create(k, body) {
      const kind = k.startsWith('anchors/') ? 'anchors' : 'chains';
      creates[kind]++;
      const ok = await inner.create(k, body);
      if (!ok) lost[kind]++;
      return ok;
    },
  };
  return { store: s, lost, creates };
}

describe('per-writer chains', () => {
  it('writes each writer its own gap-free chain, anchored after its first record and every anchorEvery records', async () => {
    const trail = createAuditTrail(store, { anchorEvery: 5, writerId: () => 'wa' });
    for (let i = 0; i < 12; i++) await trail.append(entry(`r-${i}`));
    expect((await fs.readdir(file('chains', 'wa'))).length).toBe(12);
    // anchors: after record 1 (count 1), after record 6 (5 unanchored), after record 11
    const anchors = await Promise.all((await fs.readdir(file('anchors'))).sort().map(async (f) => JSON.parse(await fs.readFile(file('anchors', f), 'utf8'))));
    expect(anchors.map((a) => a.chains.map((c: any) => `${c.writer}:${c.count}`))).toEqual([['wa:1'], ['wa:6'], ['wa:11']]);
    expect(anchors[1].chains[0].head).toBe(chainLinkOf(JSON.parse(await fs.readFile(recordFile('wa', 6), 'utf8')))!.hash);
    // records name the last anchor that covered their chain
    expect(chainLinkOf(JSON.parse(await fs.readFile(recordFile('wa', 1), 'utf8')))!.anchor).toBeUndefined();
    expect(chainLinkOf(JSON.parse(await fs.readFile(recordFile('wa', 2), 'utf8')))!.anchor).toBe(1);
    expect(chainLinkOf(JSON.parse(await fs.readFile(recordFile('wa', 7), 'utf8')))!.anchor).toBe(2);
    const r = await verifyAuditTrail(store);
    expect(r).toMatchObject({ ok: true, records: 12, anchorChain: { ok: true, count: 3 } });
    expect(r.chains).toEqual([{ writer: 'wa', ok: true, records: 12, anchoredCount: 11, anchors: 3, closed: false, unanchored: 1, problems: [] }]);
    expect((await readAuditRecords(store)).map(requestIdOf)).toEqual(Array.from({ length: 12 }, (_, i) => `r-${i}`));
  });

  it('32 writers appending at once never contend on a record (0 lost conditional writes on chains)', async () => {
    const c = counting(store);
    const trails = Array.from({ length: 32 }, (_, i) => createAuditTrail(c.store, { anchorEvery: 10, label: `t${i}` }));
    await Promise.all(trails.map(async (t, ti) => {
      for (let i = 0; i < 15; i++) await t.append(entry(`${ti}-${i}`));
    }));
    expect(c.creates.chains).toBe(32 * 15);
    expect(c.lost.chains).toBe(0);
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(true);
    expect(r.chains).toHaveLength(32);
    expect(r.records).toBe(480);
    expect(new Set((await readAuditRecords(store)).map(requestIdOf)).size).toBe(480);
    // every chain anchored at least at 1 and 11; the window is under anchorEvery
    for (const ch of r.chains) expect(ch.unanchored).toBeLessThan(10);
  });

  it('gives concurrent appends of one process writers of their own (pool of maxWriters), all verifiable', async () => {
    const trail = createAuditTrail(store, { maxWriters: 4, label: 'api' });
    await Promise.all(Array.from({ length: 40 }, (_, i) => trail.append(entry(`c-${i}`))));
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(true);
    expect(r.chains.length).toBeGreaterThan(1);
    expect(r.chains.length).toBeLessThanOrEqual(4);
    expect(r.records).toBe(40);
    // one process, one pool: a single anchor covers several writers
    expect(trail.writers().every((w) => w.anchoredCount >= 1)).toBe(true);
  });

  it('anchors when the last anchor is older than anchorAfterMs (checked on append)', async () => {
    let t = 0;
    const trail = createAuditTrail(store, { anchorEvery: 1000, anchorAfterMs: 5000, now: () => t, writerId: () => 'wt' });
    await trail.append(entry('a')); // anchor 1 (first record)
    t = 1000;
    await trail.append(entry('b'));
    expect(trail.writers()[0]).toMatchObject({ count: 2, anchoredCount: 1 });
    t = 7000;
    await trail.append(entry('c'));
    expect(trail.writers()[0]).toMatchObject({ count: 3, anchoredCount: 3, anchorSeq: 2 });
  });

  it('anchors the last records of an idle long-running process on a timer', async () => {
    // a frozen clock: appends never find the last anchor old, only the idle timer (real time) anchors
    const trail = createAuditTrail(store, { anchorEvery: 1000, anchorAfterMs: 40, idleAnchor: true, now: () => 0, writerId: () => 'wi' });
    for (let i = 0; i < 3; i++) await trail.append(entry(`i-${i}`));
    expect(trail.writers()[0]!.anchoredCount).toBe(1);
    // the timer fires 40 ms after the last append; give the anchor write time to land on a busy machine
    for (let i = 0; i < 50 && trail.writers()[0]!.anchoredCount < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(trail.writers()[0]!.anchoredCount).toBe(3);
    expect((await verifyAuditTrail(store)).chains[0]).toMatchObject({ ok: true, unanchored: 0 });
  });

  it('close() anchors every chain as closed and refuses later appends', async () => {
    const trail = createAuditTrail(store, { anchorEvery: 100, writerId: () => 'wc' });
    for (let i = 0; i < 4; i++) await trail.append(entry(`k-${i}`));
    await trail.close();
    await expect(trail.append(entry('late'))).rejects.toThrow(/closed/);
    expect((await verifyAuditTrail(store)).chains[0]).toMatchObject({ ok: true, closed: true, unanchored: 0, records: 4 });
  });

  it('bounds the window when anchors cannot be written: appends fail closed at maxUnanchored', async () => {
    let anchorsDown = false;
    const flaky: AuditStore = {
      name: 'flaky',
      read: (k) => store.read(k),
      exists: (k) => store.exists(k),
      list: (p) => store.list(p),
      create: async (k, b) => {
        if (anchorsDown && k.startsWith('anchors/')) throw new Error('anchor store down');
        return store.create(k, b);
      },
    };
    const trail = createAuditTrail(flaky, { anchorEvery: 3, maxUnanchored: 6, writerId: () => 'wf' });
    await trail.append(entry('0')); // anchored at 1
    anchorsDown = true;
    for (let i = 1; i <= 6; i++) await trail.append(entry(String(i))); // records 2..7: 6 unanchored
    await expect(trail.append(entry('refused'))).rejects.toThrow(/anchor store down/);
    expect((await fs.readdir(file('chains', 'wf'))).length).toBe(7); // the refused append wrote nothing
    anchorsDown = false;
    await trail.append(entry('8')); // anchors 7 first, then writes 8
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(true);
    expect(r.chains[0]).toMatchObject({ records: 8, anchoredCount: 7 });
  });

  it('retires a writer whose record write failed; the next append starts a fresh chain', async () => {
    let fail = true;
    const once: AuditStore = {
      name: 'once',
      read: (k) => store.read(k),
      exists: (k) => store.exists(k),
      list: (p) => store.list(p),
      create: async (k, b) => {
        if (fail && k.startsWith('chains/') && k.endsWith('000000000003.json')) {
          fail = false;
          throw new Error('EIO');
        }
        return store.create(k, b);
      },
    };
    const trail = createAuditTrail(once, { maxWriters: 1, writerId: ids('wr') });
    await trail.append(entry('1'));
    await trail.append(entry('2'));
    await expect(trail.append(entry('3'))).rejects.toThrow(/audit write failed/);
    await trail.append(entry('4'));
    expect(trail.writers().map((w) => [w.count, w.retired])).toEqual([
      [2, true],
      [1, false],
    ]);
    expect((await verifyAuditTrail(store)).ok).toBe(true);
  });

  it('keeps valid chains across worker threads (like serverless-offline workers), each closing cleanly', async () => {
    const bundle = path.join(dataDir, 'audit-log.bundle.js');
    buildSync({ entryPoints: [path.join(__dirname, '../../src/adapters/local/audit-log.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: bundle, logLevel: 'silent' });
    const workerCode = `
      const { parentPort, workerData } = require('node:worker_threads');
      const { createLocalAuditLog } = require(workerData.bundle);
      const log = createLocalAuditLog(workerData.dataDir, { label: workerData.name, anchorEvery: 4 });
      Promise.all(Array.from({ length: 20 }, (_, i) =>
        log.append({ resourceType: 'AuditEvent', recorded: new Date().toISOString(), entity: [{ what: { identifier: { system: workerData.system, value: workerData.name + '-' + i } } }] })))
        .then(() => log.close())
        .then(() => parentPort.postMessage('done'), (e) => parentPort.postMessage('error: ' + e.message));
    `;
    const run = (name: string) =>
      new Promise<string>((resolve, reject) => {
        const w = new Worker(workerCode, { eval: true, workerData: { bundle, dataDir, name, system: REQUEST_ID_SYSTEM } });
        w.once('message', (m: string) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    const main = createLocalAuditLog(dataDir, { label: 'main' });
    const [a, b] = await Promise.all([run('t1'), run('t2'), Promise.all(Array.from({ length: 10 }, (_, i) => main.append(entry(`main-${i}`))))]);
    expect([a, b]).toEqual(['done', 'done']);
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(true);
    expect(r.records).toBe(50);
    expect(r.chains.filter((c) => c.closed).reduce((s, c) => s + c.records, 0)).toBe(40);
    expect(new Set((await readAuditRecords(store)).map(requestIdOf)).size).toBe(50);
  });

  it('verifies without false alarms while writers keep appending and anchoring', async () => {
    const trails = Array.from({ length: 6 }, (_, i) => createAuditTrail(store, { anchorEvery: 2, label: `v${i}` }));
    let stop = false;
    const writing = Promise.all(trails.map(async (t, ti) => {
      for (let i = 0; !stop; i++) await t.append(entry(`${ti}-${i}`));
    }));
    const reports = [];
    for (let i = 0; i < 5; i++) reports.push(await verifyAuditTrail(store));
    stop = true;
    await writing;
    for (const r of reports) expect(r.chains.flatMap((c) => c.problems).concat(r.anchorChain.problem ?? [])).toEqual([]);
    expect(reports.at(-1)!.records).toBeGreaterThan(0);
  });
});

describe('verifyAuditTrail detects', () => {
  it('an edited record, and an edited and re-hashed one (at the next record)', async () => {
    const w = await oneWriter(8);
    await rewrite(recordFile(w, 3), (r) => (r.outcome = '8'));
    expect((await verifyAuditTrail(store)).chains[0]!.problems[0]).toMatch(/^record 3: .*altered/);
    await rewrite(recordFile(w, 3), (r) => rehash(r));
    expect((await verifyAuditTrail(store)).chains[0]!.problems[0]).toMatch(/^record 4: .*does not link/);
  });

  it('a deleted record in the middle (gap)', async () => {
    const w = await oneWriter(8);
    await rm(recordFile(w, 4));
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(false);
    expect(r.chains[0]!.problems[0]).toMatch(/record 4 .*missing/);
  });

  it('two records swapped (reordering)', async () => {
    const w = await oneWriter(8);
    const [a, b] = [await fs.readFile(recordFile(w, 2), 'utf8'), await fs.readFile(recordFile(w, 5), 'utf8')];
    await rewrite(recordFile(w, 2), (r) => Object.assign(r, JSON.parse(b)));
    await rewrite(recordFile(w, 5), (r) => Object.assign(r, JSON.parse(a)));
    expect((await verifyAuditTrail(store)).chains[0]!.problems[0]).toMatch(/record 2.*(missing|out of order)/);
  });

  it('truncation after an anchor (records cut off the end), which the chain alone cannot show', async () => {
    const w = await oneWriter(12); // anchors at 1, 6, 11
    await rm(recordFile(w, 12));
    await rm(recordFile(w, 11));
    await rm(recordFile(w, 10));
    const r = await verifyAuditTrail(store);
    expect(r.ok).toBe(false);
    expect(r.chains[0]!.problems).toEqual(['record 11 missing: anchor 3 counts 11 record(s), the chain has 9 (truncated)']);
  });

  it('a whole chain deleted', async () => {
    const w = await oneWriter(3);
    await oneWriter(3, 5, 'other');
    await fs.rm(file('chains', w), { recursive: true, force: true });
    const r = await verifyAuditTrail(store);
    expect(r.chains.find((c) => c.writer === w)!.problems[0]).toMatch(/chain missing: anchor 1 counts 1 record\(s\), none stored \(deleted\)/);
    expect(r.chains.find((c) => c.writer !== w)!.ok).toBe(true);
  });

  it('a rewritten chain (valid hashes, but not what was anchored)', async () => {
    const w = await oneWriter(7);
    // rebuild the whole chain with other content: internally consistent, contradicts anchors 1 and 2
    let prev = '0'.repeat(64);
    for (let s = 1; s <= 7; s++) {
      const fake = sealAuditRecord(entry(`forged-${s}`), s, prev, { writer: w, ...(s > 1 && { anchor: s > 6 ? 2 : 1 }) });
      prev = chainLinkOf(fake)!.hash;
      await rewrite(recordFile(w, s), (r) => {
        for (const k of Object.keys(r)) delete r[k];
        Object.assign(r, fake);
      });
    }
    const p = (await verifyAuditTrail(store)).chains[0]!.problems;
    expect(p).toContain('record 1 does not match the head hash in anchor 1 (rewritten)');
    expect(p).toContain('record 6 does not match the head hash in anchor 2 (rewritten)');
  });

  it('a record moved into another chain', async () => {
    const a = await oneWriter(4, 100, 'a');
    const b = await oneWriter(4, 100, 'b');
    await fs.chmod(file('chains', b), 0o755);
    await fs.copyFile(recordFile(a, 2), path.join(file('chains', b), '000000000005.json'));
    expect((await verifyAuditTrail(store)).chains.find((c) => c.writer === b)!.problems.join(' ')).toMatch(/record 2 belongs to writer a\d+, not this chain \(moved\)/);
  });

  it('a deleted anchor (gap in the anchor chain) and a truncated anchor chain (from the records)', async () => {
    const w = await oneWriter(13); // anchors 1 (count 1), 2 (6), 3 (11); records 12, 13 refer to anchor 3
    await rm(anchorFile(2));
    const gap = await verifyAuditTrail(store);
    expect(gap.anchorChain).toMatchObject({ ok: false, problem: 'anchor 2: record 2 is missing' });
    await rm(anchorFile(3));
    const cut = await verifyAuditTrail(store);
    // anchor chain 1..1 is intact now, but record 12 was sealed after anchor 3
    expect(cut.anchorChain.ok).toBe(true);
    expect(cut.chains[0]!.problems).toContain('record 7 was sealed after anchor 2, but the anchor chain ends at 1 (anchor chain truncated)');
    expect(cut.chains[0]!.problems).toContain('record 12 was sealed after anchor 3, but the anchor chain ends at 1 (anchor chain truncated)');
    expect(w).toBeDefined();
  });

  it('a record appended after a clean close', async () => {
    const trail = createAuditTrail(store, { writerId: () => 'wz' });
    for (let i = 0; i < 3; i++) await trail.append(entry(`z-${i}`));
    await trail.close();
    const head = trail.writers()[0]!;
    const forged = sealAuditRecord(entry('forged'), 4, head.head, { writer: 'wz', anchor: head.anchorSeq });
    await fs.writeFile(recordFile('wz', 4), JSON.stringify(forged));
    expect((await verifyAuditTrail(store)).chains[0]!.problems).toEqual(["record 4 follows the chain's clean close at 3"]);
  });

  it('but not truncation inside the unanchored window: reported as the window, bounded by anchorEvery', async () => {
    const w = await oneWriter(9, 5); // anchored at 1 and 6; records 7..9 unanchored
    const before = (await verifyAuditTrail(store)).chains[0]!;
    expect(before).toMatchObject({ ok: true, anchoredCount: 6, unanchored: 3 });
    await rm(recordFile(w, 9));
    const after = (await verifyAuditTrail(store)).chains[0]!;
    expect(after).toMatchObject({ ok: true, anchoredCount: 6, unanchored: 2 });
    expect(after.unanchored).toBeLessThan(5);
  });
});

describe('scripts/audit-verify.ts main', () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, deps: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) } };
  };

  it('exits 0 with one line per chain on an intact trail, 1 naming the broken chain', async () => {
    const w = await oneWriter(5);
    await oneWriter(2, 5, 'x');
    const ok = capture();
    expect(await auditVerifyMain(['--data-dir', dataDir], { ...ok.deps, env: {} })).toBe(0);
    expect(ok.out).toContain(`chain ${w}: 5 record(s), anchored 1 by 1 anchor(s), open, 4 unanchored: OK`);
    expect(ok.out.at(-1)).toMatch(/^audit trail OK: 7 record\(s\) in 2 chain\(s\), 2 anchor\(s\), 5 unanchored/);

    await rewrite(recordFile(w, 2), (r) => (r.agent[0].who.identifier.value = 'someone-else'));
    const bad = capture();
    expect(await auditVerifyMain([], { ...bad.deps, env: { DATA_DIR: dataDir } })).toBe(1);
    expect(bad.err[0]).toMatch(new RegExp(`^chain ${w}: .*BROKEN: record 2: record 2 does not match its hash`));
    expect(bad.err.at(-1)).toMatch(/^audit trail BROKEN \(1 part\(s\)\)/);
  });

  it('verifies a legacy global chain left by earlier versions', async () => {
    const r1 = sealAuditRecord(entry('old-1'), 1, '0'.repeat(64));
    await fs.mkdir(localAuditDir(dataDir), { recursive: true });
    await fs.writeFile(file('000000000001.json'), JSON.stringify(r1));
    const c = capture();
    expect(await auditVerifyMain(['--data-dir', dataDir], { ...c.deps, env: {} })).toBe(0);
    expect(c.out).toContain('legacy global chain: 1 record(s): OK');
    await fs.writeFile(file('000000000002.json'), JSON.stringify(sealAuditRecord(entry('old-2'), 2, 'f'.repeat(64))));
    expect(await auditVerifyMain(['--data-dir', dataDir], { ...capture().deps, env: {} })).toBe(1);
  });

  it('exits 0 on an empty trail and 2 on bad arguments', async () => {
    expect(await auditVerifyMain(['--data-dir', dataDir], { ...capture().deps, env: {} })).toBe(0);
    expect(await auditVerifyMain(['--nope'], { ...capture().deps, env: {} })).toBe(2);
  });
});
