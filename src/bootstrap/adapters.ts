/**
 * Adapter modules, loaded on demand: a cold start loads only the configured runtime's adapters (`aws`: DynamoDB,
 * KMS, S3 audit; `local`: files), and the heaviest ones (the AWS Encryption SDK) on first use.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- adapters are loaded on demand */
export const load = {
  localAudit: () => require('../adapters/local/audit-log') as typeof import('../adapters/local/audit-log'),
  s3Audit: () => require('../adapters/aws/s3-audit-log') as typeof import('../adapters/aws/s3-audit-log'),
  dynamo: () => require('../adapters/aws/dynamodb-version-index') as typeof import('../adapters/aws/dynamodb-version-index'),
  fileIndex: () => require('../adapters/local/file-version-index') as typeof import('../adapters/local/file-version-index'),
  localKeys: () => require('../adapters/local/key-service') as typeof import('../adapters/local/key-service'),
  kmsKeys: () => require('../adapters/aws/kms-key-service') as typeof import('../adapters/aws/kms-key-service'),
  kms: () => require('@aws-sdk/client-kms') as typeof import('@aws-sdk/client-kms'),
  localVault: () => require('../adapters/local/identity-vault') as typeof import('../adapters/local/identity-vault'),
  kmsVault: () => require('../adapters/aws/identity-vault') as typeof import('../adapters/aws/identity-vault'),
  localSealer: () => require('../adapters/local/envelope-sealer') as typeof import('../adapters/local/envelope-sealer'),
  kmsSealer: () => require('../adapters/aws/kms-sealer') as typeof import('../adapters/aws/kms-sealer'),
  dynamoJobs: () => require('../adapters/aws/dynamodb-job-log') as typeof import('../adapters/aws/dynamodb-job-log'),
  sqsDeadLetters: () => require('../adapters/aws/sqs-dead-letters') as typeof import('../adapters/aws/sqs-dead-letters'),
  fileJobs: () => require('../adapters/local/file-job-log') as typeof import('../adapters/local/file-job-log'),
  s3: () => require('../adapters/aws/s3-object-store') as typeof import('../adapters/aws/s3-object-store'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** `fn` called once, on first use (its promise shared; a failure is kept, as a bad key would stay bad). */
export function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** A setting the `aws` runtime cannot start without. */
export function requireSetting(value: string | undefined, name: string): string {
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
