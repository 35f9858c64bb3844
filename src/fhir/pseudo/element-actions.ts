/**
 * What the policy's methods do to one element's value (policy file, `method`): `vault` moves it into the
 * subject's identity record, `redact` removes it (a Narrative may become a placeholder), `pseudonym` puts the
 * patient's pseudonym in its place, `generalize` coarsens dates, postcodes and addresses, `hash` keyed-hashes
 * it, and kept free text is scrubbed of the people's identifying values. A required element the policy emptied
 * is masked with data-absent-reason. None of these walk further down a value: the walk (`walk.ts`) does.
 */
import { Cat, type ElemPlan } from './compile';
import { generalizeDate, generalizePostalCode } from './generalize';
import { buildMatcher } from './matcher';
import type { Json, RunContext } from './run-context';

/** The fixed narrative a redacted Narrative becomes (status `empty`: "the resource has no narrative, only a placeholder"). */
export const NARRATIVE_PLACEHOLDER = '<div xmlns="http://www.w3.org/1999/xhtml">Narrative removed by pseudonymisation.</div>';

/** Extension put on a required element the policy emptied (https://hl7.org/fhir/R4/extension-data-absent-reason.html). */
export const MASKED = { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' } as const;

/** Kept free text with the identifying values of the request's people replaced. */
export function scrub(run: RunContext, s: string): string {
  if (run.matcher === undefined) return s;
  const r = run.matcher.replace(s, run.params.scrubReplacement);
  if (r !== s) run.stats.scrubbedStrings++;
  return r;
}

/** `fn` over a single value or each item of an array (undefined results dropped; an empty array becomes undefined). */
export function mapValue(v: unknown, fn: (x: unknown) => unknown): unknown {
  if (!Array.isArray(v)) return fn(v);
  const out = v.map(fn).filter((x) => x !== undefined);
  return out.length ? out : undefined;
}

/** `vault`: moves `value` (and its `_element` sibling) into the identity record of the resource being walked. */
export function vault(run: RunContext, path: string, value: unknown, ext: unknown): void {
  const s = run.subject;
  if (!s) return;
  let rec = run.records.get(s.id);
  if (!rec) {
    rec = {
      pseudonym: s.id,
      source: run.source,
      resourceType: s.resourceType,
      sourceIds: [],
      keyVersion: run.engine.keyVersion,
      policyVersion: run.engine.policyVersion,
      receivedAt: run.receivedAt,
      elements: [],
    };
    run.records.set(s.id, rec);
  }
  if (s.sourceId && !rec.sourceIds.includes(s.sourceId)) rec.sourceIds.push(s.sourceId);
  rec.elements.push(ext === undefined ? { path, value } : { path, value, extension: ext });
  run.stats.vaultedElements++;
}

/** `pseudonym`: the patient's pseudonym as the element's value (an Identifier of the pseudonym system for Identifiers). */
export function pseudonymValue(run: RunContext, el: ElemPlan, asArray: boolean): unknown {
  const ps = run.currentPseudonym;
  if (!ps) return undefined;
  const v = el.type === 'Identifier' ? { system: run.params.pseudonymIdentifierSystem, value: ps } : ps;
  return asArray ? [v] : v;
}

/** `generalize`: a date cut to the policy's precision, a postcode to its district, an Address to its allowed parts. */
export function generalize(run: RunContext, x: unknown, el: ElemPlan): unknown {
  const p = run.params;
  run.stats.generalized++;
  if (el.cat === Cat.DATE) return typeof x === 'string' ? generalizeDate(x, p.datePrecision) : undefined;
  if (el.postalCode) return typeof x === 'string' ? generalizePostalCode(x, p.zipDigits) : undefined;
  if (el.type === 'Address' && x && typeof x === 'object') {
    const a = x as Json;
    const o: Json = {};
    for (const k of p.generalizedAddress) {
      const val = a[k];
      if (typeof val !== 'string') continue;
      if (k === 'postalCode') {
        const g = generalizePostalCode(val, p.zipDigits);
        if (g) o.postalCode = g;
      } else {
        o[k] = k === 'use' || k === 'type' ? val : scrub(run, val);
      }
    }
    for (const _ in o) return o;
    return undefined;
  }
  return undefined;
}

/** A date equal to one of the people's birth dates, generalised (policy parameter `datesEqualToBirthDate: generalize`). */
export function generalizeBirthDate(run: RunContext, x: string): string | undefined {
  run.stats.generalized++;
  return generalizeDate(x, run.params.datePrecision);
}

/**
 * `hash` of a primitive: a `uuid` becomes another urn:uuid, an `oid` an OID under 2.25 (the UUID arc, ITU-T X.667),
 * any other string a keyed hash. (Identifiers are hashed by the walk, which keeps their other parts.)
 */
export function hashPrimitive(run: RunContext, x: unknown, el: ElemPlan): unknown {
  if (typeof x !== 'string') return undefined;
  if (el.type === 'uuid') return `urn:uuid:${run.hasher.uuidFor(run.source, x)}`;
  if (el.type === 'oid') return `urn:oid:2.25.${BigInt('0x' + run.hasher.uuidFor(run.source, x).replace(/-/g, '')).toString()}`;
  return run.hasher.hashString(run.source, x);
}

/**
 * A required element (minimum cardinality 1 in R4) the policy emptied says why it is absent, so the resource
 * stays valid: a data-absent-reason `masked` extension in its place (complex) or on its `_element` (primitive).
 * The caller checks `el.required` and that `out[key]` is empty.
 */
export function maskAbsent(key: string, v: unknown, el: ElemPlan, out: Json): void {
  const masked = { extension: [{ ...MASKED }] };
  if (el.cat === Cat.COMPLEX) out[key] = Array.isArray(v) ? [masked] : masked;
  else out[`_${key}`] = masked;
}

/**
 * After the walk: kept strings scrubbed again with the identifying values of patients the request references
 * without sending (from the {@link IdentityLookup}; one lookup for all of them).
 */
export async function scrubAbsentPatients(run: RunContext): Promise<void> {
  const kept = run.keptAt;
  if (!kept || kept.length === 0 || run.absentPatients.size === 0) return;
  const values = await run.opts.identityLookup!.lookup([...run.absentPatients]);
  const m = buildMatcher(values);
  if (m.empty) return;
  for (const [obj, key] of kept) {
    const o = obj as Record<string | number, unknown>;
    const v = o[key];
    if (typeof v !== 'string') continue;
    const r = m.replace(v, run.params.scrubReplacement);
    if (r !== v) {
      o[key] = r;
      run.stats.scrubbedStrings++;
    }
  }
}
