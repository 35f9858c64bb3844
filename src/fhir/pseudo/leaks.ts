/**
 * Identifying values of the people in FHIR data, and a scanner that looks for them in any text.
 *
 * The engine uses {@link personValues} to scrub the free text a policy keeps; tests (and the lead's end-to-end
 * checks over lake objects, events, logs and marts) use {@link collectIdentifiers} on the input and
 * {@link findLeaks} on whatever was produced.
 */
import { buildMatcher, type IdentifierValue, type MatcherOptions } from './matcher';

export type { IdentifierValue, IdentifierKind, MatcherOptions } from './matcher';

/** Resource types that describe a person whose identifying values are hunted. */
export const PERSON_TYPES: ReadonlySet<string> = new Set(['Patient', 'RelatedPerson', 'Person', 'Practitioner']);

const MAIDEN_NAME = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';
const BIRTH_PLACE = 'http://hl7.org/fhir/StructureDefinition/patient-birthPlace';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const str = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';

function names(v: unknown, out: IdentifierValue[]): void {
  for (const n of arr(v)) {
    if (!isObj(n)) continue;
    if (str(n.family)) out.push({ kind: 'name', value: n.family });
    for (const g of arr(n.given)) if (str(g)) out.push({ kind: 'name', value: g });
    if (str(n.text)) out.push({ kind: 'name', value: n.text });
  }
}

function addresses(v: unknown, out: IdentifierValue[]): void {
  for (const a of arr(v)) {
    if (!isObj(a)) continue;
    for (const l of arr(a.line)) if (str(l)) out.push({ kind: 'address', value: l });
    if (str(a.city)) out.push({ kind: 'city', value: a.city });
    if (str(a.text)) out.push({ kind: 'address', value: a.text });
    if (str(a.postalCode)) out.push({ kind: 'postcode', value: a.postalCode });
  }
}

function telecoms(v: unknown, out: IdentifierValue[]): void {
  for (const t of arr(v)) if (isObj(t) && str(t.value)) out.push({ kind: 'telecom', value: t.value });
}

function identifiers(v: unknown, out: IdentifierValue[]): void {
  for (const i of arr(v)) if (isObj(i) && str(i.value)) out.push({ kind: 'identifier', value: i.value });
}

/**
 * Appends the identifying values of one person resource (Patient, RelatedPerson, Person, Practitioner):
 * identifier values, names (given, family, text), telecoms, address lines, cities, full postcodes and texts,
 * the exact birth date, the same for Patient.contact, the mother's maiden name and birth place extensions.
 * Does nothing for other resource types.
 */
export function personValues(resource: unknown, out: IdentifierValue[]): void {
  if (!isObj(resource) || !PERSON_TYPES.has(resource.resourceType as string)) return;
  identifiers(resource.identifier, out);
  names(resource.name, out);
  telecoms(resource.telecom, out);
  addresses(resource.address, out);
  if (str(resource.birthDate)) out.push({ kind: 'birthDate', value: resource.birthDate });
  for (const c of arr(resource.contact)) {
    if (!isObj(c)) continue;
    names(c.name, out);
    telecoms(c.telecom, out);
    addresses(c.address, out);
  }
  for (const e of arr(resource.extension)) {
    if (!isObj(e)) continue;
    if (e.url === MAIDEN_NAME && str(e.valueString)) out.push({ kind: 'name', value: e.valueString });
    if (e.url === BIRTH_PLACE) addresses(e.valueAddress, out);
  }
}

const PERSON_REF = /(?:^|\/)(?:Patient|RelatedPerson|Person|Practitioner)(?:\/[^/]+(?:\/_history\/[^/]+)?$|\?)/;

/**
 * Appends the `display` of every Reference in `resource` that points at a person as a name, whole and word by
 * word (3+ letters): a resource sent without its patient still names them there, and the same name may recur in
 * its free text. A reference points at a person when it is a literal or conditional reference to a Patient,
 * RelatedPerson, Person or Practitioner, when its `type` is one of them, or when it is a `urn:uuid:` reference
 * listed in `personUrls` (the fullUrls of person resources in the same request). Displays of references to
 * anything else (a DiagnosticReport's results, an Encounter's location) are not names and are left alone.
 */
export function referencedPersonNames(resource: unknown, out: IdentifierValue[], personUrls: ReadonlySet<string> = new Set()): void {
  let seen: Set<string> | undefined;
  const isPersonRef = (v: Json): boolean => {
    if (typeof v.type === 'string' && PERSON_TYPES.has(v.type)) return true;
    const ref = v.reference;
    if (typeof ref !== 'string') return false;
    return ref.startsWith('urn:') ? personUrls.has(ref) : PERSON_REF.test(ref);
  };
  const walk = (v: Json): void => {
    const display = v.display;
    if (typeof display === 'string' && display.trim() !== '' && isPersonRef(v)) {
      seen ??= new Set();
      if (!seen.has(display)) {
        seen.add(display);
        out.push({ kind: 'name', value: display });
        for (const w of display.split(/[\s,.]+/)) if (w.length >= 3) out.push({ kind: 'name', value: w });
      }
    }
    for (const k in v) {
      const x = v[k];
      if (typeof x !== 'object' || x === null || k === 'contained') continue;
      if (Array.isArray(x)) {
        for (const y of x) if (typeof y === 'object' && y !== null && !Array.isArray(y)) walk(y as Json);
      } else walk(x as Json);
    }
  };
  if (isObj(resource)) walk(resource);
}

/** Options of {@link collectIdentifiers}. */
export interface CollectOptions {
  /** Also collect every resource id and Bundle fullUrl in the input (source ids must not reach the lake). Default false. */
  includeResourceIds?: boolean;
  /** With `includeResourceIds`: resource types whose ids are public (conformance resources kept whole, whose canonical URL embeds the id). */
  exceptTypes?: Iterable<string>;
  /** Kinds of value to leave out (e.g. `address` when scanning across requests, where an organisation's name holds a city). */
  exceptKinds?: Iterable<string>;
}

/**
 * Calls `fn` on every resource in `input` (arrays, Bundle entries, contained, Parameters), depth first;
 * `contained` tells whether the resource is a contained one (its id is local to its container).
 */
export function forEachResource(input: unknown, fn: (r: Json, contained: boolean) => void, contained = false): void {
  for (const r of arr(input)) {
    if (!isObj(r) || typeof r.resourceType !== 'string') continue;
    fn(r, contained);
    for (const c of arr(r.contained)) forEachResource(c, fn, true);
    if (r.resourceType === 'Bundle') for (const e of arr(r.entry)) if (isObj(e)) forEachResource(e.resource, fn);
    if (r.resourceType === 'Parameters') {
      const walk = (ps: unknown): void => {
        for (const p of arr(ps)) {
          if (!isObj(p)) continue;
          forEachResource(p.resource, fn);
          walk(p.part);
        }
      };
      walk(r.parameter);
    }
  }
}

const ORG_SYSTEMS = /ods-(organization|site)-code|us-npi$/;

/** Values of logical references (Reference.identifier) and of identifiers in conditional references. */
function referenceValues(node: unknown, out: IdentifierValue[]): void {
  if (Array.isArray(node)) {
    for (const x of node) referenceValues(x, out);
    return;
  }
  if (!isObj(node)) return;
  for (const [k, v] of Object.entries(node)) {
    if (k === 'reference' && typeof v === 'string' && v.includes('?')) {
      for (const [name, val] of new URLSearchParams(v.slice(v.indexOf('?') + 1))) {
        if (/identifier$/.test(name) && val) out.push({ kind: 'identifier', value: val.includes('|') ? val.slice(val.indexOf('|') + 1) : val });
      }
    } else if (k === 'identifier' && isObj(v)) {
      // A single Identifier: Reference.identifier (a logical reference), or a 0..1 identifier of a resource.
      // Logical references to organisations and sites (ODS codes, an explicit non-person type) are not personal.
      const type = typeof node.type === 'string' ? node.type : undefined;
      const system = typeof v.system === 'string' ? v.system : '';
      const personal = type === undefined ? !ORG_SYSTEMS.test(system) : PERSON_TYPES.has(type);
      if (personal) identifiers(v, out);
    } else if (typeof v === 'object') {
      referenceValues(v, out);
    }
  }
}

/**
 * Collects the identifying values present in FHIR input (a resource, an array of resources, or a Bundle):
 * the {@link personValues} of every person resource at any depth, the identifiers of logical and conditional
 * references, and optionally every resource id and fullUrl. Duplicates are removed.
 */
export function collectIdentifiers(input: unknown, opts: CollectOptions = {}): IdentifierValue[] {
  const out: IdentifierValue[] = [];
  const except = new Set(opts.exceptTypes ?? []);
  const exceptKinds = new Set(opts.exceptKinds ?? []);
  forEachResource(input, (r, contained) => {
    personValues(r, out);
    referenceValues(r, out);
    if (opts.includeResourceIds && !contained && str(r.id) && !except.has(r.resourceType as string)) out.push({ kind: 'id', value: r.id });
    if (opts.includeResourceIds && r.resourceType === 'Bundle') {
      for (const e of arr(r.entry)) if (isObj(e) && str(e.fullUrl)) out.push({ kind: 'id', value: e.fullUrl.replace(/^urn:(uuid|oid):/, '') });
    }
  });
  const seen = new Set<string>();
  return out.filter((v) => {
    if (exceptKinds.has(v.kind)) return false;
    const k = `${v.kind}\u0000${v.value.trim().toLowerCase()}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * Looks for identifying values in `outputText` (serialised output: lake objects, events, logs, marts...).
 * Matching is case-insensitive, on token boundaries, flexible about separators in digit strings and about
 * date formats (see `matcher.ts`); values shorter than the per-kind minimum are not hunted.
 * @returns the distinct matched texts (empty: no leak).
 */
export function findLeaks(outputText: string, identifierValues: Iterable<IdentifierValue | string>, opts: MatcherOptions = {}): string[] {
  const values: IdentifierValue[] = [];
  for (const v of identifierValues) values.push(typeof v === 'string' ? { kind: 'text', value: v } : v);
  return buildMatcher(values, opts).find(outputText);
}
