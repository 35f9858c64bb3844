/**
 * AWS {@link KeyService}: HMAC-SHA256 computed by AWS KMS (`GenerateMac`, https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html)
 * with an `HMAC_256` KMS key, so the pseudonymisation key never leaves KMS.
 */
import { GenerateMacCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { KeyService } from '../../core/ports';

/** Options of {@link KmsKeyService}. */
export interface KmsKeyServiceOptions {
  /** An injected KMS client (region, credentials, retries are the caller's). */
  client: KMSClient;
  /** The HMAC_256 key: prefer its ARN (an alias can be re-pointed, silently changing every pseudonym). */
  keyId: string;
  /**
   * Version label recorded with every pseudonym (meta.tag code, identity records). Default: the key id part of
   * the ARN. KMS HMAC keys do not rotate automatically: rotating means a new key, hence a new version.
   */
  keyVersion?: string;
  /** Cached MACs kept per process (default 100,000; oldest dropped first). */
  maxCacheEntries?: number;
}

/**
 * KMS-backed {@link KeyService} with a per-process cache: each distinct message (one per person, plus the
 * id-hashing key label) costs at most one `GenerateMac` call per cold start; concurrent requests for the same
 * message share one call and a failed call is not cached.
 *
 * Why not one KMS call per hashed id: a Synthea transaction of 180 resources carries ~600 ids and references, a
 * bulk load millions; at KMS latency and request quotas that is unworkable. The engine therefore MACs a fixed
 * label once (`ID_HASH_KEY_LABEL`) and uses the 256-bit result as a local node:crypto HMAC key for resource ids,
 * references and non-person identifiers. That derived key lives only in memory, is different for every KMS key
 * (so rotation re-keys ids too), and gives the same keyed, source-namespaced, non-reversible hashes; the
 * pseudonyms of people, the lake's linkage key, stay MACed by KMS itself.
 */
export class KmsKeyService implements KeyService {
  readonly keyVersion: string;
  private readonly cache = new Map<string, Promise<string>>();
  private readonly max: number;

  constructor(private readonly opts: KmsKeyServiceOptions) {
    this.keyVersion = opts.keyVersion ?? KmsKeyService.versionOf(opts.keyId);
    this.max = opts.maxCacheEntries ?? 100_000;
    if (!/^\S{1,64}$/.test(this.keyVersion)) throw new Error('KmsKeyService keyVersion must be 1-64 characters without spaces');
  }

  /** The key id part of a KMS key ARN (`arn:aws:kms:eu-west-2:111122223333:key/1234abcd-...` → `1234abcd-...`). */
  static versionOf(keyId: string): string {
    const m = /:key\/([^/]+)$/.exec(keyId);
    return (m ? m[1]! : keyId.replace(/^alias\//, 'alias-').replace(/[^A-Za-z0-9.\-_]/g, '-')).slice(0, 64);
  }

  /** HMAC-SHA256 of `message` (UTF-8, at most 4096 bytes) by KMS, hex; cached per process. */
  mac(message: string): Promise<string> {
    const hit = this.cache.get(message);
    if (hit) return hit;
    const bytes = Buffer.from(message, 'utf8');
    if (bytes.length === 0 || bytes.length > 4096) return Promise.reject(new Error('GenerateMac messages are 1-4096 bytes'));
    const p = this.opts.client
      .send(new GenerateMacCommand({ KeyId: this.opts.keyId, MacAlgorithm: 'HMAC_SHA_256', Message: bytes }))
      .then((res) => {
        if (!res.Mac || res.Mac.length !== 32) throw new Error('KMS GenerateMac returned no 32-byte MAC');
        return Buffer.from(res.Mac).toString('hex');
      });
    p.catch(() => this.cache.delete(message));
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(message, p);
    return p;
  }
}
