/**
 * A {@link Sealer} over the AWS Encryption SDK: client-side envelope encryption with any keyring (a raw AES
 * keyring from a local key file here; `kmsSealer` in src/adapters/aws/ uses a KMS keyring). The encryption
 * context is bound into the message and checked on open.
 */
import path from 'node:path';
import { buildClient, CommitmentPolicy, type KeyringNode } from '@aws-crypto/client-node';
import type { Sealer } from '../../core/triage';
import { localIdentityKeyring } from './identity-vault';
import { loadOrCreateKeyFile } from './key-service';

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
      if (r.messageHeader.encryptionContext[k] !== v) throw new Error(`sealed document's encryption context does not match (${k})`);
    }
    return r.plaintext;
  }
}

/** The local triage sealer: a 256-bit wrapping key in `{dataDir}/keys/triage-wrapping.key` (0600, created on first use). */
export async function localTriageSealer(dataDir: string): Promise<EncryptionSdkSealer> {
  const key = await loadOrCreateKeyFile(path.join(dataDir, 'keys', 'triage-wrapping.key'));
  return new EncryptionSdkSealer(localIdentityKeyring(key));
}
