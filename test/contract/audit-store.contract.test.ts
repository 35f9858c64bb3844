/**
 * One contract for the audit trail's storage (the `AuditStore` of src/core/audit/store.ts), run against the local
 * adapter (files, `link(2)` create) and the AWS adapter (S3 conditional writes) over an in-memory bucket behind
 * aws-sdk-client-mock that honours `If-None-Match: *`. Then the same trail is written through both and must give
 * the same objects, byte for byte, and the same verification.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException, type PutObjectCommandInput } from '@aws-sdk/client-s3';
import { S3AuditStore } from '../../src/adapters/aws/s3-audit-log';
import { FileAuditStore } from '../../src/adapters/local/audit-log';
import { buildAuditEvent, createAuditTrail, verifyAuditTrail, type AuditStore } from '../../src/core/audit';

/** An in-memory bucket with S3's conditional-write semantics, listing in pages of 2 (to exercise pagination). */
function memoryBucket(): { client: S3Client; objects: Map<string, string> } {
  const objects = new Map<string, string>();
  const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const m = mockClient(client);
  const err = (name: string, status: number) => new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });
  m.on(PutObjectCommand).callsFake(async (i: PutObjectCommandInput) => {
    await new Promise((r) => setImmediate(r));
    if (i.IfNoneMatch === '*' && objects.has(i.Key!)) throw err('PreconditionFailed', 412);
    objects.set(i.Key!, String(i.Body));
    return {};
  });
  m.on(GetObjectCommand).callsFake(async (i: { Key: string }) => {
    const b = objects.get(i.Key);
    if (b === undefined) throw err('NoSuchKey', 404);
    return { Body: { transformToString: async () => b } };
  });
  m.on(HeadObjectCommand).callsFake(async (i: { Key: string }) => {
    if (!objects.has(i.Key)) throw err('NotFound', 404);
    return {};
  });
  m.on(ListObjectsV2Command).callsFake(async (i: { Prefix?: string; ContinuationToken?: string }) => {
    const keys = [...objects.keys()].filter((k) => k.startsWith(i.Prefix ?? '')).sort();
    const start = i.ContinuationToken ? Number(i.ContinuationToken) : 0;
    const more = start + 2 < keys.length;
    return { Contents: keys.slice(start, start + 2).map((Key) => ({ Key })), IsTruncated: more, NextContinuationToken: more ? String(start + 2) : undefined };
  });
  return { client, objects };
}

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tributary-audit-contract-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const adapters: [string, () => AuditStore][] = [
  ['FileAuditStore (local)', () => new FileAuditStore(path.join(dir, 'audit'))],
  ['S3AuditStore (AWS, mocked S3)', () => new S3AuditStore({ client: memoryBucket().client, bucket: 'tributary-audit' })],
];

describe.each(adapters)('AuditStore contract: %s', (_name, make) => {
  it('creates a key once: the second create is refused and the first body stays', async () => {
    const s = make();
    expect(await s.create('chains/w1/000000000001.json', 'first')).toBe(true);
    expect(await s.create('chains/w1/000000000001.json', 'second')).toBe(false);
    expect(await s.read('chains/w1/000000000001.json')).toBe('first');
    expect(await s.exists('chains/w1/000000000001.json')).toBe(true);
  });

  it('lets exactly one of 10 concurrent creates of one key win', async () => {
    const s = make();
    const won = await Promise.all(Array.from({ length: 10 }, (_, i) => s.create('anchors/000000000001.json', `b${i}`)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(await s.read('anchors/000000000001.json')).toBe(`b${won.indexOf(true)}`);
  });

  it('reads and probes a missing key as absent', async () => {
    const s = make();
    expect(await s.read('chains/none/000000000001.json')).toBeUndefined();
    expect(await s.exists('chains/none/000000000001.json')).toBe(false);
  });

  it('lists every key under a prefix, nested, and nothing else', async () => {
    const s = make();
    expect(await s.list('chains/')).toEqual([]);
    for (const k of ['chains/a/000000000001.json', 'chains/a/000000000002.json', 'chains/b/000000000001.json', 'anchors/000000000001.json', '000000000001.json']) {
      await s.create(k, '{}');
    }
    expect((await s.list('chains/')).sort()).toEqual(['chains/a/000000000001.json', 'chains/a/000000000002.json', 'chains/b/000000000001.json']);
    expect((await s.list('chains/a/')).sort()).toEqual(['chains/a/000000000001.json', 'chains/a/000000000002.json']);
    expect(await s.list('anchors/')).toEqual(['anchors/000000000001.json']);
    expect((await s.list('')).sort()).toHaveLength(5);
  });
});

describe('the same trail through both adapters', () => {
  const twoStores = () => {
    const local = new FileAuditStore(path.join(dir, 'audit'));
    const aws = new S3AuditStore({ client: memoryBucket().client, bucket: 'tributary-audit' });
    return [local, aws] as const;
  };

  it('writes the same objects byte for byte and verifies the same (one writer, fixed clock)', async () => {
    const [local, aws] = twoStores();
    const run = async (store: AuditStore) => {
      let t = Date.parse('2030-01-01T00:00:00Z');
      // a clock that moves 4 s per append: anchors by count (every 3) and by age (over 10 s)
      const trail = createAuditTrail(store, { anchorEvery: 3, anchorAfterMs: 10_000, now: () => t, writerId: () => 'writer1' });
      for (let i = 0; i < 10; i++) {
        t += 4000;
        await trail.append(buildAuditEvent({ time: new Date(t), requestId: `req-${i}`, interaction: 'create', outcomeStatus: 201 }));
      }
      await trail.close();
      return verifyAuditTrail(store);
    };
    const [a, b] = [await run(local), await run(aws)];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ ok: true, records: 10, chains: [{ writer: 'writer1', closed: true, anchoredCount: 10 }] });
    const keys = (await local.list('')).sort();
    expect(keys).toEqual((await aws.list('')).sort());
    expect(keys.filter((k) => k.startsWith('anchors/')).length).toBeGreaterThan(2);
    for (const k of keys) expect(await local.read(k)).toBe(await aws.read(k));
  });

  it('keyed appends (one record per request id, a record written on a dead claimant\'s behalf) give the same objects on both', async () => {
    const [local, aws] = twoStores();
    const run = async (store: AuditStore) => {
      let t = Date.parse('2030-01-01T00:00:00Z');
      const ev = (requestId: string) => buildAuditEvent({ time: new Date((t += 1000)), requestId, interaction: 'transaction', outcomeStatus: 200 });
      let killed = false;
      const dying: AuditStore = {
        name: store.name,
        read: (k) => store.read(k),
        exists: (k) => store.exists(k),
        list: (p) => store.list(p),
        create: async (k, b) => {
          if (killed && k.startsWith('chains/')) throw new Error('killed'); // the process dies after its claim
          return store.create(k, b);
        },
      };
      const first = createAuditTrail(dying, { now: () => t, writerId: () => 'writer1' });
      await first.append(ev('r1'), { key: 'r1' });
      await first.append(ev('r1'), { key: 'r1' });
      killed = true;
      await expect(first.append(ev('r2'), { key: 'r2' })).rejects.toThrow();
      const second = createAuditTrail(store, { now: () => t, writerId: () => 'writer2' });
      await second.append(ev('r2'), { key: 'r2' }); // written at writer1's place 2
      await second.append(ev('r3'), { key: 'r3' });
      await second.close();
      return verifyAuditTrail(store);
    };
    const [a, b] = [await run(local), await run(aws)];
    expect(a).toEqual(b);
    expect(a).toMatchObject({ ok: true, records: 3 });
    const keys = (await local.list('')).sort();
    expect(keys).toEqual((await aws.list('')).sort());
    expect(keys.filter((k) => k.startsWith('requests/'))).toHaveLength(3);
    expect(keys.filter((k) => k.startsWith('chains/writer1/'))).toHaveLength(2);
    for (const k of keys) expect(await local.read(k)).toBe(await aws.read(k));
  });

  it('gives concurrent appends of one process several chains on both, verified alike', async () => {
    const [local, aws] = twoStores();
    const run = async (store: AuditStore) => {
      const trail = createAuditTrail(store, { anchorEvery: 3, maxWriters: 3, label: 'pool' });
      await Promise.all(Array.from({ length: 12 }, (_, i) => trail.append(buildAuditEvent({ time: new Date(), requestId: `p-${i}`, interaction: 'update', outcomeStatus: 200 }))));
      await trail.close();
      const r = await verifyAuditTrail(store);
      return { ok: r.ok, records: r.records, chains: r.chains.length, closed: r.chains.every((c) => c.closed && c.unanchored === 0) };
    };
    const [a, b] = [await run(local), await run(aws)];
    expect(a).toEqual({ ok: true, records: 12, chains: 3, closed: true });
    expect(b).toEqual(a);
  });
});
