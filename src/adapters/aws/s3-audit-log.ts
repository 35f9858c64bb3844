/**
 * Audit trail in S3: one object per record (`{prefix}{sequence padded to 12}.json`) in a bucket with S3 Object
 * Lock (the bucket's default retention mode and period apply to every object; nothing is set per request).
 *
 * Create-if-absent is S3's conditional write: `PutObject` with `IfNoneMatch: '*'` fails with 412
 * PreconditionFailed when the key exists (and 409 ConditionalRequestConflict while a competing write is in
 * flight); both mean "taken", and `createChainedAuditLog` then moves on to the next sequence. Each put carries
 * `x-amz-checksum-sha256`, which Object Lock requires.
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
import {
  createChainedAuditLog,
  parseSequenceName,
  sequenceName,
  type AuditStore,
  type ChainedAuditLog,
  type ChainedAuditLogOptions,
} from '../../core/audit/chain';

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

  /** Object key of a sequence. */
  key(sequence: number): string {
    return `${this.prefix}${sequenceName(sequence)}.json`;
  }

  async create(sequence: number, body: string): Promise<boolean> {
    const checksum = createHash('sha256').update(body, 'utf8').digest('base64');
    try {
      await this.opts.client.send(
        new PutObjectCommand({
          Bucket: this.opts.bucket,
          Key: this.key(sequence),
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

  async read(sequence: number): Promise<string | undefined> {
    try {
      const r = await this.opts.client.send(new GetObjectCommand({ Bucket: this.opts.bucket, Key: this.key(sequence) }));
      return r.Body ? await r.Body.transformToString('utf-8') : '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async exists(sequence: number): Promise<boolean> {
    try {
      await this.opts.client.send(new HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.key(sequence) }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async sequences(): Promise<number[]> {
    const out: number[] = [];
    for await (const page of paginateListObjectsV2({ client: this.opts.client }, { Bucket: this.opts.bucket, Prefix: this.prefix })) {
      for (const o of page.Contents ?? []) {
        const n = parseSequenceName((o.Key ?? '').slice(this.prefix.length));
        if (n !== undefined) out.push(n);
      }
    }
    return out.sort((a, b) => a - b);
  }
}

/**
 * The AWS `AuditLog`: hash-chained records in an object-locked S3 bucket. Create one per Lambda container
 * (module scope) so the chain head is cached between invocations.
 */
export class S3AuditLog implements ChainedAuditLog {
  private readonly log: ChainedAuditLog;
  /** The underlying store (for `verifyAuditChain(await readAuditRecords(store))`). */
  readonly store: S3AuditStore;

  constructor(opts: S3AuditStoreOptions & ChainedAuditLogOptions) {
    this.store = new S3AuditStore(opts);
    this.log = createChainedAuditLog(this.store, { ...(opts.maxAttempts !== undefined && { maxAttempts: opts.maxAttempts }) });
  }

  /** Appends a hash-chained record (the `AuditLog` port). */
  append(entry: Parameters<ChainedAuditLog['append']>[0]): Promise<void> {
    return this.log.append(entry);
  }

  /** Appends and returns the sealed record (sequence and hash included). */
  appendRecord(entry: Parameters<ChainedAuditLog['appendRecord']>[0]): ReturnType<ChainedAuditLog['appendRecord']> {
    return this.log.appendRecord(entry);
  }

  /** The chain head this container last wrote or saw. */
  head(): ReturnType<ChainedAuditLog['head']> {
    return this.log.head();
  }
}
