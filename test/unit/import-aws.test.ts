/**
 * Bulk import on AWS (issue #15): the S3 job store and the start-marker launcher against a mocked S3 client
 * (aws-sdk-client-mock), the ranged stream of the S3 object store, and static checks of the state machine
 * definition (config/import-state-machine.asl.json): Plan, a Distributed Map per wave reading the plan from S3, one
 * chunk function per item with retries, Finish; it invokes nothing but the three import functions.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { mockClient } from 'aws-sdk-client-mock';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { S3ImportJobStore } from '../../src/adapters/aws/s3-import-job-store';
import { S3ImportLauncher } from '../../src/adapters/aws/s3-import-launcher';
import { S3ObjectStore } from '../../src/adapters/aws/s3-object-store';
import type { ImportChunkRecord, ImportJobRecord } from '../../src/core/ports';

const s3 = mockClient(S3Client);
beforeEach(() => s3.reset());

/** A GetObject body: a stream, with the SDK's transform helpers. */
const body = (text: string) =>
  Object.assign(Readable.from([Buffer.from(text)]), { transformToString: async () => text, transformToByteArray: async () => new Uint8Array(Buffer.from(text)) });
const job: ImportJobRecord = {
  id: 'job-12345678',
  source: 'gp',
  clientId: 'c',
  scope: 'system/$import',
  status: 'queued',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:00:00Z',
  inputs: [],
  progress: { chunksDone: 0, resources: 0, refused: 0, bytesDone: 0, bytesTotal: 0 },
};

test('the S3 job store keeps the job and one object per chunk under import-jobs/{id}/, encrypted with the given key', async () => {
  s3.on(PutObjectCommand).resolves({});
  const store = new S3ImportJobStore(new S3Client({}), 'imports', 'import-jobs/', 'arn:kms:key');
  await store.create(job);
  const chunk: ImportChunkRecord = { file: 0, chunk: 3, requestId: 'imp-job-12345678-0-3', bytes: 10, lines: 1, counts: { Patient: 1 }, objectKeys: ['raw/x'], refused: 0, errors: [] };
  await store.putChunk(job.id, chunk);
  const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
  expect(puts.map((p) => [p.Bucket, p.Key, p.SSEKMSKeyId])).toEqual([
    ['imports', 'import-jobs/job-12345678/job.json', 'arn:kms:key'],
    ['imports', 'import-jobs/job-12345678/chunks/0-3.json', 'arn:kms:key'],
  ]);
  await expect(store.create({ ...job, id: '../../etc' })).rejects.toThrow('not valid');
});

test('the S3 job store reads a job (missing = undefined) and every chunk across listing pages', async () => {
  s3.on(GetObjectCommand, { Key: 'import-jobs/job-12345678/job.json' }).resolves({ Body: body(JSON.stringify(job)) } as never);
  s3.on(GetObjectCommand, { Key: 'import-jobs/job-00000000/job.json' }).rejects(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey' }));
  s3.on(ListObjectsV2Command, { ContinuationToken: undefined }).resolves({ Contents: [{ Key: 'import-jobs/job-12345678/chunks/0-0.json' }], IsTruncated: true, NextContinuationToken: 't' });
  s3.on(ListObjectsV2Command, { ContinuationToken: 't' }).resolves({ Contents: [{ Key: 'import-jobs/job-12345678/chunks/0-1.json' }], IsTruncated: false });
  s3.on(GetObjectCommand, { Key: 'import-jobs/job-12345678/chunks/0-0.json' }).resolves({ Body: body('{"file":0,"chunk":0}') } as never);
  s3.on(GetObjectCommand, { Key: 'import-jobs/job-12345678/chunks/0-1.json' }).resolves({ Body: body('{"file":0,"chunk":1}') } as never);
  const store = new S3ImportJobStore(new S3Client({}), 'imports');
  expect((await store.get(job.id))?.source).toBe('gp');
  expect(await store.get('job-00000000')).toBeUndefined();
  expect((await store.chunks(job.id)).map((c) => c.chunk)).toEqual([0, 1]);
});

test('the launcher writes the start marker the EventBridge rule matches', async () => {
  s3.on(PutObjectCommand).resolves({});
  await new S3ImportLauncher(new S3Client({}), 'imports').launch(job.id);
  expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({ Bucket: 'imports', Key: 'import-jobs/job-12345678/start' });
});

test('the S3 object store streams a byte range (GetObject Range, end exclusive)', async () => {
  s3.on(GetObjectCommand).resolves({ Body: body('line 2\n') } as never);
  const stream = await new S3ObjectStore(new S3Client({}), 'imports').getStream('inputs/a.ndjson', { start: 7, end: 14 });
  let text = '';
  for await (const c of stream!) text += Buffer.from(c).toString('utf8');
  expect(text).toBe('line 2\n');
  expect(s3.commandCalls(GetObjectCommand)[0]!.args[0].input.Range).toBe('bytes=7-13');
});

describe('the import state machine (config/import-state-machine.asl.json)', () => {
  const asl = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../config/import-state-machine.asl.json'), 'utf8'));
  const resources = (o: unknown): string[] => (typeof o !== 'object' || o === null ? [] : Object.entries(o).flatMap(([k, v]) => (k === 'Resource' && typeof v === 'string' ? [v] : resources(v))));

  test('Plan → Patient chunks → other chunks → Finish', () => {
    const order: string[] = [];
    for (let s: string | undefined = asl.StartAt; s; s = asl.States[s].Next) order.push(s);
    expect(order).toEqual(['Plan', 'PatientChunks', 'OtherChunks', 'Finish']);
    expect(asl.States.Finish.End).toBe(true);
  });

  test('each wave is a Distributed Map reading its plan from S3, one chunk task per item, retried, no failure tolerated', () => {
    for (const [name, wave] of [['PatientChunks', 0], ['OtherChunks', 1]] as const) {
      const m = asl.States[name];
      expect(m.Type).toBe('Map');
      expect(m.ItemProcessor.ProcessorConfig.Mode).toBe('DISTRIBUTED');
      expect(m.ItemReader).toMatchObject({ Resource: 'arn:aws:states:::s3:getObject', Parameters: { 'Key.$': `$.plan.waves[${wave}]` } });
      expect(m.ItemProcessor.States.Chunk.Resource).toBe('${ImportChunkFunctionArn}');
      expect(m.ItemProcessor.States.Chunk.Retry[0].MaxAttempts).toBeGreaterThan(0);
      expect(m.ToleratedFailurePercentage).toBe(0);
      expect(m.MaxConcurrency).toBeGreaterThan(1);
    }
  });

  test('it invokes only the three import functions and reads only S3 objects', () => {
    expect([...new Set(resources(asl))].sort()).toEqual(['${ImportChunkFunctionArn}', '${ImportFinishFunctionArn}', '${ImportPlanFunctionArn}', 'arn:aws:states:::s3:getObject']);
  });
});
