/**
 * VersionIndex over Amazon DynamoDB (table `versions`, partition key `pk`), all-or-nothing at any size
 * (FHIR versioning and optimistic concurrency, https://hl7.org/fhir/R4/http.html#concurrency). The protocol,
 * its failure windows and its cost are in docs/dynamodb-version-index.md. In short:
 * - a commit of at most 100 entries is one TransactWriteItems of conditional Puts (atomic by DynamoDB);
 * - a larger commit (1) writes each entry as a pending version tagged with a fresh transaction id, conditional on
 *   the expected current version and on no other pending; (2) creates `#tx/{txId}` (state `committed`) only if
 *   absent: the single commit point; (3) makes each pending version current, conditional on it still being this
 *   transaction's; (4) sets the transaction item's TTL. A conflict in (1) discards only this transaction's
 *   pendings. Readers resolve a pending version through its transaction item: committed, it is current;
 *   otherwise the previous version is.
 * - {@link DynamoDbVersionIndex.recoverUnfinished} settles what a crash left: a committed transaction's pendings are
 *   applied; a transaction with no item after the lease is aborted (its item created as `aborted`, so a late
 *   committer fails) and its pendings discarded. Writers blocked by such a pending settle it the same way.
 */
import {
  BatchGetItemCommand,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { VersionConflictError, type VersionIndex, type VersionIndexRecovery, type VersionRecord } from '../../core/ports';
import {
  PENDING_INDEX,
  PENDING_SHARDS,
  TX_PREFIX,
  applyWrite,
  currentItem,
  discardWrite,
  eachLimit,
  expectation,
  isConditionFailure,
  pendingWrite,
  recordOf,
  txExpire,
  txPut,
  type Entry,
  type Item,
  type TxState,
} from './dynamodb-version-items';
import { ServerFault } from '../../fhir/errors';

/** Tuning of {@link DynamoDbVersionIndex}; the defaults suit Lambda. */
export interface DynamoDbVersionIndexOptions {
  /** Largest commit written as one TransactWriteItems (DynamoDB's limit is 100). */
  maxTransactItems?: number;
  /** Requests in flight during the pending and apply steps of a large commit (the SDK's default socket pool is 50). */
  concurrency?: number;
  /**
   * A large commit that has not reached its commit point this long after it started aborts itself; another
   * writer or recovery treats its pendings as abandoned after twice this long.
   */
  leaseMs?: number;
  /** Seconds a settled transaction item is kept before TTL deletes it. */
  txRetentionSeconds?: number;
  /** Clock (epoch ms) and transaction ids, replaceable in tests. */
  now?: () => number;
  newTxId?: () => string;
}

/** Thrown when a large commit lost its transaction to recovery (it took longer than its lease): nothing was written. */
export class VersionIndexAbortedError extends ServerFault {
  override readonly name = 'VersionIndexAbortedError';
}

/** A DynamoDB-backed {@link VersionIndex}. */
export class DynamoDbVersionIndex implements VersionIndex {
  private readonly maxTransactItems: number;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly retention: number;
  private readonly now: () => number;
  private readonly newTxId: () => string;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    options: DynamoDbVersionIndexOptions = {},
  ) {
    this.maxTransactItems = Math.min(100, options.maxTransactItems ?? 100);
    this.concurrency = options.concurrency ?? 50;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.retention = options.txRetentionSeconds ?? 7 * 86_400;
    this.now = options.now ?? Date.now;
    this.newTxId = options.newTxId ?? randomUUID;
  }

  async get(keys: string[]): Promise<Map<string, VersionRecord>> {
    const items = await this.batchGet([...new Set(keys)]);
    const txIds = [...new Set(items.flatMap((i) => (i.px?.S ? [i.px.S] : [])))];
    const states = new Map<string, TxState | undefined>();
    for (const tx of await this.batchGet(txIds.map((id) => TX_PREFIX + id))) states.set(tx.pk!.S!.slice(TX_PREFIX.length), tx.xs?.S as TxState);
    const out = new Map<string, VersionRecord>();
    for (const item of items) {
      const pendingIsCurrent = item.px?.S !== undefined && states.get(item.px.S) === 'committed';
      const r = recordOf(item, pendingIsCurrent ? 'p' : '');
      if (r) out.set(item.pk!.S!, r);
    }
    return out;
  }

  async commit(entries: Entry[]): Promise<void> {
    if (entries.length === 0) return;
    if (entries.some((e) => e.key.startsWith('#'))) throw new ServerFault('version index keys cannot start with #');
    if (entries.length <= this.maxTransactItems) return this.commitSmall(entries);
    return this.commitLarge(entries);
  }

  /**
   * Settles every transaction with entries pending since before `olderThan` (never younger than twice the lease):
   * committed ones are applied, others aborted and discarded. Meant for a scheduled recovery function.
   */
  async recoverUnfinished(olderThan: Date): Promise<VersionIndexRecovery> {
    const cutoff = Math.min(olderThan.getTime(), this.now() - 2 * this.leaseMs);
    const byTx = new Map<string, Item[]>();
    for (let shard = 0; shard < PENDING_SHARDS; shard++) {
      let start: Item | undefined;
      do {
        const r = await this.client.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: PENDING_INDEX,
            KeyConditionExpression: 'gk = :gk AND pa < :cutoff',
            ExpressionAttributeValues: { ':gk': { S: `p${shard}` }, ':cutoff': { N: String(cutoff) } },
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of r.Items ?? []) {
          // an entry joins its transaction's group; a committed transaction item not yet expired opens its own
          const txId = item.px?.S ?? item.pk!.S!.slice(TX_PREFIX.length);
          byTx.set(txId, [...(byTx.get(txId) ?? []), ...(item.px ? [item] : [])]);
        }
        start = r.LastEvaluatedKey;
      } while (start);
    }
    const result: VersionIndexRecovery = { transactions: byTx.size, applied: 0, discarded: 0 };
    for (const [txId, items] of byTx) {
      const state = await this.settleTx(txId);
      const settled = await this.settleItems(txId, state, items);
      result[state === 'committed' ? 'applied' : 'discarded'] += settled;
      if (state === 'committed') await this.expireTx(txId);
    }
    return result;
  }

  /** Up to 100 entries: one conditional TransactWriteItems, retried once after settling abandoned pendings. */
  private async commitSmall(entries: Entry[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new TransactWriteItemsCommand({
            TransactItems: entries.map((e) => ({
              Put: { TableName: this.table, Item: currentItem(e.key, e.record), ...expectation(e), ReturnValuesOnConditionCheckFailure: 'ALL_OLD' },
            })),
          }),
        );
        return;
      } catch (err) {
        const e = err as { name?: string; CancellationReasons?: { Code?: string; Item?: Item }[] };
        if (e.name !== 'TransactionCanceledException') throw err;
        const reasons = e.CancellationReasons ?? [];
        const failed = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict');
        if (failed < 0) throw err;
        const blockers = reasons.flatMap((r) => (r.Code === 'ConditionalCheckFailed' && r.Item?.px ? [r.Item] : []));
        if (attempt > 0 || blockers.length === 0 || !(await this.settleBlockers(blockers))) {
          throw new VersionConflictError(entries[failed]!.key, { cause: err });
        }
      }
    }
  }

  /** Any size: pending versions, one commit item, apply (see the file comment). */
  private async commitLarge(entries: Entry[]): Promise<void> {
    const txId = this.newTxId();
    const startedAt = this.now();
    const written: Entry[] = [];
    let failure: unknown;
    // (1) pending versions, conditional on the expectation and on no other pending
    await eachLimit(entries, this.concurrency, async (e, i) => {
      if (failure) return;
      try {
        await this.writePending(e, txId, startedAt, i);
        written.push(e);
      } catch (err) {
        failure ??= err;
        // an error other than a conflict may hide a write that landed: discard it too (conditional on px = txId)
        if (!(err instanceof VersionConflictError)) written.push(e);
      }
    });
    if (!failure && this.now() - startedAt > this.leaseMs) failure = new VersionIndexAbortedError('version index commit exceeded its lease');
    if (failure) {
      await this.discard(txId, written);
      throw failure;
    }
    // (2) the commit point
    const state = await this.commitPoint(txId, startedAt);
    if (state === 'aborted') {
      await this.discard(txId, written);
      throw new VersionIndexAbortedError('version index commit was aborted by recovery');
    }
    // (3) apply, best effort: readers and recovery complete whatever is left; (4) then the transaction item expires
    let complete = true;
    await eachLimit(written, this.concurrency, async (e) => {
      await this.client.send(new UpdateItemCommand(applyWrite(this.table, e.key, e.record, txId))).catch(() => (complete = false));
    });
    if (complete) await this.expireTx(txId).catch(() => undefined);
  }

  /** Step 1 for one entry; a pending of another transaction that is settled or abandoned is settled, then retried once. */
  private async writePending(e: Entry, txId: string, startedAt: number, i: number): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(new UpdateItemCommand(pendingWrite(this.table, e, txId, startedAt, i)));
        return;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const blocker = err.Item?.px ? err.Item : undefined;
        if (attempt > 0 || !blocker || !(await this.settleBlockers([blocker]))) throw new VersionConflictError(e.key, { cause: err });
      }
    }
  }

  /**
   * Creates the transaction item as committed. A failed condition means it exists: ours from an SDK retry
   * (committed) or a recovery's abort. Any other error leaves the outcome unknown: try to abort it ourselves to
   * know; if that fails too, rethrow (recovery decides: committed → applied, absent → aborted).
   */
  private async commitPoint(txId: string, startedAt: number): Promise<TxState> {
    try {
      await this.client.send(new PutItemCommand(txPut(this.table, txId, 'committed', startedAt)));
      return 'committed';
    } catch (err) {
      if (isConditionFailure(err)) return (err.Item?.xs?.S as TxState | undefined) ?? (await this.txState(txId)) ?? 'aborted';
      const decided = await this.settleTx(txId).catch(() => undefined);
      if (!decided) throw err;
      return decided;
    }
  }

  /**
   * Settles the transactions holding these pendings if they are decided (committed or aborted) or abandoned
   * (no transaction item twice the lease after they started). Returns false when one is still live.
   */
  private async settleBlockers(items: Item[]): Promise<boolean> {
    let all = true;
    for (const item of items) {
      const txId = item.px!.S!;
      let state = await this.txState(txId);
      if (!state && this.now() - Number(item.pa?.N ?? 0) > 2 * this.leaseMs) state = await this.settleTx(txId);
      if (!state) {
        all = false;
        continue;
      }
      await this.settleItems(txId, state, [item]);
    }
    return all;
  }

  /** The transaction's state, deciding an undecided one as aborted (conditional create: a late committer then fails). */
  private async settleTx(txId: string): Promise<TxState> {
    const known = await this.txState(txId);
    if (known) return known;
    try {
      await this.client.send(new PutItemCommand(txPut(this.table, txId, 'aborted', this.now(), this.expiry())));
      return 'aborted';
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return (err.Item?.xs?.S as TxState | undefined) ?? 'aborted';
    }
  }

  /** Applies (committed) or discards (aborted) the given pendings of `txId`; each write is conditional on `px = txId`. */
  private async settleItems(txId: string, state: TxState, items: Item[]): Promise<number> {
    let settled = 0;
    await eachLimit(items, this.concurrency, async (item) => {
      const key = item.pk!.S!;
      const ok =
        state === 'committed'
          ? await this.client.send(new UpdateItemCommand(applyWrite(this.table, key, recordOf(item, 'p')!, txId))).then(() => true, ignoreCondition)
          : await this.discardOne(txId, key, item.v !== undefined);
      if (ok) settled++;
    });
    return settled;
  }

  /** Discards this transaction's pendings (conditional: a key another writer holds is left alone). */
  private async discard(txId: string, written: Entry[]): Promise<void> {
    await eachLimit(written, this.concurrency, async (e) => {
      await this.discardOne(txId, e.key, e.expected !== undefined).catch(() => undefined);
    });
  }

  private async discardOne(txId: string, key: string, hadCurrent: boolean): Promise<boolean> {
    const w = discardWrite(this.table, key, hadCurrent, txId);
    const sent = w.update ? this.client.send(new UpdateItemCommand(w.update)) : this.client.send(new DeleteItemCommand(w.del!));
    return sent.then(() => true, ignoreCondition);
  }

  private async expireTx(txId: string): Promise<void> {
    await this.client.send(new UpdateItemCommand(txExpire(this.table, txId, this.expiry())));
  }

  private expiry(): number {
    return Math.floor(this.now() / 1000) + this.retention;
  }

  private async txState(txId: string): Promise<TxState | undefined> {
    const r = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { pk: { S: TX_PREFIX + txId } }, ConsistentRead: true }));
    return r.Item?.xs?.S as TxState | undefined;
  }

  /** Strongly consistent BatchGetItem in pages of 100, retrying unprocessed keys. */
  private async batchGet(keys: string[]): Promise<Item[]> {
    const out: Item[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let request: Record<string, { Keys: Item[]; ConsistentRead?: boolean }> | undefined = {
        [this.table]: { Keys: keys.slice(i, i + 100).map((k) => ({ pk: { S: k } })), ConsistentRead: true },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0; attempt++) {
        if (attempt === 8) throw new ServerFault('version index lookup: keys left unprocessed after 8 attempts');
        const r = await this.client.send(new BatchGetItemCommand({ RequestItems: request }));
        out.push(...(r.Responses?.[this.table] ?? []));
        request = r.UnprocessedKeys as typeof request;
      }
    }
    return out;
  }
}

/** A failed condition on a settling write means another writer settled it first: not an error, not counted. */
function ignoreCondition(err: unknown): false {
  if (isConditionFailure(err)) return false;
  throw err;
}

export { DynamoDBClient };
