/**
 * The AWS audit adapter (per-writer chains and anchors in S3 with conditional writes) against an in-memory bucket
 * behind aws-sdk-client-mock that honours `If-None-Match: *` (412 when the key exists).
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import { createS3AuditLog, S3AuditStore } from '../../src/adapters/aws/s3-audit-log';
import { buildAuditEvent, chainLinkOf, readAuditRecords, verifyAuditTrail } from '../../src/core/audit';

const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'eu-west-2' });
const BUCKET = 'tributary-audit';
let objects: Map<string, string>;
let putAttempts: Map<string, number>;

const entry = (requestId: string) =>
  buildAuditEvent({ time: new Date('2030-01-01T00:00:00Z'), requestId, source: 's', clientId: 'c', interaction: 'update', outcomeStatus: 200 });

const s3Error = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: name });

/** An in-memory bucket with S3's conditional-write semantics (IfNoneMatch: '*' → 412 when the key exists). */
function fakeBucket() {
  objects = new Map();
  putAttempts = new Map();
  s3.reset();
  s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
    const key = input.Key!;
    putAttempts.set(key, (putAttempts.get(key) ?? 0) + 1);
    await new Promise((r) => setImmediate(r)); // let other writers interleave
    if (input.IfNoneMatch === '*' && objects.has(key)) throw s3Error('PreconditionFailed', 412);
    objects.set(key, String(input.Body));
    return { ETag: '"x"' };
  });
  s3.on(GetObjectCommand).callsFake(async (input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (body === undefined) throw new NoSuchKey({ $metadata: { httpStatusCode: 404 }, message: 'NoSuchKey' });
    return { Body: { transformToString: async () => body } };
  });
  s3.on(HeadObjectCommand).callsFake(async (input: { Key: string }) => {
    if (!objects.has(input.Key)) throw new NotFound({ $metadata: { httpStatusCode: 404 }, message: 'NotFound' });
    return {};
  });
  s3.on(ListObjectsV2Command).callsFake(async (input: { Prefix?: string }) => ({
    Contents: [...objects.keys()].filter((k) => k.startsWith(input.Prefix ?? '')).sort().map((Key) => ({ Key })),
    IsTruncated: false,
  }));
}

beforeEach(fakeBucket);

describe('S3 audit trail', () => {
  it('writes each record once with IfNoneMatch "*" and an x-amz-checksum-sha256 under audit/chains/{writer}/{sequence}.json', async () => {
    const log = createS3AuditLog({ client, bucket: BUCKET, writerId: () => 'lambda1' });
    await log.append(entry('r1'));
    await log.append(entry('r2'));
    const body = objects.get('audit/chains/lambda1/000000000001.json')!;
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: 'audit/chains/lambda1/000000000001.json',
      IfNoneMatch: '*',
      ContentType: 'application/fhir+json',
      ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Key: 'audit/chains/lambda1/000000000002.json', IfNoneMatch: '*' });
    // the first record is anchored at once (the chain is known to the index from its first record)
    expect(JSON.parse(objects.get('audit/anchors/000000000001.json')!).chains).toEqual([{ writer: 'lambda1', count: 1, head: chainLinkOf(JSON.parse(body))!.hash }]);
    // one PUT per record, no read, no probe on the request path (the writer owns its chain)
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
      'audit/chains/lambda1/000000000001.json',
      'audit/anchors/000000000001.json',
      'audit/chains/lambda1/000000000002.json',
    ]);
    // bucket-default object lock: no per-request retention
    for (const call of s3.commandCalls(PutObjectCommand)) {
      expect(call.args[0].input).not.toHaveProperty('ObjectLockMode');
      expect(call.args[0].input).not.toHaveProperty('ObjectLockRetainUntilDate');
    }
    expect(await verifyAuditTrail(log.store)).toMatchObject({ ok: true, records: 2, anchorChain: { ok: true, count: 1 } });
  });

  it('8 containers appending concurrently: no record write ever retried, anchors race and retry, everything verifies', async () => {
    const logs = Array.from({ length: 8 }, (_, i) => createS3AuditLog({ client, bucket: BUCKET, prefix: 'trail/', label: `c${i}`, anchorEvery: 2 }));
    await Promise.all(logs.map(async (l, li) => {
      for (let i = 0; i < 5; i++) await l.append(entry(`${li}-${i}`));
    }));
    const chainPuts = [...putAttempts.entries()].filter(([k]) => k.includes('/chains/'));
    expect(chainPuts).toHaveLength(40);
    expect(chainPuts.every(([, n]) => n === 1)).toBe(true);
    expect([...putAttempts.entries()].some(([k, n]) => k.includes('/anchors/') && n > 1)).toBe(true); // the anchor chain really raced
    const store = new S3AuditStore({ client, bucket: BUCKET, prefix: 'trail/' });
    const r = await verifyAuditTrail(store);
    expect(r).toMatchObject({ ok: true, records: 40 });
    expect(r.chains).toHaveLength(8);
    expect((await readAuditRecords(store)).length).toBe(40);
  });

  it('treats 409 ConditionalRequestConflict on the anchor chain as taken and retries', async () => {
    const log = createS3AuditLog({ client, bucket: BUCKET, writerId: () => 'w409' });
    let conflicted = false;
    s3.on(PutObjectCommand).callsFake(async (input: PutObjectCommandInput) => {
      if (!conflicted && input.Key!.includes('/anchors/')) {
        conflicted = true;
        throw s3Error('ConditionalRequestConflict', 409);
      }
      objects.set(input.Key!, String(input.Body));
      return {};
    });
    await log.append(entry('r1'));
    expect(conflicted).toBe(true);
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 3);
    expect(await verifyAuditTrail(log.store)).toMatchObject({ ok: true, records: 1, anchorChain: { count: 1 } });
  });

  it('a taken record key (a writer-id collision) fails the append and retires the writer', async () => {
    objects.set('audit/chains/dup/000000000001.json', '{}');
    const log = createS3AuditLog({ client, bucket: BUCKET, writerId: () => 'dup', maxWriters: 1 });
    await expect(log.append(entry('r1'))).rejects.toThrow(/already exists/);
    expect(log.writers()[0]!.retired).toBe(true);
  });

  it('propagates other S3 errors', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    await expect(createS3AuditLog({ client, bucket: BUCKET }).append(entry('r1'))).rejects.toThrow(/audit write failed/);
  });

  it('detects an edited object and a truncated chain in the bucket', async () => {
    const log = createS3AuditLog({ client, bucket: BUCKET, writerId: () => 'wt', anchorEvery: 3 });
    for (let i = 0; i < 6; i++) await log.append(entry(`t${i}`)); // anchors at 1 and 4
    const key = 'audit/chains/wt/000000000002.json';
    objects.set(key, objects.get(key)!.replace('"update"', '"delete"'));
    expect((await verifyAuditTrail(log.store)).chains[0]!.problems[0]).toMatch(/^record 2: .*altered/);
    const fresh = createS3AuditLog({ client, bucket: BUCKET, prefix: 'other/', writerId: () => 'wu', anchorEvery: 3 });
    for (let i = 0; i < 6; i++) await fresh.append(entry(`u${i}`));
    for (const n of [4, 5, 6]) objects.delete(`other/chains/wu/00000000000${n}.json`);
    expect((await verifyAuditTrail(fresh.store)).chains[0]!.problems).toEqual(['record 4 missing: anchor 2 counts 4 record(s), the chain has 3 (truncated)']);
  });

  it('reads a missing key as undefined and lists keys relative to the prefix', async () => {
    const store = new S3AuditStore({ client, bucket: BUCKET });
    await expect(store.read('chains/x/000000000099.json')).resolves.toBeUndefined();
    await expect(store.exists('chains/x/000000000099.json')).resolves.toBe(false);
    await store.create('chains/x/000000000001.json', '{}');
    await expect(store.list('chains/')).resolves.toEqual(['chains/x/000000000001.json']);
  });
});
