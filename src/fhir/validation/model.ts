/**
 * The compact R4 model produced at build time by `scripts/gen-profile-validator.mjs` from the R4
 * StructureDefinitions (https://hl7.org/fhir/R4/structuredefinition.html), stored as
 * `generated/profile-model.json`, and its one-time conversion into linked runtime structures.
 *
 * Nothing here reads StructureDefinitions or files: the generator did that once, and the caller hands the parsed
 * model in; this module only links indexes into objects so that validation is a walk over maps.
 */

/** An IR node of a pre-analysed invariant (see `fastpath.ts`). */
export type IrNode = [string, ...unknown[]];

/** One invariant (FHIRPath constraint) as stored in the generated model. */
export interface RawInvariant {
  /** key, e.g. `obs-6` */
  k: string;
  /** severity */
  s: 'error' | 'warning';
  /** human description */
  h: string;
  /** FHIRPath expression */
  x: string;
  /** element path that is the FHIRPath context, e.g. `Observation.referenceRange` or `Period` */
  b: string;
  /** 1 when implemented directly in TypeScript (ele-1, dom-3, ...) */
  d?: 1;
  /** pre-analysed fast form, when the expression is (partly) in the supported subset */
  ir?: IrNode;
}

/** One JSON property of a struct, as stored in the generated model. */
export interface RawElement {
  n: string;
  t: string | number;
  min: number;
  max: number;
  a?: 1;
  c?: string;
  p?: 1;
  vs?: number;
  i?: number[];
  r?: string[];
  fixed?: string;
}

/** One JSON object shape (resource, datatype, or backbone element) in the generated model. */
export interface RawStruct {
  name: string;
  kind: 'resource' | 'datatype' | 'backbone';
  path: string;
  elements: RawElement[];
  inv: number[];
  domain?: 1;
}

/** The whole generated model. */
export interface RawModel {
  fhirVersion: string;
  primitives: Record<string, { json: 'string' | 'number' | 'boolean'; regex?: string; maxLength?: number }>;
  resourceTypes: string[];
  types: Record<string, number>;
  structs: RawStruct[];
  invariants: RawInvariant[];
  valueSets: { url: string; systems: [string, string[]][] }[];
  extensions: Record<string, { c: string[]; v: string[] }>;
  searchParams: Record<string, { t: string; b: string[] }>;
  skipped: { valueSets: Record<string, string>; bindings: string[] };
}

/** A required-binding value set, ready for lookups. */
export interface ValueSetRt {
  url: string;
  /** `system|code` */
  systemCodes: Set<string>;
  /** bare codes (for `code` elements, whose system is implied) */
  codes: Set<string>;
  systems: Set<string>;
}

/** Runtime invariant: the raw one plus a lazily compiled FHIRPath function. */
export interface InvariantRt extends RawInvariant {
  /** compiled fhirpath evaluator (compiled once, on first use or at construction when eager) */
  fn?: (node: unknown, env: Record<string, unknown>) => unknown[];
  /** set when the fhirpath package cannot evaluate the expression: the invariant is skipped */
  unsupported?: string;
}

/** Runtime element (one JSON key). */
export interface ElementRt {
  /** JSON key */
  n: string;
  /** `_{n}`: the key of a primitive's extension sibling (https://hl7.org/fhir/R4/json.html#primitive) */
  extKey: string;
  /** FHIR element name (choice base name for `value[x]` keys) */
  name: string;
  /** type name: primitive, datatype, `Resource`, or the backbone path */
  typeName: string;
  min: number;
  /** -1 = unbounded */
  max: number;
  array: boolean;
  choice?: string;
  prim?: string;
  struct?: StructRt;
  isResource: boolean;
  vs?: ValueSetRt;
  inv?: InvariantRt[];
  targets?: Set<string>;
  fixed?: string;
}

/** Runtime struct. */
export interface StructRt {
  name: string;
  kind: 'resource' | 'datatype' | 'backbone';
  path: string;
  byKey: Map<string, ElementRt>;
  /** non-choice elements with min >= 1 */
  required: ElementRt[];
  /** choice groups with min >= 1: [group name, keys] */
  requiredChoices: [string, string[]][];
  inv: InvariantRt[];
  domain: boolean;
  isExtension: boolean;
  isAttachment: boolean;
  isReference: boolean;
  isQuantity: boolean;
  isNarrative: boolean;
}

/** The linked runtime model. */
export interface ModelRt {
  raw: RawModel;
  resourceTypes: Set<string>;
  types: Map<string, StructRt>;
  primitives: RawModel['primitives'];
  invariants: InvariantRt[];
  extensions: Map<string, { c: string[]; v: Set<string> }>;
  searchParams: Record<string, { t: string; b: string[] }>;
}

/**
 * Links the raw model into runtime objects (a few milliseconds).
 * @param raw the parsed `generated/profile-model.json`
 */
export function linkModel(raw: RawModel): ModelRt {
  // every runtime invariant and element has all its fields, in one order (absent ones undefined): the validator reads
  // them at every node, and objects with optional keys added as found had dozens of hidden classes, which made those
  // reads megamorphic (V8 gave up caching them)
  const invariants: InvariantRt[] = raw.invariants.map((i) => ({ k: i.k, s: i.s, h: i.h, x: i.x, b: i.b, d: i.d, ir: i.ir, fn: undefined, unsupported: undefined }));
  const valueSets: ValueSetRt[] = raw.valueSets.map((v) => {
    const systemCodes = new Set<string>();
    const codes = new Set<string>();
    const systems = new Set<string>();
    for (const [system, cs] of v.systems) {
      systems.add(system);
      for (const c of cs) {
        systemCodes.add(`${system}|${c}`);
        codes.add(c);
      }
    }
    return { url: v.url, systemCodes, codes, systems };
  });
  const structs: StructRt[] = raw.structs.map((s) => ({
    name: s.name,
    kind: s.kind,
    path: s.path,
    byKey: new Map(),
    required: [],
    requiredChoices: [],
    inv: s.inv.map((i) => invariants[i]),
    domain: s.domain === 1,
    isExtension: s.name === 'Extension',
    isAttachment: s.name === 'Attachment',
    isReference: s.name === 'Reference',
    isQuantity: s.path === 'Quantity',
    isNarrative: s.name === 'Narrative',
  }));
  raw.structs.forEach((s, idx) => {
    const st = structs[idx];
    const choiceMin = new Map<string, string[]>();
    for (const e of s.elements) {
      const isResource = e.t === 'Resource';
      let struct: StructRt | undefined;
      if (!e.p && typeof e.t === 'number') struct = structs[e.t];
      else if (!e.p && !isResource) {
        const t = raw.types[e.t];
        if (t === undefined) throw new Error(`profile model: unknown type ${e.t} in ${s.path}.${e.n}`);
        struct = structs[t];
      }
      const el: ElementRt = {
        n: e.n,
        extKey: `_${e.n}`,
        name: e.c ?? e.n,
        typeName: typeof e.t === 'number' ? raw.structs[e.t].path : e.t,
        min: e.min,
        max: e.max,
        array: e.a === 1,
        choice: e.c || undefined,
        prim: e.p ? (e.t as string) : undefined,
        struct,
        isResource,
        vs: e.vs !== undefined ? valueSets[e.vs] : undefined,
        inv: e.i ? e.i.map((i) => invariants[i]) : undefined,
        targets: e.r ? new Set(e.r) : undefined,
        fixed: e.fixed,
      };
      st.byKey.set(e.n, el);
      if (e.min >= 1) {
        if (e.c) {
          if (!choiceMin.has(e.c)) choiceMin.set(e.c, []);
          choiceMin.get(e.c)!.push(e.n);
        } else st.required.push(el);
      }
    }
    st.requiredChoices = [...choiceMin];
  });
  const types = new Map<string, StructRt>();
  for (const [name, idx] of Object.entries(raw.types)) types.set(name, structs[idx]);
  const extensions = new Map<string, { c: string[]; v: Set<string> }>();
  for (const [url, e] of Object.entries(raw.extensions)) extensions.set(url, { c: e.c, v: new Set(e.v) });
  return {
    raw,
    resourceTypes: new Set(raw.resourceTypes),
    types,
    primitives: raw.primitives,
    invariants,
    extensions,
    searchParams: raw.searchParams,
  };
}
