/**
 * Audit trail in S3: one object per record (`{prefix}chains/{writer}/{sequence:12}.json`, anchors at
 * `{prefix}anchors/{sequence:12}.json`; layout in src/core/audit/store.ts) in a bucket with S3 Object Lock (the
 * bucket's default retention mode and period apply to every object; nothing is set per request).
 *
 * Create-if-absent is S3's conditional write: `PutObject` with `IfNoneMatch: '*'` fails with 412
 * PreconditionFailed when the key exists (and 409 ConditionalRequestConflict while a competing write is in
 * flight); both mean "taken". Writer chains never contend (one writer per key prefix); only the anchor chain's
 * head does, a few times a minute. Each put carries `x-amz-checksum-sha256`, which Object Lock requires.
 *
 * Not for s3rver (the local S3 emulator ignores `If-None-Match` on PUT): use the file-based
 * `createLocalAuditLog` locally.
 */
import { createHash } from 'node:crypto';
import {
  GetObjectCommand,
  HeadObjectCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createAuditTrail, type AuditStore, type AuditTrail, type AuditTrailOptions } from '../../core/audit';

type SdkError = { name?: string; $metadata?: { httpStatusCode?: number } };

function status(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const e = err as SdkError;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || status(err) === 404;
}

/** True when a conditional put lost: the key exists (412) or a competing conditional write is in flight (409). */
function isTaken(err: unknown): boolean {
  const e = err as SdkError;
  return (
    e?.name === 'PreconditionFailed' ||
    e?.name === 'ConditionalRequestConflict' ||
    status(err) === 412 ||
    status(err) === 409
  );
}

/** Options for {@link S3AuditStore}. */
export interface S3AuditStoreOptions {
  client: S3Client;
  bucket: string;
  /** Key prefix; default `audit/`. */
  prefix?: string;
  /** KMS key for SSE-KMS; default: the bucket's default encryption. */
  kmsKeyId?: string;
}

/** {@link AuditStore} over an S3 bucket with conditional writes. */
export class S3AuditStore implements AuditStore {
  readonly name: string;
  private readonly prefix: string;

  constructor(private readonly opts: S3AuditStoreOptions) {
    this.prefix = opts.prefix ?? 'audit/';
    this.name = `s3://${opts.bucket}/${this.prefix}`;
  }

  /** Object key of a trail key. */
  key(key: string): string {
    return `${this.prefix}${key}`;
  }

  async create(key: string, body: string): Promise<boolean> {
    const checksum = createHash('sha256').update(body, 'utf8').digest('base64');
    try {
      await this.opts.client.send(
        new PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: this.key(key),
          Body: body,
          ContentType: 'application/fhir+json',
          IfNoneMatch: '*',
          ChecksumSHA256: checksum,
          ...(this.opts.kmsKeyId ? { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: this.opts.kmsKeyId } : {}),
        }),
      );
      return true;
    } catch (err) {
      if (isTaken(err)) return false;
      throw err;
    }
  }

  async read(key: string): Promise<string | undefined> {
    try {
      const r = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }));
      return r.Body ? await r.Body.transformToString('utf-8') : '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.opts.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(key) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const pages = paginateListObjectsV2({ client: this.opts.client }, { Bucket: this.opts.bucket, Prefix: this.key(prefix) });
    for await (const page of pages) {
      for (const o of page.Contents ?? []) if (o.Key) out.push(o.Key.slice(this.prefix.length));
    }
    return out;
  }
}

/**
 * The AWS `AuditLog`: per-writer hash chains with anchors in an object-locked S3 bucket. Create one per Lambda
 * container (module scope): its writer id is chosen at cold start and its chain head is kept between invocations.
 */
export function createS3AuditLog(opts: S3AuditStoreOptions & AuditTrailOptions): AuditTrail & { store: S3AuditStore } {
  const store = new S3AuditStore(opts);
  return Object.assign(createAuditTrail(store, opts), { store });
}
