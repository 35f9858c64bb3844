/**
 * Generalisation helpers used by the `generalize` policy method: dates to a coarser precision,
 * UK postcodes to their district (outward code), US ZIP codes to their first digits.
 */

/** Precision a date is generalised to. */
export type DatePrecision = 'year' | 'month';

/**
 * Truncates a FHIR date/dateTime (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`, `YYYY-MM-DDThh:mm:ss...`) to `YYYY` or `YYYY-MM`
 * (both valid `date` and `dateTime` values, https://hl7.org/fhir/R4/datatypes.html#date).
 * Returns `undefined` when the value does not look like a date.
 */
export function generalizeDate(value: string, precision: DatePrecision): string | undefined {
  const m = /^(\d{4})(?:-(\d{2}))?/.exec(value);
  if (!m) return undefined;
  if (precision === 'year' || m[2] === undefined) return m[1];
  return `${m[1]}-${m[2]}`;
}

/** UK postcode: outward code (area + district) and inward code (sector + unit). */
const UK_POSTCODE = /^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$/i;
const US_ZIP = /^(\d{5})(?:-?\d{4})?$/;

/**
 * Generalises a postal code to an area that is not on its own identifying:
 * a UK postcode to its district, i.e. the outward code (`"LS1 4AP"` → `"LS1"`, `"ls174df"` → `"LS17"`);
 * a US ZIP (or ZIP+4) to its first `zipDigits` digits (`"01940"` → `"019"`);
 * anything else whose first space-separated part is 2–4 letters/digits (non-standard UK style, e.g. `"LEN 7TF"`)
 * to that part, upper-cased. Returns `undefined` when no safe generalisation is known (the caller removes the value).
 */
export function generalizePostalCode(value: string, zipDigits = 3): string | undefined {
  const v = value.trim();
  const uk = UK_POSTCODE.exec(v);
  if (uk) return uk[1]!.toUpperCase();
  const us = US_ZIP.exec(v);
  if (us) return zipDigits > 0 ? us[1]!.slice(0, Math.min(5, zipDigits)) : undefined;
  const parts = v.split(/\s+/);
  if (parts.length === 2 && /^[A-Za-z][A-Za-z0-9]{1,3}$/.test(parts[0]!) && /^[0-9][A-Za-z]{2}$/.test(parts[1]!)) {
    return parts[0]!.toUpperCase();
  }
  return undefined;
}
