/**
 * One contract for the ObjectStore port, run against the S3 adapter talking to a REAL S3-protocol server
 * (s3rver, as `npm start` does) and to an in-memory S3 behind aws-sdk-client-mock (the AWS side, offline).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { createS3Client, S3ObjectStore } from '../../src/adapters/aws/s3-object-store';
import type { ObjectStore } from '../../src/core/ports';

const S3_SERVER = path.resolve(__dirname, '../../dist/scripts/s3-server.js');

/** An in-memory S3 with the operations the adapter uses. */
function memoryS3(): S3Client {
  const objects = new Map<string, { body: Buffer; meta: Record<string, string> }>();
  const client = new S3Client({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const m = mockClient(client);
  const notFound = () => Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });
  m.on(PutObjectCommand).callsFake((i) => {
    objects.set(i.Key, { body: Buffer.from(i.Body), meta: i.Metadata ?? {} });
    return {};
  });
  m.on(GetObjectCommand).callsFake((i) => {
    const o = objects.get(i.Key);
    if (!o) throw notFound();
    return { Body: { transformToByteArray: async () => new Uint8Array(o.body) } };
  });
  m.on(HeadObjectCommand).callsFake((i) => {
    const o = objects.get(i.Key);
    if (!o) throw Object.assign(new Error('NotFound'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
    return { ContentLength: o.body.length, Metadata: o.meta };
  });
  m.on(ListObjectsV2Command).callsFake((i) => {
    const keys = [...objects.keys()].filter((k) => k.startsWith(i.Prefix ?? '') && (!i.StartAfter || k > i.StartAfter)).sort();
    const start = i.ContinuationToken ? Number(i.ContinuationToken) : 0;
    const page = keys.slice(start, start + 1000);
    const more = start + 1000 < keys.length;
    return { Contents: page.map((Key) => ({ Key })), IsTruncated: more, NextContinuationToken: more ? String(start + 1000) : undefined };
  });
  m.on(CopyObjectCommand).callsFake((i) => {
    const from = decodeURIComponent(i.CopySource.split('/').slice(1).join('/'));
    const o = objects.get(from);
    if (!o) throw notFound();
    objects.set(i.Key, { body: Buffer.from(o.body), meta: { ...o.meta } });
    return {};
  });
  m.on(DeleteObjectsCommand).callsFake((i) => {
    for (const o of i.Delete.Objects) objects.delete(o.Key);
    return {};
  });
  return client;
}

let server: ChildProcess | undefined;
let serverPort = 0;
beforeAll(async () => {
  if (!fs.existsSync(S3_SERVER)) throw new Error('dist/scripts/s3-server.js missing: run `npm run build`');
  serverPort = 4900 + Math.floor(Math.random() * 90);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 's3c-'));
  server = fork(S3_SERVER, [String(serverPort), dir, 'contract'], { execArgv: ['--openssl-legacy-provider'], stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    server!.once('message', () => resolve());
    server!.once('exit', (c) => reject(new Error(`s3 server exited ${c}`)));
  });
});
afterAll(() => server?.kill('SIGTERM'));

const implementations: [string, () => ObjectStore][] = [
  ['S3 adapter → s3rver (local)', () => new S3ObjectStore(createS3Client({ endpoint: `http://127.0.0.1:${serverPort}` }), 'contract')],
  ['S3 adapter → mocked AWS S3', () => new S3ObjectStore(memoryS3(), 'contract')],
];

describe.each(implementations)('ObjectStore contract: %s', (_name, make) => {
  const prefix = () => `t${Date.now()}${Math.random().toString(36).slice(2, 6)}/`;

  test('put/get/head round trip with metadata and checksum; missing is undefined', async () => {
    const s = make();
    const p = prefix();
    await s.put(`${p}a.ndjson`, '{"a":1}\n', { contentType: 'application/fhir+ndjson', metadata: { source: 'gp' }, checksumSha256: 'abc=' });
    expect(Buffer.from((await s.get(`${p}a.ndjson`))!).toString()).toBe('{"a":1}\n');
    const h = await s.head(`${p}a.ndjson`);
    expect(h).toMatchObject({ size: 8, checksumSha256: 'abc=' });
    expect(h!.metadata.source).toBe('gp');
    expect(await s.get(`${p}missing`)).toBeUndefined();
    expect(await s.head(`${p}missing`)).toBeUndefined();
  });

  test('list is lexical, prefix-scoped, pages past 1,000 keys, and honours startAfter', async () => {
    const s = make();
    const p = prefix();
    const keys = Array.from({ length: 1005 }, (_, i) => `${p}k${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, 'x')));
    const listed = await s.list(p);
    expect(listed).toEqual(keys);
    expect(await s.list(p, keys[1000])).toEqual(keys.slice(1001));
  });

  test('list pages in key order when a folder name is a prefix of a sibling\'s (`a-b/…` sorts before `a/…`): nothing repeated or skipped', async () => {
    const s = make();
    const p = prefix();
    // `src=x-warmup/` sorts before `src=x/` by key ('-' < '/'), while a name-ordered folder walk visits `src=x` first
    const keys = [
      ...Array.from({ length: 600 }, (_, i) => `${p}src=x/k${String(i).padStart(4, '0')}`),
      ...Array.from({ length: 600 }, (_, i) => `${p}src=x-warmup/k${String(i).padStart(4, '0')}`),
    ];
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => s.put(k, 'x')));
    const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(await s.list(p)).toEqual(sorted);
    expect(await s.list(p, sorted[700])).toEqual(sorted.slice(701));
    expect(await s.list(`${p}src=x/`)).toEqual(keys.slice(0, 600));
  });

  test('copy keeps body and metadata; delete removes and ignores missing keys', async () => {
    const s = make();
    const p = prefix();
    await s.put(`${p}staging/x`, 'body', { metadata: { requestid: 'r1' } });
    await s.copy(`${p}staging/x`, `${p}raw/x`);
    expect(Buffer.from((await s.get(`${p}raw/x`))!).toString()).toBe('body');
    expect((await s.head(`${p}raw/x`))!.metadata.requestid).toBe('r1');
    await s.delete([`${p}staging/x`, `${p}never-there`]);
    expect(await s.list(`${p}staging/`)).toEqual([]);
    expect(await s.list(`${p}raw/`)).toEqual([`${p}raw/x`]);
  });
});
