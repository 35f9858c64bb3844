/**
 * The key port of pseudonymisation: the one secret the engine needs, behind an interface so the engine stays
 * pure (AWS KMS `GenerateMac` in the cloud, a local key file in development; adapters implement it).
 */

/** Keyed hashing for pseudonyms and id hashing (KMS GenerateMac in AWS; a local key file locally). */
export interface KeyService {
  /** Version of the key in use, recorded with every pseudonym so keys can be rotated. */
  readonly keyVersion: string;
  /** HMAC-SHA256 of `message`, hex. Implementations cache so repeated messages cost one call per cold start. */
  mac(message: string): Promise<string>;
}
