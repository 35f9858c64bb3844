/**
 * ObjectStore over Amazon S3 with @aws-sdk/client-s3. The SAME adapter runs in AWS and locally, where the
 * client points at s3rver (a real S3-protocol server) with path-style addressing.
 */
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { ObjectHead, ObjectMetadata, ObjectStore } from '../../core/ports';

/** True for the SDK's "no such key/bucket object" errors. */
function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * Builds an S3 client. `endpoint` set = local S3-protocol server (path style, dummy credentials);
 * checksums are computed only when an operation requires them, which both AWS and s3rver accept.
 */
export function createS3Client(opts: { region?: string; endpoint?: string } = {}): S3Client {
  const cfg: S3ClientConfig = {
    region: opts.region ?? 'eu-west-2',
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  if (opts.endpoint) {
    cfg.endpoint = opts.endpoint;
    cfg.forcePathStyle = true;
    cfg.credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  }
  return new S3Client(cfg);
}

/** An {@link ObjectStore} bound to one S3 bucket. */
export class S3ObjectStore implements ObjectStore {
  constructor(
    private readonly client: S3Client,
    readonly name: string,
    private readonly opts: { kmsKeyId?: string } = {},
  ) {}

  async put(
    key: string,
    body: Uint8Array | string,
    opts: { contentType?: string; metadata?: ObjectMetadata; checksumSha256?: string } = {},
  ): Promise<void> {
    const metadata = { ...opts.metadata };
    if (opts.checksumSha256) metadata.sha256 = opts.checksumSha256;
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.name,
        Key: key,
        Body: body,
        ContentType: opts.contentType,
        Metadata: metadata,
        ...(this.opts.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.opts.kmsKeyId } : {}),
      }),
    );
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
      return r.Body ? await r.Body.transformToByteArray() : new Uint8Array();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** The object's body as a stream (GetObject's body in Node is a Readable), so a large object is never held whole. */
  async getStream(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array> | undefined> {
    if (range && range.end <= range.start) return (async function* () {})();
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}) }));
      const body = r.Body as unknown as AsyncIterable<Uint8Array> | undefined;
      if (body && typeof body[Symbol.asyncIterator] === 'function') return body;
      return (async function* () {
        if (r.Body) yield await r.Body.transformToByteArray();
      })();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        metadata: r.Metadata ?? {},
        checksumSha256: r.Metadata?.sha256,
      };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string, startAfter?: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({
          Bucket: this.name,
          Prefix: prefix,
          ContinuationToken: token,
          StartAfter: token ? undefined : startAfter,
        }),
      );
      for (const o of r.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.name,
        Key: toKey,
        CopySource: `${this.name}/${fromKey.split('/').map(encodeURIComponent).join('/')}`,
        MetadataDirective: 'COPY',
        ...(this.opts.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.opts.kmsKeyId } : {}),
      }),
    );
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      if (chunk.length === 0) continue;
      await this.client.send(
        new DeleteObjectsCommand({ Bucket: this.name, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true } }),
      );
    }
  }
}
