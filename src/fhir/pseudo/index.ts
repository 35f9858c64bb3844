/**
 * Pseudonymisation at ingest (issue 3): policy, compiled engine, NHS number checks, generalisation and the
 * identifier scanner. Pure: no AWS SDK, no environment, no file reading (the policy comes in as text); keys come through the `KeyService` port.
 */
export * from './engine';
export * from './policy';
export { collectIdentifiers, findLeaks, personValues, forEachResource, PERSON_TYPES, type CollectOptions } from './leaks';
export { buildMatcher, DEFAULT_MIN_LENGTH, type IdentifierKind, type IdentifierValue, type MatcherOptions, type ValueMatcher } from './matcher';
export { NHS_NUMBER_SYSTEM, isValidNhsNumber, normaliseNhsNumber } from './nhs-number';
export { generalizeDate, generalizePostalCode, type DatePrecision } from './generalize';
