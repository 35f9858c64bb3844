/**
 * The ETL Lambda handler: SQS (batchItemFailures), SNS (local path) and bare events, over a real in-process ETL
 * (in-memory buckets, DuckDB) put in place of the bootstrap's.
 */
import { commit, harness, type Harness } from './etl-fixtures';

let h: Harness;
jest.mock('../../src/bootstrap', () => ({ getEtlApp: () => ({ etl: h.etl }) }));
import { Coalescer, EtlBatchError, handler, parseMessage } from '../../src/handlers/etl';
import type { IngestEvent } from '../../src/core/ports';

const obs = (id: string) => ({ resourceType: 'Observation', id, status: 'final', code: { coding: [{ code: 'x' }] }, valueQuantity: { value: 1 } });

beforeEach(() => {
  h = harness();
});
afterEach(async () => {
  await h.close();
});

const sqs = (bodies: unknown[]) => ({
  Records: bodies.map((b, i) => ({ messageId: `m${i}`, eventSource: 'aws:sqs', body: typeof b === 'string' ? b : JSON.stringify(b) })),
});

test('SQS: raw IngestEvents and SNS envelopes; only the failed messages are reported', async () => {
  const [e1] = await commit(h.lake, [obs('o1')], { requestId: 'r1' });
  const [e2] = await commit(h.lake, [obs('o2')], { requestId: 'r2' });
  const envelope = { Type: 'Notification', MessageId: 'x', Message: JSON.stringify(e2) };
  const out = await handler(sqs([e1, envelope, { ...e1!, checksumSha256: 'bad' }, 'not json', { type: 'tributary.triage.stored', requestId: 'z' }]));
  expect(out).toEqual({ batchItemFailures: [{ itemIdentifier: 'm2' }, { itemIdentifier: 'm3' }] });
  expect([...h.inner.objects.keys()].filter((k) => k.startsWith('marts/observation/'))).toHaveLength(2);
});

test('LOCAL_ETL=deferred: the local SNS path acknowledges without work; SQS (AWS) still processes', async () => {
  const [e1] = await commit(h.lake, [obs('o1')], { requestId: 'r1' });
  const sns = { Records: [{ EventSource: 'aws:sns', Sns: { MessageId: 'n1', Message: JSON.stringify(e1) } }] };
  const marts = () => [...h.inner.objects.keys()].filter((k) => k.startsWith('marts/observation/'));
  process.env.LOCAL_ETL = 'deferred';
  try {
    expect(await handler(sns)).toEqual({ events: 0, ignored: 1, files: 0, rows: 0, results: [] });
    expect(marts()).toHaveLength(0);
    expect(await handler(sqs([e1]))).toEqual({ batchItemFailures: [] });
    expect(marts()).toHaveLength(1);
  } finally {
    delete process.env.LOCAL_ETL;
  }
  expect(await handler(sns)).toMatchObject({ events: 1 });
});

test('SNS (local path): processes the message; throws when it fails', async () => {
  const [e1] = await commit(h.lake, [obs('o1')], { requestId: 'r1' });
  const sns = (m: unknown) => ({ Records: [{ EventSource: 'aws:sns', Sns: { MessageId: 'n1', Message: JSON.stringify(m) } }] });
  const out = (await handler(sns(e1))) as { events: number; rows: number };
  expect(out).toMatchObject({ events: 1, ignored: 0, rows: 2 });
  await expect(handler(sns({ ...e1!, bucket: 'elsewhere' }))).rejects.toBeInstanceOf(EtlBatchError);
  expect(await handler(sns({ type: 'tributary.triage.stored', requestId: 'q' }))).toMatchObject({ events: 0, ignored: 1 });
});

test('bare IngestEvent and arrays of them', async () => {
  const events = await commit(h.lake, [obs('o1'), { resourceType: 'Patient', id: 'p1' }], { requestId: 'r1' });
  expect(await handler(events[0])).toMatchObject({ events: 1 });
  expect(await handler(events)).toMatchObject({ events: 2 });
  await expect(handler({ hello: 'world' })).rejects.toThrow(/1 event\(s\) failed/);
});

test('parseMessage unwraps SNS envelopes and ignores other event types', () => {
  const e = { type: 'tributary.ingest.committed', requestId: 'r' };
  expect(parseMessage(JSON.stringify(e)).event).toEqual(e);
  expect(parseMessage({ Type: 'Notification', Message: JSON.stringify(e) }).event).toEqual(e);
  expect(parseMessage({ type: 'other', requestId: 'r' })).toEqual({ ignored: true });
  expect(() => parseMessage('{')).toThrow(/not JSON/);
});

test('Coalescer: concurrent submissions become one batch, each gets its own result', async () => {
  const batches: number[] = [];
  const c = new Coalescer(async (es: IngestEvent[]) => {
    batches.push(es.length);
    return es.map((e) => (e.objectKey === 'bad' ? new Error('x') : ({ objectKey: e.objectKey } as never)));
  });
  const ev = (k: string) => ({ objectKey: k }) as IngestEvent;
  const [a, b, d] = await Promise.all([c.submit([ev('a')]), c.submit([ev('bad'), ev('b')]), c.submit([ev('d')])]);
  expect(batches).toEqual([4]);
  expect(a).toEqual([{ objectKey: 'a' }]);
  expect(b![0]).toBeInstanceOf(Error);
  expect(d).toEqual([{ objectKey: 'd' }]);
});
