/**
 * One request, start to end: its units (a resource, an array, or the entries of a batch/transaction Bundle,
 * https://hl7.org/fhir/R4/http.html#transaction), a prepass over its people, their pseudonyms (one KeyService
 * call per distinct person), the lake ids of every resource, the walk, then references to absent patients.
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, Resource } from 'fhir/r4';
import { ClientError } from '../errors';
import { outcome } from '../outcomes';
import { scrubAbsentPatients } from './element-actions';
import type { PseudonymisedEntry, PseudonymiseResult } from './engine-types';
import { PERSON_TYPES, personValues, referencedPersonNames } from './leaks';
import { buildMatcher, type IdentifierValue } from './matcher';
import { isValidNhsNumber, normaliseNhsNumber, NHS_NUMBER_SYSTEM } from './nhs-number';
import { requestUrl, resolvePending } from './references';
import { addSourcePatientKey, sourcePatientInput } from './pseudonyms';
import { findPath, invalidNhsNumber, type Json, type RunContext, type Unit } from './run-context';
import { labelMeta } from './security-labels';
import { walkResource, type ResourceKind } from './walk';

/** A Patient found by the prepass, with where it sits. */
interface FoundPatient {
  r: Json;
  unit: Unit;
  kind: ResourceKind;
  container?: Json;
}

/** A resource inside a Bundle or Parameters of the request. */
interface NestedResource {
  r: Json;
  fullUrl?: string;
}

/**
 * Pseudonymises the request `input` with the run's state (see {@link Pseudonymiser.pseudonymise}).
 * @throws {@link ClientError} 422 for an invalid NHS number, 400 for a resource without (or with an unknown) type.
 */
export async function pseudonymiseRequest(run: RunContext, input: Resource | Resource[] | Bundle): Promise<PseudonymiseResult> {
  // 1. Units.
  const batch = collectUnits(run, input);

  // 2. Prepass: people, patients' pseudonym inputs, fullUrls of nested bundles.
  const { patients, nested } = prepass(run);

  // 3. Pseudonyms of the patients in the request (one KeyService call per distinct person), and the
  //    source-local key of each top-level Patient with an id (the pseudonym a reference made before it arrived got).
  const inputs = patients.map((pt) => patientInput(run, pt));
  const localInputs = patients.map((pt) => (pt.kind === 'top' && typeof pt.r.id === 'string' ? sourcePatientInput(run.source, pt.r.id) : undefined));
  await run.macAll([...inputs, ...localInputs.filter((x): x is string => x !== undefined)]);
  const localKeys = new Map<object, string>();
  patients.forEach((pt, i) => {
    const ps = run.pseudonyms.get(inputs[i]!)!;
    run.patientOf.set(pt.r, ps);
    if (pt.kind !== 'contained' && typeof pt.r.id === 'string') run.patientsById.set(pt.r.id, ps);
    if (localInputs[i] !== undefined) localKeys.set(pt.r, run.pseudonyms.get(localInputs[i]!)!);
  });
  run.stats.patients = new Set(run.patientOf.values()).size;

  // 4. Lake ids of units and nested resources; the fullUrl map.
  for (const u of run.units) {
    const r = u.resource;
    const fullUrl: unknown = u.entry?.fullUrl;
    if (!r) continue;
    const type = r.resourceType as string;
    const lakeId = lakeIdOf(run, r, typeof fullUrl === 'string' ? fullUrl : undefined);
    u.lakeId = lakeId;
    if (typeof r.id === 'string') run.idMap.set(`${type}/${r.id}`, `${type}/${lakeId}`);
    if (typeof fullUrl === 'string') {
      run.fullUrls.set(fullUrl, `${type}/${lakeId}`);
      run.idMap.set(fullUrl, `${type}/${lakeId}`);
    }
  }
  for (const n of nested) {
    const lakeId = lakeIdOf(run, n.r, n.fullUrl);
    run.nestedIds.set(n.r, lakeId);
    if (n.fullUrl) run.fullUrls.set(n.fullUrl, `${n.r.resourceType}/${lakeId}`);
  }

  // 5. The walk.
  const resources: Resource[] = [];
  const entries: PseudonymisedEntry[] = [];
  const outEntries: Json[] = [];
  for (const u of run.units) {
    const r = u.resource;
    const en: PseudonymisedEntry = { index: u.index };
    if (typeof u.entry?.fullUrl === 'string') en.fullUrl = u.entry.fullUrl;
    let outRes: Json | undefined;
    if (r) {
      en.resourceType = r.resourceType;
      if (typeof r.id === 'string') en.sourceId = r.id;
      en.lakeId = u.lakeId!;
      outRes = walkResource(run, r, u.lakeId!, 'top', u);
      const localKey = localKeys.get(r);
      if (localKey !== undefined) addSourcePatientKey(outRes, localKey);
      en.resourceIndex = resources.length;
      resources.push(outRes as Resource);
      run.stats.resources++;
    }
    entries.push(en);
    if (batch) outEntries.push(batchEntry(run, u, outRes));
  }

  // 6. References to patients not in the request; their known identities scrubbed from kept text.
  await resolvePending(run);
  await scrubAbsentPatients(run);

  const result: PseudonymiseResult = {
    resources,
    identities: [...run.records.values()].map((record) => ({ pseudonym: record.pseudonym, source: run.source, record })),
    idMap: run.idMap,
    entries,
    stats: run.stats,
  };
  if (batch) {
    const b: Json = { resourceType: 'Bundle' };
    if (typeof batch.id === 'string') b.id = run.hasher.hashId(run.source, 'Bundle', batch.id);
    b.meta = labelMeta({}, run.engine.policyVersion, run.engine.keyVersion);
    b.type = batch.type;
    if (typeof batch.timestamp === 'string') b.timestamp = batch.timestamp;
    b.entry = outEntries;
    result.bundle = b as Bundle;
  }
  return result;
}

/** Fills `run.units` from the input; returns the input Bundle when it is a batch or transaction. */
function collectUnits(run: RunContext, input: Resource | Resource[] | Bundle): Json | undefined {
  if (Array.isArray(input)) {
    input.forEach((r, i) => run.units.push({ index: i, resource: r as Json, entry: undefined, expr: (r as Json)?.resourceType ?? 'Resource' }));
    return undefined;
  }
  if ((input as Json)?.resourceType === 'Bundle' && ['batch', 'transaction'].includes((input as Json).type)) {
    const batch = input as Json;
    ((batch.entry ?? []) as Json[]).forEach((entry, i) =>
      run.units.push({ index: i, resource: entry?.resource, entry, expr: `Bundle.entry[${i}].resource` }),
    );
    return batch;
  }
  run.units.push({ index: 0, resource: input as Json, entry: undefined, expr: (input as Json)?.resourceType ?? 'Resource' });
  return undefined;
}

/**
 * Visits every resource of the request (contained ones, Bundle entries and Parameters resources included): finds
 * the Patients and nested resources, collects the people's identifying values (and names in references to
 * them), and builds the run's scrubbing matcher and birth-date set.
 */
function prepass(run: RunContext): { patients: FoundPatient[]; nested: NestedResource[] } {
  const values: IdentifierValue[] = [...(run.ctx.knownIdentities ?? [])];
  const patients: FoundPatient[] = [];
  const nested: NestedResource[] = [];
  const visited: Json[] = [];
  const visit = (r: Json, unit: Unit, kind: ResourceKind, container?: Json): void => {
    if (!r || typeof r !== 'object') return;
    if (typeof r.resourceType !== 'string') {
      throw new ClientError(outcome(400, 'structure', 'Resource without resourceType', unit.expr));
    }
    if (r.resourceType === 'Patient') patients.push({ r, unit, kind, ...(container ? { container } : {}) });
    personValues(r, values);
    visited.push(r);
    if (Array.isArray(r.contained)) for (const c of r.contained) visit(c, unit, 'contained', r);
    if (r.resourceType === 'Bundle' && Array.isArray(r.entry)) {
      for (const en of r.entry) {
        if (en?.resource) {
          nested.push({ r: en.resource, ...(typeof en.fullUrl === 'string' ? { fullUrl: en.fullUrl } : {}) });
          visit(en.resource, unit, 'nested');
        }
      }
    }
    if (r.resourceType === 'Parameters') {
      const walk = (ps: unknown): void => {
        if (!Array.isArray(ps)) return;
        for (const p of ps) {
          if (p?.resource) {
            nested.push({ r: p.resource });
            visit(p.resource, unit, 'nested');
          }
          walk(p?.part);
        }
      };
      walk(r.parameter);
    }
  };
  for (const u of run.units) if (u.resource) visit(u.resource, u, 'top');
  // Names in Reference.display of references to people (urn:uuid ones only when they resolve to a person here).
  const personUrls = new Set<string>();
  for (const u of run.units) if (typeof u.entry?.fullUrl === 'string' && PERSON_TYPES.has(u.resource?.resourceType)) personUrls.add(u.entry.fullUrl);
  for (const n of nested) if (n.fullUrl !== undefined && PERSON_TYPES.has(n.r.resourceType as string)) personUrls.add(n.fullUrl);
  for (const r of visited) referencedPersonNames(r, values, personUrls);
  if (values.length > 0) {
    run.matcher = buildMatcher(values);
    if (run.matcher.empty) run.matcher = undefined;
    const bd = values.filter((v) => v.kind === 'birthDate').map((v) => v.value);
    if (bd.length && run.params.datesEqualToBirthDate === 'generalize') run.birthDates = new Set(bd);
  }
  return { patients, nested };
}

/** MAC input of a Patient: NHS number, else first identifier system|value, else source|Patient/id. */
function patientInput(run: RunContext, { r, unit, kind, container }: FoundPatient): string {
  const ids: Json[] = Array.isArray(r.identifier) ? r.identifier : [];
  for (const id of ids) {
    if (id?.system === NHS_NUMBER_SYSTEM && typeof id.value === 'string') {
      const n = normaliseNhsNumber(id.value);
      if (!isValidNhsNumber(n)) {
        const at = findPath(unit.resource, (v) => v === id, unit.expr) ?? unit.expr;
        throw invalidNhsNumber(`${at}.value`);
      }
      return `nhs:${n}`;
    }
  }
  for (const id of ids) {
    if (typeof id?.system === 'string' && typeof id.value === 'string' && id.value !== '') return `id:${id.system}|${id.value}`;
  }
  if (typeof r.id === 'string') {
    if (kind === 'contained' && container) return `src:${run.source}|${container.resourceType}/${container.id ?? ''}#${r.id}`;
    return sourcePatientInput(run.source, r.id);
  }
  // A create without id: its fullUrl (stable across retries), else nothing stable is known.
  if (kind === 'top' && typeof unit.entry?.fullUrl === 'string') return `src:${run.source}|${unit.entry.fullUrl}`;
  return `rnd:${randomUUID()}`;
}

/** Lake id of a resource: the pseudonym for a Patient, else the keyed hash of its id (or fullUrl, or a random one). */
function lakeIdOf(run: RunContext, r: Json, fullUrl: string | undefined): string {
  const type = r.resourceType as string;
  if (type === 'Patient') return run.patientOf.get(r)!;
  if (typeof r.id === 'string') return run.hasher.hashId(run.source, type, r.id);
  if (fullUrl) return run.hasher.hashId(run.source, type, `fullUrl:${fullUrl}`);
  return run.hasher.hashId(run.source, type, `random:${randomUUID()}`);
}

/** The pseudonymised Bundle.entry of unit `u`: fullUrl derived from the lake id, resource, request rewritten. */
function batchEntry(run: RunContext, u: Unit, res: Json | undefined): Json {
  const src = u.entry ?? {};
  const out: Json = {};
  if (res) out.fullUrl = `urn:uuid:${run.hasher.uuidFor(run.source, `${res.resourceType}/${res.id}`)}`;
  else if (typeof src.fullUrl === 'string') out.fullUrl = `urn:uuid:${run.hasher.uuidFor(run.source, src.fullUrl)}`;
  if (res) out.resource = res;
  if (src.request && typeof src.request === 'object') {
    const rq: Json = {};
    if (typeof src.request.method === 'string') rq.method = src.request.method;
    if (typeof src.request.url === 'string') requestUrl(run, src.request.url, rq, 'url', res);
    for (const k of ['ifMatch', 'ifNoneMatch', 'ifModifiedSince']) if (typeof src.request[k] === 'string') rq[k] = src.request[k];
    out.request = rq;
  }
  return out;
}
