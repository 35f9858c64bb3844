/** The AWS triage sealer: Encryption SDK with a KMS keyring on the triage key (its own key, not the lake's). */
import { KmsKeyringNode } from '@aws-crypto/client-node';
import type { KMSClient } from '@aws-sdk/client-kms';
import { EncryptionSdkSealer } from '../shared/envelope';
import { kmsKeyringClient } from './identity-vault';

/** Builds a sealer whose data keys are generated and unwrapped by KMS key `kmsKeyId` through the injected client. */
export function kmsSealer(kmsClient: KMSClient, kmsKeyId: string): EncryptionSdkSealer {
  const kms = kmsKeyringClient(kmsClient);
  return new EncryptionSdkSealer(new KmsKeyringNode({ generatorKeyId: kmsKeyId, clientProvider: () => kms as never }));
}
