/**
 * One contract, two VersionIndex implementations: the local file log and DynamoDB (through aws-sdk-client-mock
 * with an in-memory table that enforces the same condition expressions DynamoDB evaluates).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockClient } from 'aws-sdk-client-mock';
import { BatchGetItemCommand, DynamoDBClient, TransactWriteItemsCommand } from '@aws-sdk/client-dynamodb';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { DynamoDbVersionIndex } from '../../src/adapters/aws/dynamodb-version-index';
import { VersionConflictError, type VersionIndex } from '../../src/core/ports';
import { ServerFault, normalizeError } from '../../src/fhir/errors';
import { serverError } from '../../src/fhir/outcomes';

type Item = Record<string, { S: string }>;

/** A DynamoDB fake with the semantics the adapter relies on: BatchGet, and all-or-nothing conditional transactions. */
function fakeDynamo(): { client: DynamoDBClient; calls: () => string[] } {
  const table = new Map<string, Item>();
  const client = new DynamoDBClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const mock = mockClient(client);
  const calls: string[] = [];
  mock.on(BatchGetItemCommand).callsFake((input) => {
    calls.push('BatchGetItem');
    const [name, req] = Object.entries(input.RequestItems as Record<string, { Keys: Item[] }>)[0];
    return { Responses: { [name]: req.Keys.map((k) => table.get(k.pk.S)).filter(Boolean) } };
  });
  mock.on(TransactWriteItemsCommand).callsFake((input) => {
    calls.push('TransactWriteItems');
    const items = input.TransactItems as any[];
    if (items.length > 100) throw Object.assign(new Error('too many'), { name: 'ValidationException' });
    const reasons = items.map((it) => {
      if (it.Put) {
        const cur = table.get(it.Put.Item.pk.S);
        if (it.Put.ConditionExpression === 'attribute_not_exists(pk)' && cur) return { Code: 'ConditionalCheckFailed' };
        if (it.Put.ConditionExpression === 'v = :expected' && cur?.v.S !== it.Put.ExpressionAttributeValues[':expected'].S) {
          return { Code: 'ConditionalCheckFailed' };
        }
      }
      return { Code: 'None' };
    });
    if (reasons.some((r) => r.Code !== 'None')) {
      throw Object.assign(new Error('cancelled'), { name: 'TransactionCanceledException', CancellationReasons: reasons });
    }
    for (const it of items) {
      if (it.Put) table.set(it.Put.Item.pk.S, it.Put.Item);
      if (it.Delete) table.delete(it.Delete.Key.pk.S);
      if (it.Update) table.get(it.Update.Key.pk.S)!.v = it.Update.ExpressionAttributeValues[':prev'];
    }
    return {};
  });
  return { client, calls: () => calls };
}

const rec = (v: string, source = 'gp') => ({ versionId: v, source, lastUpdated: '2026-01-01T00:00:00Z' });

const implementations: [string, () => VersionIndex][] = [
  ['local file log', () => new FileVersionIndex(fs.mkdtempSync(path.join(os.tmpdir(), 'vi-')))],
  ['DynamoDB (mocked client)', () => new DynamoDbVersionIndex(fakeDynamo().client, 'versions')],
];

describe.each(implementations)('VersionIndex contract: %s', (_name, make) => {
  test('unknown keys are absent; committed ones come back', async () => {
    const idx = make();
    expect((await idx.get(['Patient/1'])).size).toBe(0);
    await idx.commit([{ key: 'Patient/1', record: rec('1') }]);
    const got = await idx.get(['Patient/1', 'Patient/2']);
    expect(got.get('Patient/1')).toEqual(rec('1'));
    expect(got.has('Patient/2')).toBe(false);
  });

  test('a commit entry keeps its optional fields (request id, digest, aborted): docs/commit-protocol.md', async () => {
    const idx = make();
    const entry = { ...rec('1'), requestId: 'req-1', digest: 'ab12' };
    await idx.commit([{ key: 'Request/abc', record: entry }, { key: 'Patient/1', record: { ...rec('1'), lakeId: 'p-x' } }]);
    expect((await idx.get(['Request/abc'])).get('Request/abc')).toEqual(entry);
    expect((await idx.get(['Patient/1'])).get('Patient/1')).toEqual({ ...rec('1'), lakeId: 'p-x' });
    const aborted = { ...rec('2'), requestId: 'req-2', aborted: true };
    await idx.commit([{ key: 'Request/abc', expected: '1', record: aborted }]);
    expect((await idx.get(['Request/abc'])).get('Request/abc')).toEqual(aborted);
  });

  test('an update must name the current version', async () => {
    const idx = make();
    await idx.commit([{ key: 'Patient/1', record: rec('1') }]);
    await idx.commit([{ key: 'Patient/1', expected: '1', record: rec('2') }]);
    await expect(idx.commit([{ key: 'Patient/1', expected: '1', record: rec('3') }])).rejects.toBeInstanceOf(VersionConflictError);
    await expect(idx.commit([{ key: 'Patient/1', record: rec('3') }])).rejects.toBeInstanceOf(VersionConflictError);
    expect((await idx.get(['Patient/1'])).get('Patient/1')!.versionId).toBe('2');
  });

  test('a conflict is a server fault naming the key, with no id in its message', async () => {
    const idx = make();
    await idx.commit([{ key: 'Patient/pas-4711', record: rec('1') }]);
    const err = await idx.commit([{ key: 'Patient/pas-4711', expected: '7', record: rec('8') }]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(VersionConflictError);
    expect(err).toBeInstanceOf(ServerFault);
    expect((err as VersionConflictError).name).toBe('VersionConflictError');
    expect((err as VersionConflictError).key).toBe('Patient/pas-4711');
    expect((err as VersionConflictError).message).not.toContain('pas-4711');
    expect(normalizeError(err)).toEqual(serverError());
  });

  test('a commit is all or nothing', async () => {
    const idx = make();
    await idx.commit([{ key: 'Patient/1', record: rec('1') }]);
    await expect(
      idx.commit([
        { key: 'Observation/9', record: rec('1') },
        { key: 'Patient/1', expected: '7', record: rec('8') },
      ]),
    ).rejects.toBeInstanceOf(VersionConflictError);
    expect((await idx.get(['Observation/9'])).size).toBe(0);
  });

  test('large commits (over DynamoDB’s 100-item transaction limit) are still all or nothing', async () => {
    const idx = make();
    await idx.commit([{ key: 'Patient/last', record: rec('1') }]);
    const many = Array.from({ length: 250 }, (_, i) => ({ key: `Observation/${i}`, record: rec('1') }));
    await idx.commit(many);
    expect((await idx.get(many.map((m) => m.key))).size).toBe(250);
    const more = Array.from({ length: 150 }, (_, i) => ({ key: `Condition/${i}`, record: rec('1') }));
    await expect(idx.commit([...more, { key: 'Patient/last', expected: '5', record: rec('6') }])).rejects.toBeInstanceOf(
      VersionConflictError,
    );
    expect((await idx.get(more.map((m) => m.key))).size).toBe(0);
  });
});

test('the local index is shared by separate instances on one directory (worker threads, processes)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vi-'));
  const a = new FileVersionIndex(dir);
  const b = new FileVersionIndex(dir);
  await a.commit([{ key: 'Patient/1', record: rec('1') }]);
  expect((await b.get(['Patient/1'])).get('Patient/1')!.versionId).toBe('1');
  await b.commit([{ key: 'Patient/1', expected: '1', record: rec('2') }]);
  await expect(a.commit([{ key: 'Patient/1', expected: '1', record: rec('2') }])).rejects.toBeInstanceOf(VersionConflictError);
  // concurrent creates of the same key: exactly one wins
  const results = await Promise.allSettled([a, b, a, b].map((i) => i.commit([{ key: 'Patient/race', record: rec('1') }])));
  expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
});
