// Structures of the profile validator model. A struct is one JSON object shape: a resource, a complex datatype
// or an inline backbone element.
// struct: { name, kind: 'resource'|'datatype'|'backbone', path, elements: [], inv: [invariant idx], domain?: 1 }
// element: { n: jsonKey, t: type, min, max (-1 = *), a: 1 if JSON array, c?: choice group, vs?: valueset idx,
//            i?: [invariant idx], r?: [reference target types], p?: 1 if primitive, fixed? }
const DIRECT = new Set(['ele-1', 'ext-1', 'dom-2', 'dom-3', 'dom-4', 'dom-5', 'dom-6', 'txt-1', 'txt-2', 'ref-1', 'per-1', 'bdl-7']);
const SYSTEM_TYPES = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

/**
 * The type code of an ElementDefinition type: the FHIR type of a System type, the profile name of a constrained
 * Quantity (e.g. SimpleQuantity), else its code.
 * @param sdByUrl the StructureDefinitions by canonical url
 */
export function typeCodeFor(sdByUrl) {
  return function typeCode(t) {
    if (t.code.startsWith('http://hl7.org/fhirpath/System.')) {
      const fhirType = (t.extension ?? []).find((x) => x.url === 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type');
      return fhirType?.valueUrl ?? fhirType?.valueUri ?? SYSTEM_TYPES[t.code] ?? 'string';
    }
    if (t.code === 'Quantity' && t.profile?.length) {
      const p = sdByUrl.get(t.profile[0]);
      if (p && p.type === 'Quantity' && p.derivation === 'constraint') return p.name;
    }
    return t.code;
  };
}
const upperFirst = (s) => s.charAt(0).toUpperCase() + s.slice(1);

// Known R4 expression defects, patched so that fhirpath agrees with the reference validator:
// que-7 `answer is Boolean` names the System type, but answer[x] is the FHIR `boolean` (fhirpath.js says false).
// que-12 says `count() > 2` while its text (and R5) say "more than one enableWhen": use `> 1`, as the reference validator does.
const EXPRESSION_FIXES = {
  'que-7': [/answer is Boolean/, 'answer is boolean'],
  'que-12': [/enableWhen\.count\(\) > 2/, 'enableWhen.count() > 1'],
};

/**
 * The structs and invariants of the model, built StructureDefinition by StructureDefinition with `buildSd`.
 * @param o.sdByUrl the StructureDefinitions by canonical url
 * @param o.isPrimitive whether a type name is a primitive type
 * @param o.valueSetRef the index of a bound value set in the model (-1 when not enumerable)
 * @param o.skippedValueSets url -> why a value set is not enumerable
 * @returns `structs`, `types` (type name -> struct index), `invariants`, `pendingIr` ([invariant index, struct
 *   index] whose fast IR is compiled after all structs exist), `skippedBindings` and `buildSd`
 */
export function createStructures({ sdByUrl, isPrimitive, valueSetRef, skippedValueSets }) {
  const structs = [];
  const types = {}; // type name -> struct index
  const invariants = [];
  const invIndex = new Map();
  const pendingIr = []; // [invariant index, struct index] compiled after all structs exist
  const skippedBindings = [];
  const typeCode = typeCodeFor(sdByUrl);
  function addInvariant(c, basePath, structIdx) {
    const fix = EXPRESSION_FIXES[c.key];
    if (fix && c.expression) c = { ...c, expression: c.expression.replace(fix[0], fix[1]) };
    const id = DIRECT.has(c.key) ? c.key : `${c.key}|${basePath}|${c.expression}`;
    if (invIndex.has(id)) return invIndex.get(id);
    const inv = { k: c.key, s: c.severity === 'warning' ? 'warning' : 'error', h: c.human, x: c.expression, b: basePath };
    if (DIRECT.has(c.key)) inv.d = 1;
    invariants.push(inv);
    const idx = invariants.length - 1;
    invIndex.set(id, idx);
    if (!inv.d && c.expression) pendingIr.push([idx, structIdx]);
    return idx;
  }

  /**
   * Builds the structs of one StructureDefinition from its snapshot.
   * @param sd the StructureDefinition
   * @param name the type name the struct is registered under (e.g. 'Observation', 'SimpleQuantity')
   */
  function buildSd(sd, name, kind) {
    const elements = sd.snapshot.element.filter((e) => !e.sliceName && !(e.id ?? '').includes(':'));
    const rootPath = elements[0].path;
    const byPath = new Map(); // element path -> struct index (for backbone elements and the root)
    const rootIdx = structs.length;
    const rootStruct = { name, kind, path: rootPath, elements: [], inv: [] };
    structs.push(rootStruct);
    byPath.set(rootPath, rootIdx);
    types[name] = rootIdx;
    // Which element paths have children (=> inline structs)
    const hasChildren = new Set();
    for (const e of elements) {
      const p = e.path.split('.');
      if (p.length > 1) hasChildren.add(p.slice(0, -1).join('.'));
    }
    for (const c of elements[0].constraint ?? []) {
      if (c.key === 'ele-1') continue;
      rootStruct.inv.push(addInvariant(c, rootPath, rootIdx));
    }
    const contentRefs = [];
    for (const e of elements.slice(1)) {
      const p = e.path.split('.');
      const parentPath = p.slice(0, -1).join('.');
      const parentIdx = byPath.get(parentPath);
      if (parentIdx === undefined) throw new Error(`${sd.url}: no parent for ${e.path}`);
      const parent = structs[parentIdx];
      const last = p[p.length - 1];
      const max = e.max === '*' ? -1 : Number(e.max);
      const baseMax = e.base?.max ?? e.max;
      const isArray = baseMax !== '1' && baseMax !== '0';
      const inv = [];
      for (const c of e.constraint ?? []) {
        if (c.key === 'ele-1' || c.key === 'ext-1') continue;
        // element-level invariant: evaluated on each instance of the element
        inv.push(c);
      }
      let binding;
      if (e.binding?.strength === 'required' && e.binding.valueSet) binding = e.binding.valueSet;
      const base = { min: e.min ?? 0, max };
      if (isArray) base.a = 1;
      if (e.contentReference) {
        // e.g. Questionnaire.item.item -> #Questionnaire.item (resolved after all elements are seen)
        const el = { n: last, ...base, t: null };
        parent.elements.push(el);
        contentRefs.push([el, e.contentReference.slice(1)]);
        continue;
      }
      const typesOfE = (e.type ?? []).map(typeCode);
      // JSON names use the type code itself (Quantity), not the profile (SimpleQuantity)
      const keyCodes = (e.type ?? []).map((t) => (t.code.startsWith('http://hl7.org/fhirpath/System.') ? typeCode(t) : t.code));
      const isChoice = last.endsWith('[x]');
      let backboneIdx;
      if (!isChoice && hasChildren.has(e.path) && (typesOfE[0] === 'BackboneElement' || typesOfE[0] === 'Element')) {
        backboneIdx = structs.length;
        structs.push({ name: e.path, kind: 'backbone', path: e.path, elements: [], inv: [] });
        byPath.set(e.path, backboneIdx);
      }
      // Choice elements: an element-level invariant applies to the complex typed values, with the type as context
      const invIdx = isChoice ? [] : inv.map((c) => addInvariant(c, e.path, backboneIdx ?? null));
      if (backboneIdx !== undefined) {
        // backbone invariants evaluate with the backbone as context: keep them on the struct
        structs[backboneIdx].inv.push(...invIdx);
      }
      const baseName = isChoice ? last.slice(0, -3) : last;
      for (const [ti, t] of (isChoice ? typesOfE : [typesOfE[0]]).entries()) {
        const key = isChoice ? baseName + upperFirst(keyCodes[ti]) : baseName;
        let type = backboneIdx !== undefined ? backboneIdx : t;
        // R4 quirk: Resource.id is typed System.String(fhir-type string) in the snapshot; the spec says `id`.
        if (last === 'id' && parentIdx === rootIdx && kind === 'resource') type = 'id';
        const el = { n: key, ...base, t: type };
        if (isChoice) el.c = baseName;
        if (typeof type === 'string' && isPrimitive(type)) el.p = 1;
        if (backboneIdx === undefined && invIdx.length) el.i = invIdx;
        if (isChoice && inv.length && !isPrimitive(t)) el.i = inv.map((c) => addInvariant(c, t, null));
        if (t === 'Reference' || t === 'canonical') {
          const tgt = (e.type.find((x) => typeCode(x) === t)?.targetProfile ?? []).map((u) => u.split('/').pop());
          if (t === 'Reference' && tgt.length && !tgt.includes('Resource')) el.r = tgt;
        }
        if (binding && ['code', 'Coding', 'CodeableConcept'].includes(t)) {
          const vs = valueSetRef(binding);
          if (vs >= 0) el.vs = vs;
          else skippedBindings.push(`${e.path} -> ${binding} (${skippedValueSets.get(binding.split('|')[0])})`);
        } else if (binding) {
          skippedBindings.push(`${e.path} -> ${binding} (type ${t} not checked)`);
        }
        if (e.fixedUri !== undefined) el.fixed = e.fixedUri;
        parent.elements.push(el);
      }
    }
    for (const [el, refPath] of contentRefs) {
      const idx = byPath.get(refPath);
      if (idx === undefined) throw new Error(`${sd.url}: contentReference ${refPath} not found`);
      el.t = idx;
    }
    if (kind === 'resource') {
      let b = sd;
      while (b && b.baseDefinition) {
        if (b.baseDefinition === 'http://hl7.org/fhir/StructureDefinition/DomainResource') rootStruct.domain = 1;
        b = sdByUrl.get(b.baseDefinition);
      }
    }
    return rootIdx;
  }
  return { structs, types, invariants, pendingIr, skippedBindings, buildSd };
}
