/**
 * Extension checks of the profile validator (https://hl7.org/fhir/R4/extensibility.html): `ext-1` (value[x] or
 * extensions, not both) and, for the core extensions the generated model knows, a version-free URL, the value type
 * and the declared context (https://hl7.org/fhir/R4/extensibility.html#context).
 */
import type { Ctx, ValidatorState } from './context';
import type { ElementRt, StructRt } from './model';

/**
 * Conformance and terminology resources, which HL7's own tooling publishes with core extensions outside
 * their declared contexts (e.g. `translation` on ValueSet.expansion.contains): the extension context rule
 * is not applied inside them.
 */
const CONFORMANCE = new Set(
  'StructureDefinition ValueSet CodeSystem ConceptMap SearchParameter OperationDefinition CapabilityStatement CompartmentDefinition ImplementationGuide NamingSystem StructureMap GraphDefinition MessageDefinition TerminologyCapabilities'.split(' '),
);

/**
 * ext-1 plus, at `strict`, for core extensions, the value type, the context and a version-free URL.
 * @param v the validator
 * @param o the Extension object (the path stack `c.seg` is at it)
 * @param c the call's state
 */
export function checkExtension(v: ValidatorState, o: Record<string, unknown>, c: Ctx): void {
  let valueKey: string | undefined;
  let valueExtOnly = false;
  for (const k in o) {
    if (k.length > 5 && k.startsWith('value') && k.charCodeAt(5) < 91) valueKey = k;
    else if (k.length > 6 && k.startsWith('_value') && k.charCodeAt(6) < 91) valueExtOnly = true;
  }
  const hasExt = o.extension !== undefined;
  if (hasExt === (valueKey !== undefined || valueExtOnly)) {
    v.issue(c, 'error', 'invariant', 'Constraint failed: ext-1: Must have either extensions or value[x], not both');
  }
  if (!c.strict) return;
  const url = o.url;
  if (typeof url !== 'string') return;
  if (url.includes('|')) {
    v.issue(c, 'error', 'invalid', 'The extension URL must not contain a version', 'url');
    return;
  }
  const def = v.m.extensions.get(url);
  if (!def) return;
  if (valueKey !== undefined) {
    const t = valueKey.slice(5);
    const allowed = [...def.v].map((x) => x.charAt(0).toUpperCase() + x.slice(1));
    if (!allowed.includes(t)) {
      v.issue(
        c,
        'error',
        'structure',
        allowed.length
          ? `The Extension '${url}' definition allows for the types [${[...def.v].join(', ')}] but found type ${t.charAt(0).toLowerCase() + t.slice(1)}`
          : `The Extension '${url}' definition is for a complex extension, so it must not have a value`,
        valueKey,
      );
    }
  }
  if (def.c[0] !== '*' && !CONFORMANCE.has(String((c.resource as { resourceType?: unknown }).resourceType))) extensionContext(v, url, def.c, c);
}

/** Checks where a core extension is used against its declared contexts. */
function extensionContext(v: ValidatorState, url: string, contexts: string[], c: Ctx): void {
  // seg: [..., <holder key>, (index)?, 'extension', index]
  let i = c.seg.length - 1;
  if (typeof c.seg[i] === 'number') i--;
  if (c.seg[i] !== 'extension' && c.seg[i] !== 'modifierExtension') return;
  i--;
  const rt = (c.resource as { resourceType?: unknown }).resourceType;
  const candidates = contextCandidates(v, String(rt), c.seg.slice(c.resStart + 1, i + 1));
  if (!candidates) return;
  if (contexts.some((x) => candidates.has(x))) return;
  v.issue(c, 'error', 'structure', `The extension ${url} is not allowed to be used at this point (allowed contexts: ${contexts.join(', ')})`);
}

/** Context names an element at `segs` (from the resource root) satisfies; undefined when unsure. */
function contextCandidates(v: ValidatorState, resourceType: string, segs: (string | number)[]): Set<string> | undefined {
  const root = v.m.types.get(resourceType);
  if (!root) return undefined;
  const out = new Set<string>(['Element', 'Resource', '*']);
  let st: StructRt | undefined = root;
  let el: ElementRt | undefined;
  let fhirPath = root.name;
  let relPath = root.name; // path relative to the innermost datatype
  let primHolder: string | undefined;
  for (const s of segs) {
    if (typeof s === 'number') continue;
    if (s.charCodeAt(0) === 95) {
      primHolder = s.slice(1);
      el = st?.byKey.get(primHolder);
      if (!el) return undefined;
      fhirPath += `.${el.name}`;
      relPath += `.${el.name}`;
      st = undefined;
      break;
    }
    el = st?.byKey.get(s);
    if (!el) return undefined;
    if (el.isResource) return undefined;
    fhirPath += `.${el.choice ? el.choice + '[x]' : el.name}`;
    relPath += `.${el.choice ? el.choice + '[x]' : el.name}`;
    if (el.struct && el.struct.kind === 'datatype') relPath = el.struct.isQuantity ? 'Quantity' : el.struct.name;
    st = el.struct;
  }
  out.add(fhirPath);
  out.add(fhirPath.replace(/\[x\]$/, ''));
  out.add(relPath);
  if (el === undefined) {
    out.add(root.name);
    if (root.domain) out.add('DomainResource');
  } else if (primHolder !== undefined || el.prim) {
    out.add(el.typeName);
  } else if (el.struct) {
    out.add(el.struct.kind === 'backbone' ? 'BackboneElement' : el.struct.name);
    if (el.struct.isQuantity) out.add('Quantity');
    if (el.struct.kind === 'backbone') out.add(el.struct.path);
    if (el.struct.isExtension) {
      out.add('Extension');
    }
  }
  return out;
}
