/**
 * AWS {@link JobLog}: one item per job in a DynamoDB table (Terraform `aws_dynamodb_table.jobs`, key `id`), the
 * record as a JSON string attribute `record` beside the few attributes a query filters on (`status`, `source`,
 * `finishedAt`). Items expire after `ttlDays` through the table's TTL attribute `expiresAt`.
 */
import { DynamoDBClient, GetItemCommand, PutItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { JobLog, JobRecord } from '../../core/ops/jobs';

export { DynamoDBClient };

/** Job records in DynamoDB. */
export class DynamoDbJobLog implements JobLog {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
    private readonly ttlDays = 90,
  ) {}

  async put(record: JobRecord): Promise<void> {
    const expiresAt = Math.floor(Date.parse(record.finishedAt) / 1000) + this.ttlDays * 86400;
    await this.client.send(
      new PutItemCommand({
        TableName: this.table,
        Item: {
          id: { S: record.id },
          status: { S: record.status },
          source: { S: record.source },
          finishedAt: { S: record.finishedAt },
          expiresAt: { N: String(expiresAt) },
          record: { S: JSON.stringify(record) },
        },
      }),
    );
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const r = await this.client.send(new GetItemCommand({ TableName: this.table, Key: { id: { S: id } }, ConsistentRead: true }));
    return parseItem(r.Item);
  }

  async list(): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const r = await this.client.send(new ScanCommand({ TableName: this.table, ExclusiveStartKey: start, ProjectionExpression: 'id, #r', ExpressionAttributeNames: { '#r': 'record' } }));
      for (const item of r.Items ?? []) {
        const rec = parseItem(item);
        if (rec) out.push(rec);
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }
}

function parseItem(item: Record<string, AttributeValue> | undefined): JobRecord | undefined {
  const s = item?.record?.S;
  return s ? (JSON.parse(s) as JobRecord) : undefined;
}
