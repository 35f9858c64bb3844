/**
 * Pseudonymisation at ingest (issue 3): policy, compiled engine, NHS number checks, generalisation and the
 * identifier scanner. Pure: no AWS SDK, no environment, no file reading (the policy comes in as text); keys come
 * through the `KeyService` port.
 */
export { Pseudonymiser, createPseudonymiser } from './engine';
export type {
  PatientResolver,
  PseudonymiserOptions,
  PseudonymiseContext,
  PseudonymisedEntry,
  PseudoStats,
  PseudonymiseResult,
} from './engine-types';
export { identityValues, type IdentityLookup, type IdentityRecord, type VaultedElement } from './identity-records';
export type { KeyService } from './keys';
export { ID_HASH_KEY_LABEL, PSEUDONYM_NAMESPACE, SOURCE_PATIENT_KEY_SYSTEM, base32, sourcePatientInput } from './pseudonyms';
export { PSEUDED, POLICY_TAG_SYSTEM, KEY_TAG_SYSTEM } from './security-labels';
export { NARRATIVE_PLACEHOLDER, MASKED } from './element-actions';
export * from './policy';
export { collectIdentifiers, findLeaks, personValues, forEachResource, PERSON_TYPES, type CollectOptions } from './leaks';
export { buildMatcher, DEFAULT_MIN_LENGTH, type IdentifierKind, type IdentifierValue, type MatcherOptions, type ValueMatcher } from './matcher';
export { NHS_NUMBER_SYSTEM, isValidNhsNumber, normaliseNhsNumber } from './nhs-number';
export { generalizeDate, generalizePostalCode, type DatePrecision } from './generalize';
