/**
 * Checks of the profile validator on particular datatypes (https://hl7.org/fhir/R4/datatypes.html): required
 * bindings on Coding and CodeableConcept (https://hl7.org/fhir/R4/terminologies.html#required), Reference targets
 * and `ref-1` (https://hl7.org/fhir/R4/references.html), the Attachment size and the Narrative XHTML
 * (https://hl7.org/fhir/R4/narrative.html#xhtml).
 */
import type { Ctx, ValidatorState } from './context';
import type { ElementRt } from './model';
import { base64DecodedLength, isBase64 } from './primitives';
import { checkXhtml } from './xhtml';

const REF_TYPE = /^(?:https?:\/\/[^?#\s]*\/)?([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/**
 * A required binding (`strict`): the Coding, or one coding of the CodeableConcept, must be in the value set.
 * @param v the validator
 * @param el the element, with its value set (`el.vs`)
 * @param o the Coding or CodeableConcept (the path stack `c.seg` is at it)
 * @param c the call's state
 */
export function checkBinding(v: ValidatorState, el: ElementRt, o: Record<string, unknown>, c: Ctx): void {
  const vs = el.vs!;
  const inVs = (cd: Record<string, unknown>): boolean | undefined => {
    if (typeof cd.code !== 'string') return undefined;
    if (typeof cd.system === 'string') return vs.systemCodes.has(`${cd.system}|${cd.code}`);
    return vs.codes.has(cd.code);
  };
  if (el.typeName === 'Coding') {
    const r = inVs(o);
    if (r === false) {
      v.issue(c, 'error', 'code-invalid', `The Coding provided (${String(o.system ?? '')}#${String(o.code).slice(0, 64)}) is not in the value set '${vs.url}' (required binding)`);
    }
    return;
  }
  // CodeableConcept
  const codings = Array.isArray(o.coding) ? (o.coding as Record<string, unknown>[]) : [];
  let any = false;
  for (const cd of codings) {
    if (cd && typeof cd === 'object' && inVs(cd) === true) return;
    if (cd && typeof cd === 'object' && typeof cd.code === 'string') any = true;
  }
  if (any) {
    v.issue(c, 'error', 'code-invalid', `None of the codings provided are in the value set '${vs.url}' (required binding)`);
  } else {
    v.issue(c, 'error', 'code-invalid', `No code provided, and a code is required from the value set '${vs.url}'`);
  }
}

/**
 * A Reference (`strict`): `ref-1` for local references, the target types the element allows, and the Bundle
 * reference bookkeeping (`c.bundleRefs`, checked by `checkBundle`).
 * @param v the validator
 * @param el the element, with its allowed target types (`el.targets`)
 * @param o the Reference (the path stack `c.seg` is at it)
 * @param c the call's state
 */
export function checkReference(v: ValidatorState, el: ElementRt, o: Record<string, unknown>, c: Ctx): void {
  const ref = o.reference;
  if (typeof ref !== 'string') return;
  if (ref.charCodeAt(0) === 35) {
    // ref-1: a local reference must point at a contained resource of the root resource
    const id = ref.slice(1);
    const root = c.rootResource as { contained?: { id?: unknown }[] };
    const contained = Array.isArray(root?.contained) ? root.contained : [];
    const ok = id === '' ? contained.length > 0 || c.contained > 0 : contained.some((r) => r && r.id === id);
    if (!ok) {
      v.issue(c, 'error', 'invariant', `Constraint failed: ref-1: SHALL have a contained resource if a local reference is provided ('${ref.slice(0, 70)}')`);
      return;
    }
    // the contained target's type is checked against the element's targets like a literal reference's
    // (https://hl7.org/fhir/R4/references.html#contained)
    const target = id === '' ? undefined : contained.find((r) => r && r.id === id);
    const type = (target as { resourceType?: unknown } | undefined)?.resourceType;
    if (typeof type === 'string') checkTargetType(v, el, type, ref, c);
    return;
  }
  if (c.bundleRefs) c.bundleRefs.push([ref, c.entryIndex]);
  if (el.targets && !ref.startsWith('urn:')) {
    const m = REF_TYPE.exec(ref);
    if (m) checkTargetType(v, el, m[1], ref, c);
  }
}

/** The type a reference implies must be one of the element's target types (when they are all resource types). */
function checkTargetType(v: ValidatorState, el: ElementRt, type: string, ref: string, c: Ctx): void {
  const types = v.m.resourceTypes;
  if (el.targets && types.has(type) && !el.targets.has(type) && [...el.targets].every((t) => types.has(t))) {
    v.issue(c, 'error', 'structure', `The type '${type}' implied by the reference URL ${ref.slice(0, 100)} is not a valid Target for this element (must be one of [${[...el.targets].join(', ')}])`);
  }
}

/** Attachment (`strict`): a stated `size` must match the decoded `data`. */
export function checkAttachment(v: ValidatorState, o: Record<string, unknown>, c: Ctx): void {
  if (typeof o.data === 'string' && typeof o.size === 'number' && isBase64(o.data)) {
    const actual = base64DecodedLength(o.data);
    if (actual !== o.size) {
      v.issue(c, 'error', 'structure', `Stated Attachment Size ${o.size} does not match actual attachment size ${actual}`);
    }
  }
}

/** Narrative `div`: well-formed restricted XHTML always; `txt-1`/`txt-2` at `strict`. */
export function checkNarrativeDiv(v: ValidatorState, div: string, c: Ctx): void {
  for (const p of checkXhtml(div)) {
    if (p.rule === 'xhtml') v.issue(c, 'error', 'invalid', p.message);
    else if (c.strict) v.issue(c, 'error', 'invariant', `Constraint failed: ${p.rule}: ${p.message}`);
  }
}
