/**
 * Envelope encryption shared by the local and AWS adapters (only the keyring differs: a raw AES key locally, a KMS
 * key in AWS), over the AWS Encryption SDK (`@aws-crypto/client-node`, commitment policy
 * REQUIRE_ENCRYPT_REQUIRE_DECRYPT):
 * - {@link EnvelopeIdentityVault}, the identity store;
 * - {@link EncryptionSdkSealer}, the triage area's sealer.
 *
 * The identity store (issue 3): one envelope-encrypted record per pseudonym per source, at
 * `identity/{pseudonym}/{source}.enc` in its own bucket. Records are encrypted client-side with the AWS
 * Encryption SDK (`@aws-crypto/client-node`, commitment policy REQUIRE_ENCRYPT_REQUIRE_DECRYPT) under the
 * encryption context `{ purpose: 'tributary-identity', pseudonym, source }`, which is checked on decrypt so a
 * record copied to another pseudonym's key is refused.
 *
 * {@link EnvelopeIdentityVault} takes any keyring: {@link createLocalIdentityVault} builds it with a raw AES-256
 * wrapping key from a key file (src/adapters/local/identity-vault.ts); `createKmsIdentityVault` (src/adapters/aws/identity-vault.ts)
 * with a KMS keyring.
 */
import { buildClient, CommitmentPolicy, type KeyringNode } from '@aws-crypto/client-node';
import type { IdentityVault, ObjectStore } from '../../core/ports';
import type { Sealer } from '../../core/triage';
import { ServerFault } from '../../fhir/errors';

/** Purpose recorded in (and required of) every identity record's encryption context. */
export const IDENTITY_PURPOSE = 'tributary-identity';

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

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

/** {@link IdentityVault} over an {@link ObjectStore} and an Encryption SDK keyring. */
export class EnvelopeIdentityVault implements IdentityVault {
  private readonly client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  private readonly prefix: string;

  constructor(private readonly opts: EnvelopeIdentityVaultOptions) {
    this.prefix = opts.prefix ?? 'identity/';
  }

  /** Object key of a record: `identity/{pseudonym}/{source}.enc` (source URI-encoded). */
  keyOf(pseudonym: string, source: string): string {
    return `${this.prefix}${pseudonym}/${encodeURIComponent(source)}.enc`;
  }

  private check(pseudonym: string, source?: string): void {
    if (!FHIR_ID.test(pseudonym)) throw new IdentityVaultError('pseudonym must be a FHIR id ([A-Za-z0-9-.]{1,64})');
    if (source !== undefined && (source.length === 0 || source.length > 256)) throw new IdentityVaultError('source must be 1-256 characters');
  }

  /** Encrypts `record` (JSON) and stores it, replacing any earlier record of that pseudonym from that source. */
  async put(pseudonym: string, source: string, record: unknown): Promise<void> {
    this.check(pseudonym, source);
    const encryptionContext = { purpose: IDENTITY_PURPOSE, pseudonym, source };
    const { result } = await this.client.encrypt(this.opts.keyring, Buffer.from(JSON.stringify(record), 'utf8'), { encryptionContext });
    await this.opts.store.put(this.keyOf(pseudonym, source), result, {
      contentType: 'application/octet-stream',
      metadata: { format: 'aws-encryption-sdk', purpose: IDENTITY_PURPOSE },
    });
  }

  /**
   * Decrypts every record of `pseudonym` (one per source).
   * @throws {@link IdentityVaultError} when a record does not decrypt with this keyring (wrong key, tampering)
   *   or its encryption context does not name this pseudonym and source.
   */
  async get(pseudonym: string): Promise<{ source: string; record: unknown }[]> {
    this.check(pseudonym);
    const dir = `${this.prefix}${pseudonym}/`;
    const out: { source: string; record: unknown }[] = [];
    for (const key of await this.opts.store.list(dir)) {
      if (!key.endsWith('.enc') || key.slice(dir.length).includes('/')) continue;
      const source = decodeURIComponent(key.slice(dir.length, -4));
      const body = await this.opts.store.get(key);
      if (!body) continue;
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
      out.push({ source, record: JSON.parse(plaintext.toString('utf8')) });
    }
    return out;
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
