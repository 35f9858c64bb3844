/**
 * EventBus over Amazon SNS (@aws-sdk/client-sns). Locally the same adapter talks to the SNS-protocol endpoint
 * started by `npm start` (serverless-offline-sns). One Publish per event; events carry no PHI.
 */
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { EventBus, TributaryEvent } from '../../core/ports';

/** Builds an SNS client; `endpoint` set = the local SNS-protocol server. */
export function createSnsClient(opts: { region?: string; endpoint?: string } = {}): SNSClient {
  return new SNSClient({
    region: opts.region ?? 'eu-west-2',
    ...(opts.endpoint
      ? { endpoint: opts.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } }
      : {}),
  });
}

/** Publishes each event as one SNS message with `type` and `resourceType` message attributes for filtering. */
export class SnsEventBus implements EventBus {
  constructor(
    private readonly client: SNSClient,
    private readonly topicArn: string,
  ) {}

  async publish(events: TributaryEvent[]): Promise<void> {
    await Promise.all(
      events.map((e) =>
        this.client.send(
          new PublishCommand({
            TopicArn: this.topicArn,
            Message: JSON.stringify(e),
            MessageAttributes: {
              type: { DataType: 'String', StringValue: e.type },
              ...(typeof e.resourceType === 'string'
                ? { resourceType: { DataType: 'String', StringValue: e.resourceType } }
                : {}),
            },
          }),
        ),
      ),
    );
  }
}
