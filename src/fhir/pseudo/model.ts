/**
 * Just enough of the FHIR R4 model for compiling the policy: element names and types of every resource,
 * backbone element and data type, from the `fhirpath` package's R4 model (`fhirpath/fhir-context/r4`).
 */
import { path2Type, pathsDefinedElsewhere, type2Parent, choiceTypePaths } from 'fhirpath/fhir-context/r4';

const P2T = path2Type as Record<string, string>;
const ELSEWHERE = pathsDefinedElsewhere as Record<string, string>;
const T2P = type2Parent as Record<string, string>;
const CHOICES = choiceTypePaths as Record<string, string[]>;

let childIndex: Map<string, Map<string, string>> | undefined;
let choiceBase: Map<string, string> | undefined;

function index(): Map<string, Map<string, string>> {
  if (childIndex) return childIndex;
  childIndex = new Map();
  for (const [p, t] of Object.entries(P2T)) {
    const dot = p.lastIndexOf('.');
    if (dot < 0) continue;
    const parent = p.slice(0, dot);
    let m = childIndex.get(parent);
    if (!m) childIndex.set(parent, (m = new Map()));
    m.set(p.slice(dot + 1), t);
  }
  // Recursive/shared backbone elements (Questionnaire.item.item → Questionnaire.item) are not in path2Type.
  for (const p of Object.keys(ELSEWHERE)) {
    const dot = p.lastIndexOf('.');
    const parent = p.slice(0, dot);
    let m = childIndex.get(parent);
    if (!m) childIndex.set(parent, (m = new Map()));
    if (!m.has(p.slice(dot + 1))) m.set(p.slice(dot + 1), 'BackboneElement');
  }
  return childIndex;
}

/** `Observation.valueString` → `Observation.value` for choice-type variants; undefined otherwise. */
export function choiceBaseOf(path: string): string | undefined {
  if (!choiceBase) {
    choiceBase = new Map();
    for (const [base, types] of Object.entries(CHOICES)) for (const t of types) choiceBase.set(base + t, base);
  }
  return choiceBase.get(path);
}

/** Element name → type of the children of a definition path (`Patient`, `Patient.contact`, `HumanName`). */
export function childrenOf(defPath: string): Map<string, string> {
  return index().get(defPath) ?? new Map();
}

/** The definition path whose children an element of `type` at `path` has (`undefined` for primitives/resources). */
export function defPathFor(path: string, type: string): string | undefined {
  if (type === 'BackboneElement' || type === 'Element') return ELSEWHERE[path] ?? path;
  if (isComplexDataType(type)) return type;
  return undefined;
}

/** Ancestors of a type, itself first (`Age` → Age, Quantity, Element). */
export function typeChain(type: string): string[] {
  const out = [type];
  let t = T2P[type];
  while (t) {
    out.push(t);
    t = T2P[t];
  }
  return out;
}

/** True for resource types (`Patient`, `Bundle`, ...) and the abstract `Resource`/`DomainResource`. */
export function isResourceType(name: string): boolean {
  if (name === 'Resource' || name === 'DomainResource') return true;
  const chain = typeChain(name);
  return chain.length > 1 && chain[chain.length - 1] === 'Resource';
}

/** True for primitive type names (`string`, `date`, `System.String`, ...). */
export function isPrimitiveType(type: string): boolean {
  return type.startsWith('System.') || /^[a-z]/.test(type);
}

/** True for complex data types (`HumanName`, `Reference`, `Meta`, ...), not resources or backbone elements. */
export function isComplexDataType(type: string): boolean {
  if (isPrimitiveType(type) || type === 'BackboneElement' || type === 'Element' || type === 'Resource') return false;
  if (isResourceType(type)) return false;
  return T2P[type] !== undefined || index().has(type);
}

/** A rule path resolved against the model. */
export interface ResolvedPath {
  /** `path`: rooted at a resource type (or `Resource`); `resource`: a whole resource type; `type`: a data type; `typeElement`: an element of a data type. */
  kind: 'path' | 'resource' | 'type' | 'typeElement';
  /** The normalised path (`nodesByType('X')` → `X`). */
  path: string;
  /** First segment: resource type, `Resource`, or the data type. */
  root: string;
  /** Type of the addressed element (`choice` for a choice element named by its base name). */
  type: string;
  /**
   * Canonical form used for matching: recursive backbone elements folded to their definition
   * (`Questionnaire.item.item.text` → `Questionnaire.item.text`), `DomainResource.` → `Resource.`.
   */
  canonical: string;
}

/**
 * Resolves a rule path against the R4 model.
 * @throws Error with a readable reason when a segment is not an element of its parent.
 */
export function resolveRulePath(raw: string): ResolvedPath {
  const byType = /^nodesByType\('([A-Za-z]+)'\)$/.exec(raw.trim());
  const path = byType ? byType[1]! : raw.trim();
  if (!/^[A-Za-z][A-Za-z0-9]*(\.[A-Za-z][A-Za-z0-9]*)*$/.test(path)) {
    throw new Error(`"${raw}" is not a supported path (Type.element.element, or nodesByType('Type'))`);
  }
  const segs = path.split('.');
  const root = segs[0]!;
  const rootIsResource = isResourceType(root);
  if (!rootIsResource && !isComplexDataType(root)) {
    throw new Error(`"${root}" is neither a FHIR R4 resource type nor a data type`);
  }
  if (segs.length === 1) {
    if (byType && rootIsResource) throw new Error(`nodesByType() takes a data type, not the resource type "${root}"`);
    return { kind: rootIsResource ? 'resource' : 'type', path, root, type: root, canonical: path };
  }
  if (byType) throw new Error(`"${raw}" is not a supported path`);
  let defPath: string | undefined = root;
  let type = root;
  let cur = root;
  let canonical = root === 'DomainResource' ? 'Resource' : root;
  for (let i = 1; i < segs.length; i++) {
    const seg = segs[i]!;
    if (defPath === undefined) throw new Error(`"${cur}" is a primitive (${type}) and has no element "${seg}"`);
    let kids = childrenOf(defPath);
    if (defPath === 'Resource' && !kids.has(seg)) kids = childrenOf('DomainResource');
    const t = kids.get(seg);
    const here = `${cur}.${seg}`;
    if (t === undefined) {
      if (CHOICES[`${defPath}.${seg}`] || CHOICES[`${root === 'Resource' ? 'DomainResource' : defPath}.${seg}`]) {
        if (i !== segs.length - 1) throw new Error(`choice element "${here}" must be the last segment`);
        return { kind: rootIsResource ? 'path' : 'typeElement', path, root, type: 'choice', canonical: `${canonical}.${seg}` };
      }
      throw new Error(`"${seg}" is not an element of ${defPath}`);
    }
    type = t;
    cur = here;
    const fullDef: string = `${defPath}.${seg}`;
    canonical = canonicalChild(canonical, defPath, seg, t);
    defPath = t === 'Resource' ? undefined : defPathFor(fullDef, t);
  }
  return { kind: rootIsResource ? 'path' : 'typeElement', path, root, type, canonical };
}

/**
 * Canonical path of child `name` (of type `type`) of an element whose canonical path is `parentCanonical` and
 * definition path `parentDef`: backbone elements fold onto their definition path, so recursive structures
 * (`Questionnaire.item.item`) and shared ones (`Bundle.entry.link`) match the rules written for the definition.
 */
export function canonicalChild(parentCanonical: string, parentDef: string, name: string, type: string): string {
  if (type === 'BackboneElement' || type === 'Element') {
    const def = `${parentDef}.${name}`;
    const target = ELSEWHERE[def] ?? def;
    // Rooted at a resource type: the definition path is the canonical one.
    if (!isComplexDataType(target.split('.')[0]!)) return target;
  }
  return `${parentCanonical}.${name}`;
}
