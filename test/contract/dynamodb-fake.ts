/**
 * An in-memory DynamoDB table behind aws-sdk-client-mock, with the semantics the version index relies on (AWS has
 * no local DynamoDB here): strongly consistent GetItem/BatchGetItem, conditional PutItem/UpdateItem/DeleteItem
 * (ConditionalCheckFailedException, with the old item under ReturnValuesOnConditionCheckFailure ALL_OLD),
 * all-or-nothing TransactWriteItems (at most 100 items, one operation per item, TransactionCanceledException with
 * CancellationReasons), and Query on the sparse `pending` index (paged). Expressions are parsed, not matched as
 * strings: `attribute_exists(a)`, `attribute_not_exists(a)`, `a = :x` joined by AND; `SET a = :x, ... REMOVE b, ...`.
 * Anything else throws, so the adapter cannot rely on something the fake does not really implement.
 *
 * Each client is one "process": it can be made to crash at a chosen call (before the call reaches the table, or
 * after it was applied but before the answer arrived); after that every call it makes fails.
 */
import { mockClient } from 'aws-sdk-client-mock';
import {
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
} from '@aws-sdk/client-dynamodb';

type Item = Record<string, AttributeValue>;
type Values = Record<string, AttributeValue> | undefined;
export type CommandName = 'GetItem' | 'BatchGetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'TransactWriteItems' | 'Query';
/** Decides, for the n-th call (1-based) of a client, whether the process dies before or after it. */
export type CrashRule = (command: CommandName, input: any, n: number) => 'before' | 'after' | undefined;

export class Crashed extends Error {
  override readonly name = 'Crashed';
}

const eq = (a: AttributeValue | undefined, b: AttributeValue | undefined): boolean =>
  a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
const clone = <T>(x: T): T => structuredClone(x);
const NAME = /^[a-z][a-z0-9_]*$/i;
/** DynamoDB reserved words an attribute name in an expression could plausibly collide with (the full list has 573). */
const RESERVED = new Set(
  'as at by do if in is of on or to ttl key keys name state status source size time timestamp date data value values version count type'.split(' '),
);
const named = (n: string): string => {
  if (RESERVED.has(n.toLowerCase())) throw new Error(`fake DynamoDB: "${n}" is a reserved word; use an expression attribute name`);
  return n;
};

/** Evaluates a condition expression of the supported subset against an item (undefined = absent). */
export function evaluate(expr: string, item: Item | undefined, values: Values): boolean {
  return expr.split(/\s+AND\s+/).every((clause) => {
    const c = clause.trim();
    let m = /^attribute_not_exists\((\w+)\)$/.exec(c);
    if (m) return item?.[named(m[1]!)] === undefined;
    m = /^attribute_exists\((\w+)\)$/.exec(c);
    if (m) return item?.[named(m[1]!)] !== undefined;
    m = /^(\w+) = (:\w+)$/.exec(c);
    if (m) {
      if (!values?.[m[2]!]) throw new Error(`fake: unbound ${m[2]}`);
      return eq(item?.[named(m[1]!)], values[m[2]!]);
    }
    throw new Error(`fake DynamoDB: unsupported condition clause "${c}"`);
  });
}

/** Applies an update expression of the supported subset (SET to placeholders, REMOVE) to a copy of the item. */
export function update(expr: string, key: Item, item: Item | undefined, values: Values): Item {
  const out: Item = { ...clone(item ?? {}), ...clone(key) };
  const parts = expr.trim().split(/\s*\b(SET|REMOVE)\s+/).filter(Boolean);
  if (parts.length % 2 !== 0) throw new Error(`fake DynamoDB: unsupported update "${expr}"`);
  for (let i = 0; i < parts.length; i += 2) {
    for (const clause of parts[i + 1]!.split(',').map((s) => s.trim())) {
      if (parts[i] === 'SET') {
        const m = /^(\w+) = (:\w+)$/.exec(clause);
        if (!m || !values?.[m[2]!]) throw new Error(`fake DynamoDB: unsupported SET "${clause}"`);
        out[named(m[1]!)] = clone(values[m[2]!]!);
      } else if (parts[i] === 'REMOVE' && NAME.test(clause)) delete out[named(clause)];
      else throw new Error(`fake DynamoDB: unsupported update "${expr}"`);
    }
  }
  if ('pk' in out && out.pk!.S !== key.pk!.S) throw new Error('fake DynamoDB: key changed');
  return out;
}

export class FakeDynamoTable {
  readonly items = new Map<string, Item>();
  /** Every call that reached the table, in order. */
  readonly log: { command: CommandName; input: any }[] = [];
  /** Awaited before each call reaches the table (inject concurrent actors here). */
  before?: (command: CommandName, input: any) => Promise<void> | void;
  /** Yields to other callers at random before each call, so concurrent commits interleave. */
  interleave = false;
  /** Query page size (to exercise pagination). */
  pageSize = 25;
  /** How many BatchGetItem calls answer only half their keys, the rest as UnprocessedKeys (throttling). */
  throttledReads = 0;

  /** A new client (a new "process") on this table. */
  client(crash?: CrashRule): { client: DynamoDBClient; mock: ReturnType<typeof mockClient> } {
    const client = new DynamoDBClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    const mock = mockClient(client);
    let dead = false;
    let n = 0;
    const wire = (command: CommandName, handler: (input: any) => unknown) => async (input: any) => {
      if (dead) throw new Crashed('process is gone');
      const when = crash?.(command, input, ++n);
      if (when === 'before') {
        dead = true;
        throw new Crashed('crashed before the call');
      }
      if (this.interleave) for (let i = Math.floor(Math.random() * 4); i > 0; i--) await new Promise((r) => setImmediate(r));
      await this.before?.(command, input);
      if (dead) throw new Crashed('process is gone'); // died while this call was on its way
      this.log.push({ command, input: clone(input) });
      const out = handler(input);
      if (when === 'after') {
        dead = true;
        throw new Crashed('crashed after the call');
      }
      return out;
    };
    mock.on(GetItemCommand).callsFake(wire('GetItem', (i) => ({ Item: this.read(i.TableName, i.Key) })));
    mock.on(BatchGetItemCommand).callsFake(
      wire('BatchGetItem', (i) => {
        const [name, req] = Object.entries(i.RequestItems as Record<string, { Keys: Item[] }>)[0]!;
        if (req.Keys.length > 100) throw Object.assign(new Error('too many keys'), { name: 'ValidationException' });
        const served = this.throttledReads-- > 0 ? Math.floor(req.Keys.length / 2) : req.Keys.length;
        const found = req.Keys.slice(0, served).map((k) => this.read(name, k)).filter((it): it is Item => it !== undefined);
        const rest = req.Keys.slice(served);
        return { Responses: { [name]: found }, UnprocessedKeys: rest.length ? { [name]: { ...req, Keys: rest } } : {} };
      }),
    );
    mock.on(PutItemCommand).callsFake(wire('PutItem', (i) => this.write(i, () => clone(i.Item))));
    mock.on(UpdateItemCommand).callsFake(wire('UpdateItem', (i) => this.write(i, (old) => update(i.UpdateExpression, i.Key, old, i.ExpressionAttributeValues))));
    mock.on(DeleteItemCommand).callsFake(wire('DeleteItem', (i) => this.write(i, () => undefined)));
    mock.on(TransactWriteItemsCommand).callsFake(wire('TransactWriteItems', (i) => this.transact(i.TransactItems)));
    mock.on(QueryCommand).callsFake(wire('Query', (i) => this.query(i)));
    return { client, mock };
  }

  private read(_table: string, key: Item): Item | undefined {
    const it = this.items.get(key.pk!.S!);
    return it && clone(it);
  }

  private keyOf(input: any): string {
    const pk = (input.Key ?? input.Item).pk?.S;
    if (typeof pk !== 'string') throw new Error('fake DynamoDB: no pk');
    return pk;
  }

  private check(input: any): { ok: boolean; old: Item | undefined } {
    const old = this.items.get(this.keyOf(input));
    const ok = !input.ConditionExpression || evaluate(input.ConditionExpression, old, input.ExpressionAttributeValues);
    return { ok, old };
  }

  private write(input: any, next: (old: Item | undefined) => Item | undefined): object {
    const { ok, old } = this.check(input);
    if (!ok) {
      throw new ConditionalCheckFailedException({
        message: 'The conditional request failed',
        $metadata: {},
        ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old ? { Item: clone(old) } : {}),
      });
    }
    const item = next(old);
    if (item) this.items.set(this.keyOf(input), item);
    else this.items.delete(this.keyOf(input));
    return {};
  }

  private transact(ops: any[]): object {
    if (ops.length > 100) throw Object.assign(new Error('at most 100 items'), { name: 'ValidationException' });
    const inputs = ops.map((op) => op.Put ?? op.Update ?? op.Delete ?? op.ConditionCheck);
    if (new Set(inputs.map((i) => this.keyOf(i))).size !== inputs.length) {
      throw Object.assign(new Error('two operations on one item'), { name: 'ValidationException' });
    }
    const reasons = inputs.map((input) => {
      const { ok, old } = this.check(input);
      if (ok) return { Code: 'None' };
      return { Code: 'ConditionalCheckFailed', ...(input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD' && old ? { Item: clone(old) } : {}) };
    });
    if (reasons.some((r) => r.Code !== 'None')) {
      throw new TransactionCanceledException({ message: 'Transaction cancelled', $metadata: {}, CancellationReasons: reasons });
    }
    ops.forEach((op, k) => {
      const key = this.keyOf(inputs[k]);
      if (op.Put) this.items.set(key, clone(op.Put.Item));
      if (op.Update) this.items.set(key, update(op.Update.UpdateExpression, op.Update.Key, this.items.get(key), op.Update.ExpressionAttributeValues));
      if (op.Delete) this.items.delete(key);
    });
    return {};
  }

  private query(input: any): object {
    if (input.IndexName !== 'pending') throw new Error('fake DynamoDB: only the pending index');
    const m = /^gk = (:\w+) AND pa < (:\w+)$/.exec(input.KeyConditionExpression);
    if (!m) throw new Error(`fake DynamoDB: unsupported key condition ${input.KeyConditionExpression}`);
    const gk = input.ExpressionAttributeValues[m[1]!].S;
    const cutoff = Number(input.ExpressionAttributeValues[m[2]!].N);
    const all = [...this.items.values()]
      .filter((it) => it.gk?.S === gk && it.pa?.N !== undefined && Number(it.pa.N) < cutoff)
      .sort((a, b) => Number(a.pa!.N) - Number(b.pa!.N) || a.pk!.S!.localeCompare(b.pk!.S!));
    const from = input.ExclusiveStartKey ? all.findIndex((it) => it.pk!.S === input.ExclusiveStartKey.pk.S) + 1 : 0;
    const page = all.slice(from, from + this.pageSize);
    const last = page[page.length - 1];
    return {
      Items: page.map(clone),
      ...(from + this.pageSize < all.length && last ? { LastEvaluatedKey: { pk: last.pk, gk: last.gk, pa: last.pa } } : {}),
    };
  }

  /** Raw items still holding a pending version (what recovery must clear). */
  pendingKeys(): string[] {
    return [...this.items.values()].filter((it) => it.px).map((it) => it.pk!.S!);
  }
}
