/**
 * The DynamoDB version index's commit protocol (docs/dynamodb-version-index.md), with aws-sdk-client-mock over the
 * in-memory table of test/contract/dynamodb-fake.ts: the exact calls, a 300-entry commit's atomicity, a crash after
 * every step followed by recovery, conditional rollback, and concurrent writers.
 */
import { PutItemCommand, TransactWriteItemsCommand, UpdateItemCommand, BatchGetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbVersionIndex, VersionIndexAbortedError } from '../../src/adapters/aws/dynamodb-version-index';
import { VersionConflictError, type VersionRecord } from '../../src/core/ports';
import { Crashed, FakeDynamoTable, type CommandName, type CrashRule } from '../contract/dynamodb-fake';

const LEASE = 60_000;
const rec = (v: string): VersionRecord => ({ versionId: v, source: 'gp', lastUpdated: '2026-01-01T00:00:00Z' });
const keyOf = (i: number) => `Observation/${i}`;
const KEYS = Array.from({ length: 300 }, (_, i) => keyOf(i));

/** A table and a shared clock; each process() is a new client (a Lambda) on them. */
function world() {
  const table = new FakeDynamoTable();
  const clock = { now: 1_800_000_000_000 };
  let tx = 0;
  const process = (crash?: CrashRule) => {
    const { client, mock } = table.client(crash);
    const index = new DynamoDbVersionIndex(client, 'versions', { now: () => clock.now, newTxId: () => `tx${++tx}`, leaseMs: LEASE });
    return { index, mock };
  };
  return { table, clock, process };
}

/** The kind of protocol step a call is. */
function step(command: CommandName, input: any): string {
  if (command === 'UpdateItem' && String(input.UpdateExpression).startsWith('SET pv')) return 'pending';
  if (command === 'UpdateItem' && String(input.UpdateExpression).startsWith('SET v')) return 'apply';
  if (command === 'UpdateItem' && String(input.UpdateExpression).startsWith('SET xt')) return 'expire';
  if (command === 'UpdateItem' && String(input.UpdateExpression).startsWith('REMOVE')) return 'discard';
  if (command === 'DeleteItem') return 'discard';
  if (command === 'PutItem' && input.Item.xs?.S === 'committed') return 'commit';
  if (command === 'PutItem' && input.Item.xs?.S === 'aborted') return 'abort';
  return command;
}

/** Crash the process at the n-th call of a step, before it reaches the table or after it was applied. */
const crashAt = (kind: string, nth: number, when: 'before' | 'after'): CrashRule => {
  let seen = 0;
  return (command, input) => (step(command, input) === kind && ++seen === nth ? when : undefined);
};

/** 200 existing keys at version 1 (updates), 100 new ones (creates): the commit under test. */
async function seeded(w: ReturnType<typeof world>) {
  await w.process().index.commit(KEYS.slice(0, 200).map((key) => ({ key, record: rec('1') })));
  return KEYS.map((key, i) => ({ key, ...(i < 200 ? { expected: '1' } : {}), record: rec('2') }));
}

/** Every key at the new version, or every key as before: returns which, failing on anything in between. */
async function allOrNothing(w: ReturnType<typeof world>): Promise<'all' | 'nothing'> {
  const got = await w.process().index.get(KEYS);
  const all = KEYS.every((k) => got.get(k)?.versionId === '2');
  const nothing = KEYS.every((k, i) => (i < 200 ? got.get(k)?.versionId === '1' : !got.has(k)));
  expect(all || nothing).toBe(true);
  return all ? 'all' : 'nothing';
}

describe('exact calls', () => {
  test('up to 100 entries: one TransactWriteItems of conditional Puts that also refuse a pending version', async () => {
    const w = world();
    const { index, mock } = w.process();
    await index.commit([{ key: 'Patient/1', record: rec('1') }]);
    await index.commit([
      { key: 'Patient/1', expected: '1', record: rec('2') },
      { key: 'Patient/2', record: rec('1') },
    ]);
    const calls = mock.calls().map((c) => c.args[0].constructor.name);
    expect(calls).toEqual(['TransactWriteItemsCommand', 'TransactWriteItemsCommand']);
    const items = mock.commandCalls(TransactWriteItemsCommand)[1]!.args[0].input.TransactItems!;
    expect(items.map((i) => [i.Put!.Item!.pk!.S, i.Put!.ConditionExpression])).toEqual([
      ['Patient/1', 'v = :expected AND attribute_not_exists(px)'],
      ['Patient/2', 'attribute_not_exists(v) AND attribute_not_exists(px)'],
    ]);
  });

  test('300 entries: 300 conditional pending writes, then one commit item, then 300 conditional applies, then its TTL', async () => {
    const w = world();
    const entries = await seeded(w);
    const { index, mock } = w.process();
    await index.commit(entries);
    const steps = mock.calls().map((c) => step(c.args[0].constructor.name.replace(/Command$/, '') as CommandName, c.args[0].input));
    const count = (s: string) => steps.filter((x) => x === s).length;
    expect([count('pending'), count('commit'), count('apply'), count('expire'), steps.length]).toEqual([300, 1, 300, 1, 602]);
    expect(steps.lastIndexOf('pending')).toBeLessThan(steps.indexOf('commit'));
    expect(steps.indexOf('commit')).toBeLessThan(steps.indexOf('apply'));
    expect(steps[steps.length - 1]).toBe('expire');
    const updates = mock.commandCalls(UpdateItemCommand).map((c) => c.args[0].input);
    for (const u of updates.filter((u) => u.UpdateExpression!.startsWith('SET pv'))) {
      expect(u.ConditionExpression).toMatch(/^(v = :expected|attribute_not_exists\(v\)) AND attribute_not_exists\(px\)$/);
      expect(u.ExpressionAttributeValues![':px']).toEqual({ S: 'tx2' }); // tx1 seeded the table
    }
    for (const u of updates.filter((u) => u.UpdateExpression!.startsWith('SET v'))) expect(u.ConditionExpression).toBe('px = :px');
    const put = mock.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect([put.Item!.pk!.S, put.Item!.xs!.S, put.ConditionExpression, put.Item!.xt]).toEqual(['#tx/tx2', 'committed', 'attribute_not_exists(pk)', undefined]);
    expect(w.table.items.get('#tx/tx2')).toEqual({ pk: { S: '#tx/tx2' }, xs: { S: 'committed' }, xa: { N: String(w.clock.now) }, xt: expect.anything() });
    expect(updates[updates.length - 1]!.ExpressionAttributeValues![':xt']!.N).toBe(String(Math.floor(w.clock.now / 1000) + 7 * 86_400));
    expect(await allOrNothing(w)).toBe('all');
    expect(w.table.pendingKeys()).toEqual([]);
  });

  test('get: one strongly consistent BatchGetItem per 100 keys, one more for the transactions of pending versions', async () => {
    const w = world();
    const entries = await seeded(w);
    await w.process(crashAt('apply', 1, 'before')).index.commit(entries); // committed: the process dies applying
    const { index, mock } = w.process();
    await index.get(KEYS);
    const gets = mock.commandCalls(BatchGetItemCommand).map((c) => Object.values(c.args[0].input.RequestItems!)[0]!);
    expect(gets.map((g) => [g.Keys!.length, g.ConsistentRead])).toEqual([[100, true], [100, true], [100, true], [1, true]]);
    expect(gets[3]!.Keys![0]!.pk!.S).toBe('#tx/tx2');
  });
});

test('get retries unprocessed keys (throttling), and fails rather than report a throttled key as absent', async () => {
  const w = world();
  await w.process().index.commit(KEYS.slice(0, 150).map((key) => ({ key, record: rec('1') })));
  w.table.throttledReads = 3;
  const { index, mock } = w.process();
  expect((await index.get(KEYS.slice(0, 150))).size).toBe(150);
  expect(mock.commandCalls(BatchGetItemCommand).length).toBe(5); // 100 keys: 50, 25, 12 (three throttled calls), then 13; 50 keys: one call
  w.table.throttledReads = Infinity;
  await expect(w.process().index.get([keyOf(1), keyOf(2)])).rejects.toThrow('keys left unprocessed');
});

describe('a 300-entry commit is atomic', () => {
  test('a conflict on entry 250 leaves entries 1..249 at their old versions, visible to get() during and after', async () => {
    const w = world();
    await w.process().index.commit(KEYS.map((key) => ({ key, record: rec('1') })));
    await w.process().index.commit([{ key: keyOf(249), expected: '1', record: rec('other') }]);
    const during: (string | undefined)[][] = [];
    let looked = false;
    w.table.before = async (command, input) => {
      if (step(command, input) !== 'discard' || looked) return;
      looked = true; // the conflict is known and pendings are written: what does a reader see now?
      expect(w.table.pendingKeys().length).toBeGreaterThanOrEqual(200);
      const got = await w.process().index.get(KEYS);
      during.push(KEYS.map((k) => got.get(k)?.versionId));
    };
    const { index, mock } = w.process();
    const err = await index.commit(KEYS.map((key) => ({ key, expected: '1', record: rec('2') }))).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect((err as VersionConflictError).key).toBe(keyOf(249));
    const expected = KEYS.map((_, i) => (i === 249 ? 'other' : '1'));
    expect(during).toEqual([expected]);
    const after = await w.process().index.get(KEYS);
    expect(KEYS.map((k) => after.get(k)?.versionId)).toEqual(expected);
    expect(w.table.pendingKeys()).toEqual([]);
    expect(mock.commandCalls(PutItemCommand)).toHaveLength(0); // never reached the commit point
  });
});

describe('a crash after any step, then recovery: all or nothing', () => {
  const cases: [string, number, 'before' | 'after', 'all' | 'nothing'][] = [
    ['pending', 1, 'before', 'nothing'],
    ['pending', 1, 'after', 'nothing'],
    ['pending', 150, 'after', 'nothing'],
    ['pending', 300, 'after', 'nothing'],
    ['commit', 1, 'before', 'nothing'],
    ['commit', 1, 'after', 'all'],
    ['apply', 1, 'before', 'all'],
    ['apply', 150, 'after', 'all'],
    ['apply', 300, 'after', 'all'],
    ['expire', 1, 'before', 'all'],
  ];
  test.each(cases)('crash at %s #%d (%s the call): %s', async (kind, nth, when, outcome) => {
    const w = world();
    const entries = await seeded(w);
    const committing = w.process(crashAt(kind, nth, when)).index.commit(entries);
    // past the commit point the call reports success whatever fails after it (in real life the process may be gone)
    if (kind === 'apply' || kind === 'expire') await expect(committing).resolves.toBeUndefined();
    else await expect(committing).rejects.toBeInstanceOf(Crashed);
    expect(await allOrNothing(w)).toBe(outcome); // readers already see all or nothing, before any recovery
    // recovery too early (within the lease) settles a committed transaction but never aborts a live one
    await w.process().index.recoverUnfinished(new Date(w.clock.now));
    expect(await allOrNothing(w)).toBe(outcome);
    w.clock.now += 3 * LEASE;
    const r = await w.process().index.recoverUnfinished(new Date(w.clock.now - 2 * LEASE));
    expect(await allOrNothing(w)).toBe(outcome);
    expect(w.table.pendingKeys()).toEqual([]);
    if (kind === 'expire' || (kind === 'apply' && nth === 300)) expect(r).toEqual({ transactions: 1, applied: 0, discarded: 0 });
    const tx = w.table.items.get('#tx/tx2');
    if (outcome === 'nothing') expect(tx?.xs?.S).toBe(kind === 'pending' && nth === 1 && when === 'before' ? undefined : 'aborted');
    else expect([tx?.xs?.S, tx?.xt !== undefined]).toEqual(['committed', true]);
    // the keys are free again: a new commit expecting what get() says succeeds
    const now = await w.process().index.get(KEYS);
    await w.process().index.commit(KEYS.map((key) => ({ key, ...(now.has(key) ? { expected: now.get(key)!.versionId } : {}), record: rec('3') })));
    expect((await w.process().index.get(KEYS)).get(keyOf(299))?.versionId).toBe('3');
  });

  test('a crash while rolling back a conflict leaves nothing visible; recovery clears the rest', async () => {
    const w = world();
    const entries = await seeded(w);
    await w.process().index.commit([{ key: keyOf(10), expected: '1', record: rec('other') }]);
    // the adapter still reports the conflict; the rollbacks after the 20th never reach the table
    await expect(w.process(crashAt('discard', 20, 'after')).index.commit(entries)).rejects.toBeInstanceOf(VersionConflictError);
    const got = await w.process().index.get(KEYS);
    expect(KEYS.every((k, i) => (i === 10 ? got.get(k)?.versionId === 'other' : i < 200 ? got.get(k)?.versionId === '1' : !got.has(k)))).toBe(true);
    expect(w.table.pendingKeys().length).toBeGreaterThan(0);
    w.clock.now += 3 * LEASE;
    const r = await w.process().index.recoverUnfinished(new Date(w.clock.now));
    expect(r.applied).toBe(0);
    expect(r.discarded).toBeGreaterThan(0);
    expect(w.table.pendingKeys()).toEqual([]);
    expect(w.table.items.get(keyOf(250))).toBeUndefined(); // a create that never committed leaves no item at all
  });

  test('a writer stalled past its lease loses to recovery: its late commit point fails and it writes nothing', async () => {
    const w = world();
    const entries = await seeded(w);
    let stalled = false;
    w.table.before = async (command, input) => {
      if (step(command, input) !== 'commit' || stalled) return;
      stalled = true; // the writer hangs just before its commit point; meanwhile recovery runs
      w.clock.now += 3 * LEASE;
      const r = await w.process().index.recoverUnfinished(new Date(w.clock.now));
      expect(r).toEqual({ transactions: 1, applied: 0, discarded: 300 });
    };
    await expect(w.process().index.commit(entries)).rejects.toBeInstanceOf(VersionIndexAbortedError);
    expect(await allOrNothing(w)).toBe('nothing');
    expect(w.table.items.get('#tx/tx2')?.xs?.S).toBe('aborted');
    expect(w.table.pendingKeys()).toEqual([]);
  });
});

describe('rollback and concurrent writers', () => {
  test('a rollback never overwrites a version another writer made current meanwhile', async () => {
    const w = world();
    await w.process().index.commit(KEYS.map((key) => ({ key, record: rec('1') })));
    await w.process().index.commit([{ key: keyOf(249), expected: '1', record: rec('other') }]);
    let raced = false;
    w.table.before = async (command, input) => {
      if (step(command, input) !== 'discard' || raced) return;
      raced = true; // before the rollback lands: recovery frees the keys and another writer takes key 5
      w.clock.now += 3 * LEASE;
      await w.process().index.recoverUnfinished(new Date(w.clock.now));
      await w.process().index.commit([{ key: keyOf(5), expected: '1', record: rec('concurrent') }]);
    };
    const { index, mock } = w.process();
    await expect(index.commit(KEYS.map((key) => ({ key, expected: '1', record: rec('2') })))).rejects.toBeInstanceOf(VersionConflictError);
    expect(raced).toBe(true);
    expect((await w.process().index.get([keyOf(5)])).get(keyOf(5))?.versionId).toBe('concurrent');
    const rollbacks = mock.calls().map((c) => c.args[0].input as any).filter((i) => String(i.UpdateExpression).startsWith('REMOVE') || i.Key && !i.UpdateExpression);
    expect(rollbacks.length).toBeGreaterThan(0);
    for (const r of rollbacks) expect(r.ConditionExpression).toMatch(/^px = :px/);
  });

  test('concurrent 200-entry commits on 50 shared keys, 20 rounds: never both win, never a partial commit', async () => {
    const w = world();
    w.table.interleave = true;
    const keys = Array.from({ length: 350 }, (_, i) => keyOf(i));
    await w.process().index.commit(keys.map((key) => ({ key, record: rec('0') })));
    let wins = 0;
    for (let round = 1; round <= 20; round++) {
      const cur = await w.process().index.get(keys);
      const side = (from: number, tag: string) =>
        keys.slice(from, from + 200).map((key) => ({ key, expected: cur.get(key)!.versionId, record: rec(`${tag}${round}`) }));
      const [a, b] = [side(0, 'a'), side(150, 'b')];
      const results = await Promise.allSettled([w.process().index.commit(a), w.process().index.commit(b)]);
      const won = results.filter((r) => r.status === 'fulfilled').length;
      expect(won).toBeLessThanOrEqual(1);
      wins += won;
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(VersionConflictError);
      const got = await w.process().index.get(keys);
      for (const [r, entries] of [[results[0], a], [results[1], b]] as const) {
        const applied = entries.filter((e) => got.get(e.key)!.versionId === e.record.versionId).length;
        expect(applied).toBe(r!.status === 'fulfilled' ? 200 : 0);
      }
      expect(w.table.pendingKeys()).toEqual([]);
    }
    expect(wins).toBeGreaterThan(0);
  });

  test('a writer blocked by a committed but unapplied transaction completes it first (no recovery needed)', async () => {
    const w = world();
    const entries = await seeded(w);
    await w.process(crashAt('apply', 1, 'before')).index.commit(entries);
    expect(w.table.pendingKeys()).toHaveLength(300);
    // expecting the version the crashed writer committed: succeeds, helping it apply
    await w.process().index.commit(KEYS.slice(0, 120).map((key) => ({ key, expected: '2', record: rec('3') })));
    // expecting the version it replaced: a conflict
    await expect(w.process().index.commit([{ key: keyOf(200), record: rec('x') }])).rejects.toBeInstanceOf(VersionConflictError);
    const got = await w.process().index.get(KEYS);
    expect(KEYS.map((k) => got.get(k)?.versionId)).toEqual(KEYS.map((_, i) => (i < 120 ? '3' : '2')));
  });

  test('a live pending blocks other writers; an abandoned one (older than twice the lease) is aborted by the next writer', async () => {
    const w = world();
    const entries = await seeded(w);
    await expect(w.process(crashAt('commit', 1, 'before')).index.commit(entries)).rejects.toBeInstanceOf(Crashed);
    const single = [{ key: keyOf(3), expected: '1', record: rec('x') }];
    await expect(w.process().index.commit(single)).rejects.toBeInstanceOf(VersionConflictError);
    w.clock.now += 2 * LEASE + 1;
    await w.process().index.commit(single);
    expect(w.table.items.get('#tx/tx2')?.xs?.S).toBe('aborted');
    // the other 299 pendings of the aborted transaction are still there, and readers ignore them
    expect(w.table.pendingKeys()).toHaveLength(299);
    expect(await allOrNothingExcept3(w)).toBe(true);
    expect(await w.process().index.recoverUnfinished(new Date(w.clock.now))).toEqual({ transactions: 1, applied: 0, discarded: 299 });
    expect(await allOrNothingExcept3(w)).toBe(true);
  });
});

async function allOrNothingExcept3(w: ReturnType<typeof world>): Promise<boolean> {
  const got = await w.process().index.get(KEYS);
  return KEYS.every((k, i) => (i === 3 ? got.get(k)?.versionId === 'x' : i < 200 ? got.get(k)?.versionId === '1' : !got.has(k)));
}
