/**
 * NHS number handling: normalisation and the Modulus 11 check digit
 * (NHS Data Dictionary, "NHS NUMBER": https://www.datadictionary.nhs.uk/attributes/nhs_number.html).
 */

/** The FHIR identifier system of the NHS number (UK Core). */
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';

/** Strips the spaces and dashes people and systems put in NHS numbers ("943 476 5919" → "9434765919"). */
export function normaliseNhsNumber(value: string): string {
  return value.replace(/[\s-]/g, '');
}

/**
 * True when `value` (already normalised) is ten digits whose tenth is the Modulus 11 check digit of the
 * first nine (weights 10..2; 11 → 0; a remainder giving 10 means the number is invalid).
 */
export function isValidNhsNumber(value: string): boolean {
  if (!/^\d{10}$/.test(value)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += (value.charCodeAt(i) - 48) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10) return false;
  return check === value.charCodeAt(9) - 48;
}
