/**
 * Reference rewriting (https://hl7.org/fhir/R4/references.html): every reference a request carries is mapped to
 * the lake's ids. Literal references go to the hashed id of their target (`Patient/…` to the patient's
 * pseudonym), contained ones (`#id`) to the container's new local ids, fullUrls of the same request to the
 * entry's lake id, `urn:` ones to derived UUIDs, logical references by NHS number and conditional references
 * (`Patient?identifier=system|value`, https://hl7.org/fhir/R4/http.html#trules) to the pseudonym of that
 * identifier. References to patients the request does not carry wait for one batched KeyService pass
 * ({@link resolvePending}).
 */
import { isValidNhsNumber, normaliseNhsNumber, NHS_NUMBER_SYSTEM } from './nhs-number';
import { sourcePatientInput } from './pseudonyms';
import { findPath, invalidNhsNumber, PENDING, type Json, type RunContext } from './run-context';

/** `[base/]Type/id[/_history/vid]`: base, type, id. */
const REF = /^(?:(https?:\/\/.+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
/** A resource type name. */
const TYPE_NAME = /^[A-Z][A-Za-z]+$/;

/** A logical reference by NHS number (`Reference.identifier`) becomes a literal reference to the patient's pseudonym. */
export function logicalReference(run: RunContext, x: Json, o: Json): void {
  const id = x.identifier;
  if (typeof x.reference === 'string' || !id || id.system !== NHS_NUMBER_SYSTEM || typeof id.value !== 'string') return;
  const n = normaliseNhsNumber(id.value);
  if (!isValidNhsNumber(n)) badNhs(run, (v) => v === id, '.value');
  patientRef(run, `nhs:${n}`, o, 'reference');
}

/** Throws the 422 for an invalid NHS number found anywhere in the request (located by `pred`). */
function badNhs(run: RunContext, pred: (v: unknown) => boolean, suffix: string): never {
  let at: string | undefined;
  for (const u of run.units) {
    at = u.resource ? findPath(u.resource, pred, u.expr) : undefined;
    if (at) break;
  }
  throw invalidNhsNumber(at ? at + suffix : undefined);
}

/** `out[key]` = `Patient/{pseudonym of input}`, now when known, else after {@link resolvePending}. */
function patientRef(run: RunContext, input: string, out: Json, key: string): void {
  const ps = run.pseudonyms.get(input);
  if (ps !== undefined) {
    out[key] = `Patient/${ps}`;
    return;
  }
  out[key] = PENDING;
  run.pending.push({ obj: out, key, input });
}

/** Rewrites any reference string into `out[key]` (see the policy file's header for the forms). */
export function rewriteReference(run: RunContext, ref: string, out: Json, key: string): void {
  const hasher = run.hasher;
  if (ref.charCodeAt(0) === 35) {
    // '#id' → the contained resource's new local id ('#' alone: the container).
    out[key] = ref.length === 1 ? '#' : `#${run.containedIds?.get(ref.slice(1)) ?? hasher.hashString(run.source, ref)}`;
    return;
  }
  const local = run.fullUrls.get(ref);
  if (local !== undefined) {
    out[key] = local;
    return;
  }
  if (ref.startsWith('urn:')) {
    out[key] = `urn:uuid:${hasher.uuidFor(run.source, ref)}`;
    return;
  }
  const q = ref.indexOf('?');
  if (q > 0) {
    conditional(run, ref, q, out, key);
    return;
  }
  const m = REF.exec(ref);
  if (m) {
    const base = m[1];
    const type = m[2]!;
    const id = m[3]!;
    if (base) {
      if (run.engine.isPublicType(type)) out[key] = ref;
      else if (type === 'Patient') patientRef(run, `src:${run.source}|${ref}`, out, key);
      else out[key] = `${type}/${hasher.hashId(run.source, type, ref)}`;
      return;
    }
    if (type === 'Patient') {
      const ps = run.patientsById.get(id);
      if (ps !== undefined) out[key] = `Patient/${ps}`;
      else {
        out[key] = PENDING;
        run.pending.push({ obj: out, key, patientId: id });
      }
      return;
    }
    out[key] = `${type}/${hasher.hashId(run.source, type, id)}`;
    return;
  }
  out[key] = hasher.hashString(run.source, ref);
}

/** `Patient?identifier=system|value` and other conditional references. */
function conditional(run: RunContext, ref: string, q: number, out: Json, key: string): void {
  const type = ref.slice(0, q);
  const params = new URLSearchParams(ref.slice(q + 1));
  const ident = params.get('identifier');
  const bar = ident ? ident.indexOf('|') : -1;
  const system = ident && bar >= 0 ? ident.slice(0, bar) : undefined;
  const value = ident && bar >= 0 ? ident.slice(bar + 1) : undefined;
  if (type === 'Patient') {
    if (system === NHS_NUMBER_SYSTEM && value) {
      const n = normaliseNhsNumber(value);
      if (!isValidNhsNumber(n)) badNhs(run, (v) => v === ref, '');
      patientRef(run, `nhs:${n}`, out, key);
    } else if (system && value) {
      patientRef(run, `id:${system}|${value}`, out, key);
    } else {
      patientRef(run, `src:${run.source}|${ref}`, out, key);
    }
    return;
  }
  if (TYPE_NAME.test(type) && system !== undefined && value !== undefined) {
    // Resolve within the request when an entry of that type carries the identifier.
    for (const u of run.units) {
      const r = u.resource;
      if (r?.resourceType === type && Array.isArray(r.identifier) && r.identifier.some((i: Json) => i?.system === system && i?.value === value)) {
        out[key] = `${type}/${u.lakeId}`;
        return;
      }
    }
  }
  out[key] = TYPE_NAME.test(type) ? `${type}/${run.hasher.hashId(run.source, type, ref)}` : run.hasher.hashString(run.source, ref);
}

/**
 * Bundle.entry.request.url (https://hl7.org/fhir/R4/bundle-definitions.html#Bundle.entry.request.url): `Type`
 * kept, `Type/id` and conditional URLs rewritten, search queries dropped.
 */
export function requestUrl(run: RunContext, url: string, out: Json, key: string, res?: Json): void {
  if (TYPE_NAME.test(url)) {
    out[key] = url;
  } else if (res && typeof res.id === 'string' && typeof res.resourceType === 'string' && !url.includes('?')) {
    out[key] = `${res.resourceType}/${res.id}`;
  } else if (url.includes('?') && !/[?&]identifier=/.test(url)) {
    out[key] = url.slice(0, url.indexOf('?'));
  } else {
    rewriteReference(run, url, out, key);
  }
}

/**
 * After the walk: references to patients absent from the request get their pseudonyms, known ones through the
 * {@link PatientResolver}, the others MACed in one batched pass; each is recorded in the id map.
 */
export async function resolvePending(run: RunContext): Promise<void> {
  if (run.pending.length === 0) return;
  const ids = [...new Set(run.pending.filter((p) => p.patientId !== undefined).map((p) => p.patientId!))];
  let resolved = new Map<string, string>();
  if (ids.length && run.opts.patientResolver) resolved = await run.opts.patientResolver.resolve(run.source, ids);
  for (const p of run.pending) if (p.patientId !== undefined && !resolved.has(p.patientId)) p.input = sourcePatientInput(run.source, p.patientId);
  await run.macAll(run.pending.filter((p) => p.input !== undefined).map((p) => p.input!));
  for (const p of run.pending) {
    const ps = p.input !== undefined ? run.pseudonyms.get(p.input)! : resolved.get(p.patientId!)!;
    p.obj[p.key] = `Patient/${ps}`;
    run.absentPatients.add(ps);
    if (p.patientId !== undefined) run.idMap.set(`Patient/${p.patientId}`, `Patient/${ps}`);
  }
}
