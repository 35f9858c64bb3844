/**
 * The FHIR R4 model that fhirpath ships (element types, choice elements, repeating elements, the type hierarchy),
 * as the direct-accessor compiler looks elements up in it (https://hl7.org/fhir/R4/elementdefinition.html).
 */
import { model } from './fhirpath';

const path2Type = model.path2Type as unknown as Record<string, string | { code: string }>;
const choiceTypePaths = model.choiceTypePaths;
const type2Parent = model.type2Parent;
const pathsDefinedElsewhere = model.pathsDefinedElsewhere;
const path2Repeating = model.path2Repeating;
const elsewhereKeys = Object.keys(pathsDefinedElsewhere);

/** True for FHIR primitive types (`string`, `dateTime`, ...) and System types. */
export function isPrimitiveType(type: string): boolean {
  return type.startsWith('System.') || /^[a-z]/.test(type);
}

/** Applies the model's "defined elsewhere" mapping (e.g. `QuestionnaireResponse.item.item` → `QuestionnaireResponse.item`). */
function normalisePath(path: string): string {
  let p = path;
  for (let changed = true; changed; ) {
    changed = false;
    for (const k of elsewhereKeys) {
      if (p === k || p.startsWith(k + '.')) {
        p = pathsDefinedElsewhere[k] + p.slice(k.length);
        changed = true;
        break;
      }
    }
  }
  return p;
}

/** An element as the compiler sees it. */
export interface Element {
  /** Model key of the element, e.g. `Observation.value` or `HumanName.given`. */
  key: string;
  /** Declared choice suffixes when the element is a choice (`value[x]`). */
  choices?: string[];
  /** Type of the element's values (type name or, for backbone elements, the element path). */
  type?: string;
}

/** Looks an element up on a type (or backbone element path), walking up the type hierarchy. */
export function lookupElement(type: string, name: string): Element | undefined {
  let t: string | undefined = type;
  while (t) {
    const key = normalisePath(`${t}.${name}`);
    const choices = choiceTypePaths[key];
    if (choices) return { key, choices };
    const code = path2Type[key];
    if (code !== undefined) {
      const c = typeof code === 'string' ? code : code.code;
      return { key, type: c === 'BackboneElement' || c === 'Element' ? key : c };
    }
    t = t.includes('.') ? 'BackboneElement' : type2Parent[t];
  }
  return undefined;
}

/** True when the element (a key of {@link lookupElement}'s result) repeats (max cardinality above 1). */
export function isRepeating(key: string): boolean {
  return key in path2Repeating;
}
