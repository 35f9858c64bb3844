/**
 * Authentication wiring: the bearer-token verifier (API handlers and the API Gateway authorizer share it) and the
 * audit log the authorizer writes refused requests to.
 */
import { loadConfig, verifierSettings, type Config } from '../config';
import { createTokenVerifier, type TokenVerifier } from '../core/auth';
import type { AuditLog } from '../core/ports';
import { load } from './adapters';

/** The verifier for `config.auth`; undefined when auth is off (local experiments only). Throws without an issuer. */
export function buildVerifier(config: Pick<Config, 'auth'>): TokenVerifier | undefined {
  return config.auth.enabled ? createTokenVerifier(verifierSettings(config.auth)) : undefined;
}

/**
 * The audit log of the authorizer (S3 with object lock, bucket `AUDIT_BUCKET`); undefined when no audit bucket is
 * configured. The S3 client and audit store are built on the first refusal, so accepted tokens never pay for them.
 */
export function authorizerAuditLog(config: Pick<Config, 'authorizerAudit' | 'buckets' | 'region' | 's3Endpoint'>): AuditLog | undefined {
  if (config.authorizerAudit === 'off') return undefined;
  let log: AuditLog | undefined;
  const build = (): AuditLog => {
    const { createS3AuditLog } = load.s3Audit();
    const { createS3Client } = load.s3();
    // one writer chain per authorizer container (chosen on its first refusal)
    return createS3AuditLog({ client: createS3Client({ region: config.region, endpoint: config.s3Endpoint }), bucket: config.buckets.audit, label: 'authorizer', maxWriters: 1 });
  };
  return { append: (entry) => (log ??= build()).append(entry) };
}

/** The API Gateway authorizer's verifier (auth is always on there) and audit log, from the configuration. */
export function authorizerDeps(config: Config = loadConfig()): { verifier: TokenVerifier; audit?: AuditLog } {
  return { verifier: createTokenVerifier(verifierSettings(config.auth)), audit: authorizerAuditLog(config) };
}
