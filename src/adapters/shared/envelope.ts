/**
 * Envelope encryption shared by the local and AWS adapters (only the keyring differs: a raw AES key locally, a KMS
 * key in AWS), over the AWS Encryption SDK (`@aws-crypto/client-node`, commitment policy
 * REQUIRE_ENCRYPT_REQUIRE_DECRYPT):
 * - {@link EnvelopeIdentityVault}, the identity store;
 * - {@link EncryptionSdkSealer}, the triage area's sealer.
 *
 * The identity store (issue 3, issue 14): envelope-encrypted records, one per person per source per committed
 * request (append-only history), in its own bucket. Records are encrypted client-side with the AWS
 * Encryption SDK (`@aws-crypto/client-node`, commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT) under the
 * encryption context `{ purpose: 'tributary-identity', pseudonym, source }`, which is checked on decrypt so a
 * record copied to another pseudonym's key is refused.
 *
 * {@link EnvelopeIdentityVault} takes any keyring: {@link createLocalIdentityVault} builds it with a raw AES-256
 * wrapping key from a key file (src/adapters/local/identity-vault.ts); `createKmsIdentityVault` (src/adapters/aws/identity-vault.ts)
 * with a KMS keyring.
 */
import { randomUUID } from 'node:crypto';
import { buildClient, CommitmentPolicy, type KeyringNode } from '@aws-crypto/client-node';
import type { IdentityEntry, IdentityRef, IdentityVault, ObjectStore } from '../../core/ports';
import { mapLimit } from '../../lib/concurrency';
import type { Sealer } from '../../core/triage';
import { ServerFault } from '../../fhir/errors';

/** Purpose recorded in (and required of) every identity record's encryption context. */
export const IDENTITY_PURPOSE = 'tributary-identity';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Identity-store calls of one request in flight at once. */
const IO_CONCURRENCY = 8;

/** Raised when an identity record cannot be decrypted or fails its checks. Carries keys and ids only, no PHI. */
export class IdentityVaultError extends ServerFault {
  override readonly name = 'IdentityVaultError';
}

/** Options of {@link EnvelopeIdentityVault}. */
export interface EnvelopeIdentityVaultOptions {
  /** The identity bucket. */
  store: ObjectStore;
  /** Wraps/unwraps the per-record data keys (KMS keyring in AWS, raw AES keyring locally). */
  keyring: KeyringNode;
  /** Key prefix (default `identity/`). */
  prefix?: string;
}

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * {@link IdentityVault} over an {@link ObjectStore} and an Encryption SDK keyring, append-only:
 * - record: `identity/{pseudonym}/{source}/{requestId}-{seq}.enc`, one per person per committed request, never
 *   replaced: a person's history from every source. Written when the request is staged, before its commit;
 * - its commit marker: `…/{requestId}-{seq}.committed` (empty), written once the request committed: only a record
 *   with its marker is current ({@link EnvelopeIdentityVault.get} returns no other);
 * - a rolled-back request's records are deleted (by the writer, or by recovery from the request's outbox).
 * Every key holds the request id, so concurrent writers for one person never overwrite each other and need no lock
 * and no read-modify-write; every write is a plain put (the writer needs no read or decrypt right on the store:
 * in AWS the ingest role stays write-only, with delete for rollback).
 * - `identity/{pseudonym}/{source}.enc`: a record stored before the commit protocol (still read, always current).
 */
export class EnvelopeIdentityVault implements IdentityVault {
  private readonly client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  private readonly prefix: string;

  constructor(private readonly opts: EnvelopeIdentityVaultOptions) {
    this.prefix = opts.prefix ?? 'identity/';
  }

  /** Object key of a record: `identity/{pseudonym}/{source}/{requestId}-{seq}.enc` (source URI-encoded). */
  keyOf(pseudonym: string, source: string, requestId: string, seq: number): string {
    return `${this.prefix}${pseudonym}/${encodeURIComponent(source)}/${requestId}-${seq}.enc`;
  }

  /** Object key of a record's commit marker. */
  markerOf(ref: IdentityRef, requestId: string): string {
    return this.keyOf(ref.pseudonym, ref.source, requestId, ref.seq).replace(/\.enc$/, '.committed');
  }

  private check(pseudonym: string, source?: string, requestId?: string): void {
    if (!FHIR_ID.test(pseudonym)) throw new IdentityVaultError('pseudonym must be a FHIR id ([A-Za-z0-9-.]{1,64})');
    if (source !== undefined && (source.length === 0 || source.length > 256)) throw new IdentityVaultError('source must be 1-256 characters');
    if (requestId !== undefined && !REQUEST_ID.test(requestId)) throw new IdentityVaultError('request id must be [A-Za-z0-9._-]{1,128}');
  }

  /** Encrypts each record (JSON) under `{purpose, pseudonym, source}` and stores it (not current until promoted). */
  async stage(requestId: string, records: (IdentityRef & { record: unknown })[]): Promise<void> {
    for (const r of records) this.check(r.pseudonym, r.source, requestId);
    await mapLimit(records, IO_CONCURRENCY, async (r) => {
      const encryptionContext = { purpose: IDENTITY_PURPOSE, pseudonym: r.pseudonym, source: r.source };
      const { result } = await this.client.encrypt(this.opts.keyring, Buffer.from(JSON.stringify(r.record), 'utf8'), { encryptionContext });
      await this.opts.store.put(this.keyOf(r.pseudonym, r.source, requestId, r.seq), result, {
        contentType: 'application/octet-stream',
        metadata: { format: 'aws-encryption-sdk', purpose: IDENTITY_PURPOSE },
      });
    });
  }

  /** Writes each record's commit marker: the records become current. */
  async promote(requestId: string, refs: IdentityRef[]): Promise<void> {
    for (const r of refs) this.check(r.pseudonym, r.source, requestId);
    await mapLimit(refs, IO_CONCURRENCY, (r) => this.opts.store.put(this.markerOf(r, requestId), '', { contentType: 'text/plain' }));
  }

  /**
   * Stores one record as committed at once (stage, then promote): for tools and tests that write outside a
   * request's commit. `requestId` defaults to a random one.
   */
  async put(pseudonym: string, source: string, record: unknown, requestId: string = `put-${randomUUID()}`): Promise<void> {
    const ref = { pseudonym, source, seq: 0 };
    await this.stage(requestId, [{ ...ref, record }]);
    await this.promote(requestId, [ref]);
  }

  /** Deletes a request's records that never became current (refused or rolled back). */
  async discard(requestId: string, refs: IdentityRef[]): Promise<void> {
    if (refs.length > 0) await this.opts.store.delete(refs.map((r) => this.keyOf(r.pseudonym, r.source, requestId, r.seq)));
  }

  /**
   * Decrypts every current record of `pseudonym`: all sources, every committed request (history, oldest request
   * key first within a source).
   * @throws {@link IdentityVaultError} when a record does not decrypt with this keyring (wrong key, tampering)
   *   or its encryption context does not name this pseudonym and source.
   */
  async get(pseudonym: string): Promise<IdentityEntry[]> {
    this.check(pseudonym);
    const dir = `${this.prefix}${pseudonym}/`;
    const out: IdentityEntry[] = [];
    const keys = await this.opts.store.list(dir);
    const committed = new Set(keys.filter((k) => k.endsWith('.committed')).map((k) => k.replace(/\.committed$/, '.enc')));
    for (const key of keys) {
      if (!key.endsWith('.enc')) continue;
      const parts = key.slice(dir.length, -4).split('/');
      if (parts.length > 2 || (parts.length === 2 && !committed.has(key))) continue;
      const source = decodeURIComponent(parts[0]!);
      const requestId = parts[1]?.replace(/-\d+$/, '');
      const body = await this.opts.store.get(key);
      if (!body) continue;
      const record = await this.open(key, body, pseudonym, source);
      out.push({ source, record, ...(requestId ? { requestId } : {}) });
    }
    return out;
  }

  private async open(key: string, body: Uint8Array, pseudonym: string, source: string): Promise<unknown> {
    let plaintext: Buffer;
    let context: Record<string, string>;
    try {
      const res = await this.client.decrypt(this.opts.keyring, body);
      plaintext = res.plaintext;
      context = res.messageHeader.encryptionContext;
    } catch (err) {
      throw new IdentityVaultError(`cannot decrypt identity record ${key}: ${(err as Error).message}`, { cause: err });
    }
    if (context.purpose !== IDENTITY_PURPOSE || context.pseudonym !== pseudonym || context.source !== source) {
      throw new IdentityVaultError(`identity record ${key} has an encryption context for another record`);
    }
    return JSON.parse(plaintext.toString('utf8'));
  }
}

/** Seals with the Encryption SDK (commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT). */
export class EncryptionSdkSealer implements Sealer {
  private readonly client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  constructor(private readonly keyring: KeyringNode) {}

  async seal(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    return (await this.client.encrypt(this.keyring, plaintext, { encryptionContext: context })).result;
  }

  async open(ciphertext: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    const r = await this.client.decrypt(this.keyring, ciphertext);
    for (const [k, v] of Object.entries(context)) {
      if (r.messageHeader.encryptionContext[k] !== v) throw new ServerFault(`sealed document's encryption context does not match (${k})`);
    }
    return r.plaintext;
  }
}
