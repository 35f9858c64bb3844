/**
 * One contract, three VersionIndex implementations: the local file log, and DynamoDB through aws-sdk-client-mock
 * over an in-memory table that evaluates the condition and update expressions DynamoDB evaluates
 * (./dynamodb-fake.ts): once with its defaults (commits of up to 100 entries in one transaction, larger ones through
 * the pending/commit-item protocol), once with the protocol forced for every commit of two entries or more.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { DynamoDbVersionIndex } from '../../src/adapters/aws/dynamodb-version-index';
import { VersionConflictError, type VersionIndex } from '../../src/core/ports';
import { ServerFault, normalizeError } from '../../src/fhir/errors';
import { serverError } from '../../src/fhir/outcomes';
import { FakeDynamoTable } from './dynamodb-fake';

const rec = (v: string, source = 'gp') => ({ versionId: v, source, lastUpdated: '2026-01-01T00:00:00Z' });

const implementations: [string, () => VersionIndex][] = [
  ['local file log', () => new FileVersionIndex(fs.mkdtempSync(path.join(os.tmpdir(), 'vi-')))],
  ['DynamoDB (mocked client)', () => new DynamoDbVersionIndex(interleaved().client().client, 'versions')],
  ['DynamoDB, pending protocol for every commit', () => new DynamoDbVersionIndex(interleaved().client().client, 'versions', { maxTransactItems: 1 })],
];

/** A fake table whose calls yield to each other at random, so concurrent commits really interleave. */
function interleaved(): FakeDynamoTable {
  const t = new FakeDynamoTable();
  t.interleave = true;
  return t;
}

describe.each(implementations)('VersionIndex contract: %s', (_name, make) => {
  test('unknown keys are absent; committed ones come back', async () => {
    const idx = make();
    expect((await idx.get(['Patient/1'])).size).toBe(0);
    await idx.commit([{ key: 'Patient/1', record: rec('1') }]);
    const got = await idx.get(['Patient/1', 'Patient/2']);
    expect(got.get('Patient/1')).toEqual(rec('1'));
    expect(got.has('Patient/2')).toBe(false);
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

  test('lake ids are kept, replaced and dropped with the version they belong to', async () => {
    const idx = make();
    const many = Array.from({ length: 120 }, (_, i) => ({ key: `Patient/${i}`, record: { ...rec('1'), lakeId: `lake-${i}` } }));
    await idx.commit(many);
    expect((await idx.get(['Patient/7'])).get('Patient/7')).toEqual({ ...rec('1'), lakeId: 'lake-7' });
    await idx.commit(many.map((m) => ({ key: m.key, expected: '1', record: rec('2') })));
    expect((await idx.get(['Patient/7'])).get('Patient/7')).toEqual(rec('2'));
  });

  test('concurrent commits on overlapping keys never both win, and the loser leaves nothing', async () => {
    const idx = make();
    const keys = Array.from({ length: 200 }, (_, i) => `Observation/${i}`);
    await idx.commit(keys.map((key) => ({ key, record: rec('1') })));
    for (let round = 0; round < 3; round++) {
      const before = await idx.get(keys);
      const a = keys.slice(0, 150).map((key) => ({ key, expected: before.get(key)!.versionId, record: rec(`a${round}`) }));
      const b = keys.slice(100).map((key) => ({ key, expected: before.get(key)!.versionId, record: rec(`b${round}`) }));
      const [ra, rb] = await Promise.allSettled([idx.commit(a), idx.commit(b)]);
      const wins = [ra, rb].filter((r) => r.status === 'fulfilled').length;
      expect(wins).toBeLessThanOrEqual(1);
      for (const r of [ra, rb]) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      const after = await idx.get(keys);
      for (const [side, entries] of [[ra, a] as const, [rb, b] as const]) {
        const other = entries === a ? b : a;
        for (const e of entries) {
          if (side.status === 'fulfilled') expect(after.get(e.key)!.versionId).toBe(e.record.versionId);
          else if (!other.some((o) => o.key === e.key)) expect(after.get(e.key)!.versionId).toBe(e.expected);
        }
      }
    }
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
