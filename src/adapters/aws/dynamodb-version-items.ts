/**
 * The item layout of the DynamoDB version index (FHIR versioning, https://hl7.org/fhir/R4/http.html#versioning)
 * and the request builders of its commit protocol (see
 * docs/dynamodb-version-index.md). One item per key:
 * - current version: `v` (versionId), `s` (source), `t` (lastUpdated), `l` (lakeId, optional);
 * - pending version of an unfinished large commit: `pv`, `ps`, `pt`, `pl`, tagged `px` (transaction id),
 *   `pa` (transaction start, epoch ms) and `gk` (shard of the sparse `pending` index recovery queries);
 * and one item per large transaction, `#tx/{txId}`: `xs` (`committed` | `aborted`), `xa` (epoch ms),
 * `xt` (TTL, epoch seconds, set once nothing refers to it any more).
 * Keys given to the index never start with `#` (FHIR types and ids cannot contain it), so the two never meet.
 */
import type { AttributeValue, UpdateItemCommandInput, DeleteItemCommandInput, PutItemCommandInput } from '@aws-sdk/client-dynamodb';
import type { VersionRecord } from '../../core/ports';

export type Item = Record<string, AttributeValue>;
export interface Entry {
  key: string;
  expected?: string;
  record: VersionRecord;
}
export type TxState = 'committed' | 'aborted';

/** Prefix of transaction items; no version-index key can start with it. */
export const TX_PREFIX = '#tx/';
/** Name of the sparse global secondary index over pending entries (hash `gk`, range `pa`). */
export const PENDING_INDEX = 'pending';
/** Shards of the pending index (spreads a large commit's index writes over several partitions). */
export const PENDING_SHARDS = 16;
const PENDING_ATTRS = 'pv, ps, pt, pl, px, pa, gk';

const S = (s: string): AttributeValue => ({ S: s });
const N = (n: number): AttributeValue => ({ N: String(n) });

/** The version an item holds as current (`''`) or pending (`'p'`), if any. */
export function recordOf(item: Item, prefix: '' | 'p'): VersionRecord | undefined {
  const v = item[`${prefix}v`]?.S;
  if (v === undefined) return undefined;
  const l = item[`${prefix}l`]?.S;
  return { versionId: v, source: item[`${prefix}s`]!.S!, lastUpdated: item[`${prefix}t`]!.S!, ...(l ? { lakeId: l } : {}) };
}

/** The whole item of a version written directly (small commits: one TransactWriteItems Put). */
export function currentItem(key: string, r: VersionRecord): Item {
  return { pk: S(key), v: S(r.versionId), s: S(r.source), t: S(r.lastUpdated), ...(r.lakeId ? { l: S(r.lakeId) } : {}) };
}

/**
 * The condition of writing over a key: its current version is the expected one (or it has none) and no other
 * transaction holds a pending version of it.
 */
export function expectation(e: Entry): { ConditionExpression: string; ExpressionAttributeValues?: Item } {
  return e.expected === undefined
    ? { ConditionExpression: 'attribute_not_exists(v) AND attribute_not_exists(px)' }
    : { ConditionExpression: 'v = :expected AND attribute_not_exists(px)', ExpressionAttributeValues: { ':expected': S(e.expected) } };
}

/** Step 1: the entry's version written as pending under `txId`, conditional on {@link expectation}. */
export function pendingWrite(table: string, e: Entry, txId: string, startedAt: number, shard: number): UpdateItemCommandInput {
  const cond = expectation(e);
  const r = e.record;
  return {
    TableName: table,
    Key: { pk: S(e.key) },
    UpdateExpression: `SET pv = :pv, ps = :ps, pt = :pt, ${r.lakeId ? 'pl = :pl, ' : ''}px = :px, pa = :pa, gk = :gk`,
    ConditionExpression: cond.ConditionExpression,
    ExpressionAttributeValues: {
      ...cond.ExpressionAttributeValues,
      ':pv': S(r.versionId),
      ':ps': S(r.source),
      ':pt': S(r.lastUpdated),
      ...(r.lakeId ? { ':pl': S(r.lakeId) } : {}),
      ':px': S(txId),
      ':pa': N(startedAt),
      ':gk': S(`p${shard % PENDING_SHARDS}`),
    },
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/**
 * Step 2, the commit point: the transaction item, created only if absent (a recovery's abort fences it). A
 * committed one is also in the pending index until step 4, so recovery finds it even once all its entries are
 * applied; an aborted one expires at once.
 */
export function txPut(table: string, txId: string, state: TxState, at: number, expiresAt?: number): PutItemCommandInput {
  const tracked: Item = state === 'committed' ? { pa: N(at), gk: S(`p${hashShard(txId)}`) } : {};
  return {
    TableName: table,
    Item: { pk: S(TX_PREFIX + txId), xs: S(state), xa: N(at), ...tracked, ...(expiresAt ? { xt: N(expiresAt) } : {}) },
    ConditionExpression: 'attribute_not_exists(pk)',
    ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
  };
}

/** Step 3: the pending version becomes current, only while `txId` still holds it. */
export function applyWrite(table: string, key: string, r: VersionRecord, txId: string): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { pk: S(key) },
    UpdateExpression: `SET v = :v, s = :s, t = :t${r.lakeId ? ', l = :l' : ''} REMOVE ${PENDING_ATTRS}${r.lakeId ? '' : ', l'}`,
    ConditionExpression: 'px = :px',
    ExpressionAttributeValues: {
      ':v': S(r.versionId),
      ':s': S(r.source),
      ':t': S(r.lastUpdated),
      ...(r.lakeId ? { ':l': S(r.lakeId) } : {}),
      ':px': S(txId),
    },
  };
}

/**
 * Rollback of one entry of an aborted transaction, only while `txId` still holds it (never touches a version
 * another writer made current): a key that had a current version loses the pending attributes, a key created by
 * the transaction is deleted.
 */
export function discardWrite(table: string, key: string, hadCurrent: boolean, txId: string): { update?: UpdateItemCommandInput; del?: DeleteItemCommandInput } {
  const base = { TableName: table, Key: { pk: S(key) }, ExpressionAttributeValues: { ':px': S(txId) } };
  return hadCurrent
    ? { update: { ...base, UpdateExpression: `REMOVE ${PENDING_ATTRS}`, ConditionExpression: 'px = :px' } }
    : { del: { ...base, ConditionExpression: 'px = :px AND attribute_not_exists(v)' } };
}

/** Step 4: the applied (or aborted) transaction item expires through the table's TTL. */
export function txExpire(table: string, txId: string, expiresAt: number): UpdateItemCommandInput {
  return {
    TableName: table,
    Key: { pk: S(TX_PREFIX + txId) },
    UpdateExpression: 'SET xt = :xt REMOVE pa, gk',
    ExpressionAttributeValues: { ':xt': N(expiresAt) },
  };
}

/** A stable shard for a string. */
function hashShard(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
  return h % PENDING_SHARDS;
}

/** Whether an SDK error is a failed condition (single-item write). */
export const isConditionFailure = (err: unknown): err is { Item?: Item } =>
  (err as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';

/** Runs `fn` over `items` with at most `limit` calls in flight; `fn` must not reject. */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
