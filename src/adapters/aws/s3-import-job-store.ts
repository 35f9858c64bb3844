/**
 * {@link ImportJobStore} in S3 (the import bucket): `import-jobs/{jobId}/job.json` and one
 * `import-jobs/{jobId}/chunks/{file}-{chunk}.json` per committed chunk. A chunk record is its own object, so chunk
 * functions running in parallel (the Step Functions Distributed Map) never overwrite each other; S3's strong
 * read-after-write consistency makes a recorded chunk visible to the next reader.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ImportChunkRecord, ImportJobRecord, ImportJobStore } from '../../core/ports';

const JOB_ID = /^[A-Za-z0-9-]{8,64}$/;

const isMissing = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
};

/** Job state as JSON objects in a bucket. */
export class S3ImportJobStore implements ImportJobStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix = 'import-jobs/',
    private readonly kmsKeyId?: string,
  ) {}

  private key(id: string, rest: string): string {
    if (!JOB_ID.test(id)) throw new Error('import job id is not valid');
    return `${this.prefix}${id}/${rest}`;
  }

  private async put(key: string, value: unknown): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: JSON.stringify(value),
        ContentType: 'application/json',
        ...(this.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.kmsKeyId } : {}),
      }),
    );
  }

  private async read<T>(key: string): Promise<T | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return JSON.parse(r.Body ? await r.Body.transformToString() : 'null') as T;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async create(job: ImportJobRecord): Promise<void> {
    return this.put(this.key(job.id, 'job.json'), job);
  }

  get(id: string): Promise<ImportJobRecord | undefined> {
    return JOB_ID.test(id) ? this.read<ImportJobRecord>(this.key(id, 'job.json')) : Promise.resolve(undefined);
  }

  async update(job: ImportJobRecord): Promise<void> {
    return this.put(this.key(job.id, 'job.json'), job);
  }

  async putChunk(jobId: string, chunk: ImportChunkRecord): Promise<void> {
    return this.put(this.key(jobId, `chunks/${chunk.file}-${chunk.chunk}.json`), chunk);
  }

  async chunks(jobId: string): Promise<ImportChunkRecord[]> {
    const prefix = this.key(jobId, 'chunks/');
    const out: ImportChunkRecord[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) {
        const rec = o.Key ? await this.read<ImportChunkRecord>(o.Key) : undefined;
        if (rec) out.push(rec);
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }
}
