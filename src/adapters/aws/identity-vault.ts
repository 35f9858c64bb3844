/**
 * The identity vault in AWS: {@link EnvelopeIdentityVault} with a KMS keyring, so every record's data key is
 * generated and wrapped by the identity store's own KMS key (GenerateDataKey on put, Decrypt on get).
 */
import { KmsKeyringNode } from '@aws-crypto/client-node';
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  type DecryptCommandInput,
  type EncryptCommandInput,
  type GenerateDataKeyCommandInput,
  type KMSClient,
} from '@aws-sdk/client-kms';
import type { ObjectStore } from '../../core/ports';
import { EnvelopeIdentityVault } from '../shared/envelope';

export { EnvelopeIdentityVault, IdentityVaultError, IDENTITY_PURPOSE } from '../shared/envelope';

/** Options of {@link createKmsIdentityVault}. */
export interface KmsIdentityVaultOptions {
  /** The identity bucket (S3 adapter). */
  store: ObjectStore;
  /** ARN of the symmetric KMS key of the identity store (not the lake's key). */
  kmsKeyId: string;
  /** Injected KMS client (used for every region: the key ARN's region should match it). */
  kmsClient: KMSClient;
}

/**
 * The three KMS operations the keyring calls, over a bare `KMSClient` (the keyring expects the aggregated `KMS`
 * client's method style; this keeps the one injected client, and aws-sdk-client-mock, in charge).
 */
export function kmsKeyringClient(client: KMSClient) {
  return {
    generateDataKey: (args: GenerateDataKeyCommandInput) => client.send(new GenerateDataKeyCommand(args)),
    encrypt: (args: EncryptCommandInput) => client.send(new EncryptCommand(args)),
    decrypt: (args: DecryptCommandInput) => client.send(new DecryptCommand(args)),
  };
}

/** Builds the AWS identity vault over an injected KMS client. */
export function createKmsIdentityVault(opts: KmsIdentityVaultOptions): EnvelopeIdentityVault {
  const kms = kmsKeyringClient(opts.kmsClient);
  const keyring = new KmsKeyringNode({
    generatorKeyId: opts.kmsKeyId,
    // Without a clientProvider the keyring builds its own clients from the environment; use the injected one.
    clientProvider: () => kms as never,
  });
  return new EnvelopeIdentityVault({ store: opts.store, keyring });
}
