/**
 * Keys of the version index, keyed-hashed (issue 14 item 7): no client id (an MRN can be one) is stored in clear
 * outside the identity store. A resource's key is `{type}/{h}` and a request's commit record `Request/{h}`, `h` an
 * HMAC-SHA256 (first 160 bits, base32) under a key derived once from the deployment's KeyService (one KMS
 * `GenerateMac` per cold start in AWS), like the engine's id hashing (src/fhir/pseudo/pseudonyms.ts).
 * The resource type stays in clear (it is not identifying, and the index's ownership rule reads it nowhere).
 */
import { createHash, createHmac } from 'node:crypto';
import type { KeyService } from '../ports';
import { stringifyFhirJson } from '../../fhir/json';
import { base32 } from '../../fhir/pseudo';

/** Label MACed once to derive the index's hashing key (changing it re-keys every index entry). */
export const INDEX_KEY_LABEL = 'tributary-version-index-key-v1';

/** What a request is, for the Idempotency-Key check: its method, URL parts, conditional headers and body. */
export interface RequestShape {
  method: string;
  type?: string;
  id?: string;
  ifMatch?: string;
  ifNoneExist?: string;
  body: unknown;
  /**
   * A SHA-256 (hex) of the body's source text, when the caller has it (the bulk import: its lines): used in place of
   * a hash of the serialised body, which would serialise a whole chunk once more.
   */
  bodyDigest?: string;
}

/** Resource keys remembered per generation (two generations kept: the lookups of one chunk and the next). */
const RESOURCE_KEY_GENERATION = 4_000;

/** The keyed hashes of the version index. */
export class IndexKeys {
  private key?: Buffer;
  private readonly ready: Promise<Buffer>;
  /** `type/id` → resource key: a request computes each several times (version check, commit, patient lookups). */
  private memo = new Map<string, string>();
  private older = new Map<string, string>();

  constructor(keys: KeyService | Promise<KeyService>) {
    this.ready = Promise.resolve(keys)
      .then((k) => k.mac(INDEX_KEY_LABEL))
      .then((hex) => (this.key = Buffer.from(hex, 'hex')));
    this.ready.catch(() => undefined);
  }

  /** Waits for the derived key (once). */
  async init(): Promise<this> {
    if (!this.key) await this.ready;
    return this;
  }

  private h(input: string): string {
    if (!this.key) throw new Error('IndexKeys used before init()');
    return base32(createHmac('sha256', this.key).update(input, 'utf8').digest().subarray(0, 20));
  }

  /** Index key of a resource: `{type}/{keyed hash of "type/id"}`. */
  resource(type: string, id: string): string {
    const name = `${type}/${id}`;
    let k = this.memo.get(name) ?? this.older.get(name);
    if (k === undefined) {
      k = `${type}/${this.h(`r\u0000${name}`)}`;
      if (this.memo.size >= RESOURCE_KEY_GENERATION) {
        this.older = this.memo;
        this.memo = new Map();
      }
      this.memo.set(name, k);
    }
    return k;
  }

  /**
   * Index key of a request's commit record: `Request/{keyed hash}` of the source and its Idempotency-Key (the key is
   * scoped per source), or of the request id when the client sent none.
   */
  request(source: string, requestId: string, idempotencyKey?: string): string {
    return `Request/${this.h(idempotencyKey !== undefined ? `k\u0000${source}\u0000${idempotencyKey}` : `q\u0000${source}\u0000${requestId}`)}`;
  }

  /** Keyed digest of a request (method, URL type and id, conditional headers, body), hex: same request ⇔ same digest. */
  digest(r: RequestShape): string {
    if (!this.key) throw new Error('IndexKeys used before init()');
    const body = r.bodyDigest !== undefined ? `text:${r.bodyDigest}` : createHash('sha256').update(stringifyFhirJson(r.body as never)).digest('hex');
    const head = JSON.stringify([r.method, r.type ?? '', r.id ?? '', r.ifMatch ?? '', r.ifNoneExist ?? '']);
    return createHmac('sha256', this.key).update(`d\u0000${head}\u0000${body}`).digest('hex');
  }
}
