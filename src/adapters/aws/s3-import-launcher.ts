/**
 * The AWS {@link ImportLauncher}: writes `import-jobs/{jobId}/start` to the import bucket; an EventBridge rule on
 * that key (serverless.yml, terraform/import.tf) starts the import state machine with the job id. The API function
 * so needs no Step Functions permission, only `s3:PutObject` on the import bucket's job prefix.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ImportLauncher } from '../../core/import';

/** Starts a job by writing its start marker. */
export class S3ImportLauncher implements ImportLauncher {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'import-jobs/',
  ) {}

  async launch(jobId: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: `${this.prefix}${jobId}/start`, Body: JSON.stringify({ jobId }), ContentType: 'application/json' }));
  }
}
