/**
 * VersionIndex over Amazon DynamoDB (table `versions`, partition key `pk`). Lookups use BatchGetItem;
 * commits use TransactWriteItems with a condition per item (attribute_not_exists for creates, `v = :expected`
 * for updates), so a commit of up to 100 entries is all-or-nothing. Larger commits are split into chunks of
 * 100 transactions: each chunk is atomic and a failed chunk rolls back the chunks already written.
 */
import {
  BatchGetItemCommand,
  DynamoDBClient,
  TransactWriteItemsCommand,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { VersionConflictError, type VersionIndex, type VersionRecord } from '../../core/ports';

/** A DynamoDB-backed {@link VersionIndex}. */
export class DynamoDbVersionIndex implements VersionIndex {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {}

  async get(keys: string[]): Promise<Map<string, VersionRecord>> {
    const out = new Map<string, VersionRecord>();
    const unique = [...new Set(keys)];
    for (let i = 0; i < unique.length; i += 100) {
      let request: Record<string, { Keys: { pk: { S: string } }[] }> | undefined = {
        [this.table]: { Keys: unique.slice(i, i + 100).map((k) => ({ pk: { S: k } })) },
      };
      for (let attempt = 0; request && Object.keys(request).length > 0 && attempt < 8; attempt++) {
        const r = await this.client.send(new BatchGetItemCommand({ RequestItems: request }));
        for (const item of r.Responses?.[this.table] ?? []) {
          out.set(item.pk.S!, {
            versionId: item.v.S!,
            source: item.s.S!,
            lastUpdated: item.t.S!,
            ...(item.l?.S ? { lakeId: item.l.S } : {}),
            // commit record entries (docs/commit-protocol.md)
            ...(item.r?.S ? { requestId: item.r.S } : {}),
            ...(item.d?.S ? { digest: item.d.S } : {}),
            ...(item.a?.BOOL ? { aborted: true } : {}),
          });
        }
        request = r.UnprocessedKeys as typeof request;
      }
    }
    return out;
  }

  private item(e: { key: string; expected?: string; record: VersionRecord }): TransactWriteItem {
    return {
      Put: {
        TableName: this.table,
        Item: {
          pk: { S: e.key },
          v: { S: e.record.versionId },
          s: { S: e.record.source },
          t: { S: e.record.lastUpdated },
          ...(e.record.lakeId ? { l: { S: e.record.lakeId } } : {}),
          ...(e.record.requestId ? { r: { S: e.record.requestId } } : {}),
          ...(e.record.digest ? { d: { S: e.record.digest } } : {}),
          ...(e.record.aborted ? { a: { BOOL: true } } : {}),
        },
        ...(e.expected === undefined
          ? { ConditionExpression: 'attribute_not_exists(pk)' }
          : { ConditionExpression: 'v = :expected', ExpressionAttributeValues: { ':expected': { S: e.expected } } }),
      },
    };
  }

  async commit(entries: { key: string; expected?: string; record: VersionRecord }[]): Promise<void> {
    const done: { key: string; expected?: string; record: VersionRecord }[] = [];
    for (let i = 0; i < entries.length; i += 100) {
      const chunk = entries.slice(i, i + 100);
      try {
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: chunk.map((e) => this.item(e)) }));
        done.push(...chunk);
      } catch (err) {
        if (done.length > 0) await this.rollback(done);
        const e = err as { name?: string; CancellationReasons?: { Code?: string }[] };
        if (e.name === 'TransactionCanceledException') {
          const idx = e.CancellationReasons?.findIndex((r) => r.Code === 'ConditionalCheckFailed') ?? -1;
          throw new VersionConflictError(chunk[Math.max(0, idx)].key, { cause: err });
        }
        throw err;
      }
    }
  }

  /** Restores previous versions (or deletes new keys) of chunks already committed. */
  private async rollback(done: { key: string; expected?: string; record: VersionRecord }[]): Promise<void> {
    for (let i = 0; i < done.length; i += 100) {
      const items: TransactWriteItem[] = done.slice(i, i + 100).map((e) =>
        e.expected === undefined
          ? { Delete: { TableName: this.table, Key: { pk: { S: e.key } } } }
          : {
              Update: {
                TableName: this.table,
                Key: { pk: { S: e.key } },
                UpdateExpression: 'SET v = :prev',
                ExpressionAttributeValues: { ':prev': { S: e.expected } },
              },
            },
      );
      await this.client.send(new TransactWriteItemsCommand({ TransactItems: items }));
    }
  }
}

export { DynamoDBClient };
