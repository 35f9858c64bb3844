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
import { S3AuditLog, S3AuditStore } from '../../src/adapters/aws/s3-audit-log';
import { chainLinkOf, readAuditRecords, verifyAuditChain } from '../../src/core/audit/chain';
import { buildAuditEvent } from '../../src/core/audit/event';

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

describe('S3AuditLog', () => {
  it('writes each record with IfNoneMatch "*" and an x-amz-checksum-sha256 under audit/{sequence}.json', async () => {
    const log = new S3AuditLog({ client, bucket: BUCKET });
    await log.append(entry('r1'));
    await log.append(entry('r2'));
    const body = objects.get('audit/000000000001.json')!;
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, {
      Bucket: BUCKET,
      Key: 'audit/000000000001.json',
      IfNoneMatch: '*',
      ContentType: 'application/fhir+json',
      ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
    });
    expect(s3).toHaveReceivedCommandWith(PutObjectCommand, { Key: 'audit/000000000002.json', IfNoneMatch: '*' });
    // bucket-default object lock: no per-request retention
    for (const call of s3.commandCalls(PutObjectCommand)) {
      expect(call.args[0].input).not.toHaveProperty('ObjectLockMode');
      expect(call.args[0].input).not.toHaveProperty('ObjectLockRetainUntilDate');
    }
    expect(verifyAuditChain(await readAuditRecords(log.store))).toMatchObject({ ok: true, count: 2 });
  });

  it('on 412 (sequence taken by another container) re-reads the winner and retries at the next sequence', async () => {
    const a = new S3AuditLog({ client, bucket: BUCKET });
    const b = new S3AuditLog({ client, bucket: BUCKET });
    await a.append(entry('a1')); // a caches head 1
    await b.append(entry('b1')); // b finds head 1, writes 2
    const rec = await a.appendRecord(entry('a2')); // a tries 2 → 412, then 3
    expect(chainLinkOf(rec)!.sequence).toBe(3);
    expect(putAttempts.get('audit/000000000002.json')).toBe(2);
    expect(chainLinkOf(rec)!.previousHash).toBe(chainLinkOf(JSON.parse(objects.get('audit/000000000002.json')!))!.hash);
    expect(verifyAuditChain(await readAuditRecords(a.store))).toMatchObject({ ok: true, count: 3 });
  });

  it('treats 409 ConditionalRequestConflict as taken and retries', async () => {
    const log = new S3AuditLog({ client, bucket: BUCKET });
    s3.on(PutObjectCommand).rejectsOnce(s3Error('ConditionalRequestConflict', 409)).callsFake(async (input: PutObjectCommandInput) => {
      objects.set(input.Key!, String(input.Body));
      return {};
    });
    await log.append(entry('r1'));
    expect(s3).toHaveReceivedCommandTimes(PutObjectCommand, 2);
    expect(verifyAuditChain(await readAuditRecords(log.store))).toMatchObject({ ok: true, count: 1 });
  });

  it('propagates other S3 errors', async () => {
    s3.on(PutObjectCommand).rejects(s3Error('AccessDenied', 403));
    await expect(new S3AuditLog({ client, bucket: BUCKET }).append(entry('r1'))).rejects.toThrow('AccessDenied');
  });

  it('keeps a gap-free valid chain with 8 containers appending concurrently', async () => {
    const logs = Array.from({ length: 8 }, () => new S3AuditLog({ client, bucket: BUCKET, prefix: 'trail/' }));
    await Promise.all(logs.flatMap((l, li) => Array.from({ length: 5 }, (_, i) => l.append(entry(`${li}-${i}`)))));
    const store = new S3AuditStore({ client, bucket: BUCKET, prefix: 'trail/' });
    expect(await store.sequences()).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(verifyAuditChain(await readAuditRecords(store))).toMatchObject({ ok: true, count: 40, lastSequence: 40 });
    expect([...putAttempts.values()].some((n) => n > 1)).toBe(true); // there really were races
  });

  it('finds the head of a long existing chain on a cold start without listing the bucket', async () => {
    const warm = new S3AuditLog({ client, bucket: BUCKET });
    for (let i = 0; i < 37; i++) await warm.append(entry(`w${i}`));
    s3.resetHistory();
    const cold = new S3AuditLog({ client, bucket: BUCKET });
    const rec = await cold.appendRecord(entry('cold'));
    expect(chainLinkOf(rec)!.sequence).toBe(38);
    expect(s3).toHaveReceivedCommandTimes(ListObjectsV2Command, 0);
    expect(s3.commandCalls(HeadObjectCommand).length).toBeLessThan(15);
  });

  it('reads a missing record as undefined', async () => {
    const store = new S3AuditStore({ client, bucket: BUCKET });
    await expect(store.read(99)).resolves.toBeUndefined();
    await expect(store.exists(99)).resolves.toBe(false);
  });
});
