/**
 * Identity records: the direct identifiers a request's people carried, moved out of the lake (policy method
 * `vault`) into the identity store, one record per pseudonym and source. Re-identification reads them back.
 */
import { personValues } from './leaks';
import type { IdentifierValue } from './matcher';

/** One element moved into an identity record. */
export interface VaultedElement {
  /** Canonical FHIRPath of the element (`Patient.name`). */
  path: string;
  /** The element's JSON value as received. */
  value: unknown;
  /** The primitive's `_element` sibling (e.g. `_birthDate` with patient-birthTime), when present. */
  extension?: unknown;
}

/** The identity record of one pseudonym from one source: what was moved out of the lake. */
export interface IdentityRecord {
  pseudonym: string;
  source: string;
  resourceType: string;
  /** The ids the source used for this person's resources (`Patient/123`). */
  sourceIds: string[];
  keyVersion: string;
  policyVersion: string;
  receivedAt: string;
  elements: VaultedElement[];
}

/**
 * Supplies the identifying values of patients a request refers to without sending them (typically from their
 * identity records: `identityValues((await vault.get(p)))`), so kept free text is scrubbed of those too.
 * Costs one identity-store read per referenced patient; optional.
 */
export interface IdentityLookup {
  lookup(pseudonyms: string[]): Promise<IdentifierValue[]>;
}

/**
 * The identifying values held in identity records (as returned by `IdentityVault.get`), for an
 * {@link IdentityLookup}: each record's vaulted elements are put back on a resource of its type and read with
 * the same rules as the people in a request.
 */
export function identityValues(records: Iterable<{ record: unknown } | IdentityRecord>): IdentifierValue[] {
  const out: IdentifierValue[] = [];
  for (const item of records) {
    const rec = ('record' in item ? item.record : item) as Partial<IdentityRecord>;
    if (!rec || typeof rec.resourceType !== 'string' || !Array.isArray(rec.elements)) continue;
    const r: Record<string, any> = { resourceType: rec.resourceType };
    for (const e of rec.elements) {
      const name = e.path.slice(e.path.lastIndexOf('.') + 1);
      if (e.path.split('.').length === 2) r[name] = Array.isArray(r[name]) && Array.isArray(e.value) ? [...r[name], ...e.value] : e.value;
    }
    personValues(r, out);
  }
  return out;
}
