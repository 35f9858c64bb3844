/**
 * The local triage sealer: {@link EncryptionSdkSealer} (src/adapters/shared/envelope.ts) with a raw AES keyring from
 * a local key file; `kmsSealer` in src/adapters/aws/ uses a KMS keyring.
 */
import path from 'node:path';
import { EncryptionSdkSealer } from '../shared/envelope';
import { localIdentityKeyring } from './identity-vault';
import { loadOrCreateKeyFile } from './key-service';

export { EncryptionSdkSealer };

/** The local triage sealer: a 256-bit wrapping key in `{dataDir}/keys/triage-wrapping.key` (0600, created on first use). */
export async function localTriageSealer(dataDir: string): Promise<EncryptionSdkSealer> {
  const key = await loadOrCreateKeyFile(path.join(dataDir, 'keys', 'triage-wrapping.key'));
  return new EncryptionSdkSealer(localIdentityKeyring(key));
}
