/**
 * The ETL dead-letter queue's depth (AWS): `ApproximateNumberOfMessages` of the DLQ (Terraform
 * `aws_sqs_queue.etl_dlq`, published as `etl_dlq_arn`). The queue URL is derived from its ARN.
 */
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DeadLetterQueue } from '../../core/ops/service';

export { SQSClient };

/** `https://sqs.{region}.amazonaws.com/{account}/{name}` of an SQS queue ARN. */
export function queueUrlOf(arn: string): string {
  const m = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]+)$/.exec(arn);
  if (!m) throw new Error('not an SQS queue ARN');
  return `https://sqs.${m[1]}.amazonaws.com/${m[2]}/${m[3]}`;
}

/** The DLQ's depth through SQS. */
export class SqsDeadLetters implements DeadLetterQueue {
  private readonly url: string;
  constructor(
    private readonly client: SQSClient,
    arn: string,
  ) {
    this.url = queueUrlOf(arn);
  }

  async depth(): Promise<number> {
    const r = await this.client.send(new GetQueueAttributesCommand({ QueueUrl: this.url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    return Number(r.Attributes?.ApproximateNumberOfMessages ?? 0);
  }
}
