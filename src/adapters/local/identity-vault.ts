/**
 * The local identity vault: {@link EnvelopeIdentityVault} (src/adapters/shared/envelope.ts) with a raw AES-256
 * wrapping key from a key file under DATA_DIR.
 */
import { RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node';
import path from 'node:path';
import type { ObjectStore } from '../../core/ports';
import { EnvelopeIdentityVault } from '../shared/envelope';
import { loadOrCreateKeyFile } from './key-service';

export { EnvelopeIdentityVault, IdentityVaultError, IDENTITY_PURPOSE } from '../shared/envelope';

/** Raw AES keyring over a 256-bit wrapping key (local development and tests). */
export function localIdentityKeyring(wrappingKey: Uint8Array): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyName: 'identity-wrapping-key',
    keyNamespace: 'tributary-local',
    unencryptedMasterKey: wrappingKey,
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

/**
 * The local identity vault: records in `store`, data keys wrapped with the 256-bit key in
 * `{dataDir}/keys/identity-wrapping.key` (created on first start, mode 0600).
 */
export async function createLocalIdentityVault(opts: { store: ObjectStore; dataDir: string }): Promise<EnvelopeIdentityVault> {
  const key = await loadOrCreateKeyFile(path.join(opts.dataDir, 'keys', 'identity-wrapping.key'));
  return new EnvelopeIdentityVault({ store: opts.store, keyring: localIdentityKeyring(key) });
}
