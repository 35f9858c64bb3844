/**
 * FHIR JSON (https://hl7.org/fhir/R4/json.html) read strictly and written losslessly: the parser refuses duplicate
 * properties, control characters and lone surrogates in strings, nesting deeper than {@link MAX_JSON_DEPTH} and
 * out-of-range numbers, and keeps the exact text of decimals a JS number would alter; the serialisers write that text
 * back. Pure: no I/O.
 */
export { parseFhirJson, JsonInputError, MAX_JSON_DEPTH, type JsonProblem, type ParseOptions } from './parse';
export { stringifyFhirJson } from './stringify';
export { carryRawNumbers, hasRawNumbers, markRawPath, rawNumberText, restoreRawNumbers, withNumberTexts } from './raw-numbers';
export { decodeUtf8, type Utf8Result } from './utf8';
export { copyJsonObject } from './copy';
