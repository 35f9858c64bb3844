// Build step: compiles the official FHIR R4 (4.0.1) StructureDefinitions (snapshots in the
// hl7.fhir.r4.examples package) ONCE, ahead of time, into a compact model that
// src/fhir/validation/profile.ts walks per request: generated/profile-model.json.
//
// Per resource type and complex datatype it records, per JSON property: cardinality, JSON array-ness,
// the type (primitive, complex, inline backbone, `Resource`), choice group (`value[x]`), reference
// targets, the required binding (codes from hl7.fhir.r4.expansions, or from enumerable CodeSystems),
// and the invariants (FHIRPath) with a small pre-analysed form ("fast IR") that the runtime evaluates
// directly over JSON when it can, falling back to the `fhirpath` package otherwise.
// It also records the R4 primitive regexes, the core extension definitions (context and value types)
// and the core SearchParameters (url -> type and base), for a few reference-validator business rules.
//
// Usage: node scripts/gen-profile-validator.mjs [--force]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'generated', 'profile-model.json');
const examplesDir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
const expansionsDir = path.dirname(require.resolve('hl7.fhir.r4.expansions/package.json'));

const upToDate = () => {
  try {
    const o = fs.statSync(out).mtimeMs;
    return (
      o > fs.statSync(fileURLToPath(import.meta.url)).mtimeMs &&
      o > fs.statSync(path.join(examplesDir, 'package.json')).mtimeMs &&
      o > fs.statSync(path.join(expansionsDir, 'package.json')).mtimeMs
    );
  } catch {
    return false;
  }
};
if (upToDate() && !process.argv.includes('--force')) {
  console.log('profile validator model: up to date');
  process.exit(0);
}

const fhirpath = require('fhirpath');
const t0 = Date.now();
const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));

// ---------------------------------------------------------------------------------------------
// 1. Load StructureDefinitions
// ---------------------------------------------------------------------------------------------
const files = fs.readdirSync(examplesDir);
const sdByUrl = new Map();
for (const f of files) {
  if (!f.startsWith('StructureDefinition-') || !f.endsWith('.json')) continue;
  const sd = readJson(path.join(examplesDir, f));
  if (sd.resourceType === 'StructureDefinition') sdByUrl.set(sd.url, sd);
}
const sds = [...sdByUrl.values()];
const isCore = (sd) => sd.url.startsWith('http://hl7.org/fhir/StructureDefinition/');
const primitiveSds = sds.filter((s) => s.kind === 'primitive-type' && s.derivation === 'specialization');
const complexSds = sds.filter((s) => s.kind === 'complex-type' && (s.derivation === 'specialization' || s.type === 'Element') && isCore(s));
const resourceSds = sds.filter((s) => s.kind === 'resource' && s.derivation === 'specialization' && isCore(s));
// Constraint profiles on Quantity that are used as type codes (Age, Count, Distance, Duration, SimpleQuantity, MoneyQuantity).
const quantityProfiles = sds.filter((s) => s.kind === 'complex-type' && s.derivation === 'constraint' && s.type === 'Quantity');

// ---------------------------------------------------------------------------------------------
// 2. Primitives: JSON type and the R4 regex (from the `.value` element's regex extension)
// ---------------------------------------------------------------------------------------------
const NUMBER_PRIMS = new Set(['integer', 'decimal', 'positiveInt', 'unsignedInt']);
const primitives = {};
for (const sd of primitiveSds) {
  const v = sd.snapshot.element.find((e) => e.path === `${sd.type}.value`);
  const ext = v?.type?.[0]?.extension ?? [];
  const regex = ext.find((x) => x.url === 'http://hl7.org/fhir/StructureDefinition/regex')?.valueString;
  primitives[sd.type] = {
    json: sd.type === 'boolean' ? 'boolean' : NUMBER_PRIMS.has(sd.type) ? 'number' : 'string',
    ...(regex ? { regex } : {}),
    ...(v?.maxLength ? { maxLength: v.maxLength } : {}),
  };
}
const isPrimitive = (t) => Object.prototype.hasOwnProperty.call(primitives, t);

// ---------------------------------------------------------------------------------------------
// 3. Value sets for required bindings
// ---------------------------------------------------------------------------------------------
const valueSets = []; // { url, systems: [[system, codes[]]] }
const vsIndex = new Map(); // url -> index | -1 (not enumerable)
const skippedValueSets = new Map(); // url -> reason
let codeSystemsByUrl;
function loadCodeSystems() {
  if (codeSystemsByUrl) return codeSystemsByUrl;
  codeSystemsByUrl = new Map();
  for (const f of files) {
    if (!f.startsWith('CodeSystem-')) continue;
    const cs = readJson(path.join(examplesDir, f));
    codeSystemsByUrl.set(cs.url, cs);
  }
  return codeSystemsByUrl;
}
function csCodes(cs) {
  const acc = [];
  const walk = (cs2) => {
    for (const c of cs2 ?? []) {
      acc.push(c.code);
      walk(c.concept);
    }
  };
  walk(cs.concept);
  return acc;
}
function readValueSetResource(url) {
  const id = url.split('/').pop();
  for (const dir of [expansionsDir, examplesDir]) {
    const f = path.join(dir, `ValueSet-${id}.json`);
    if (fs.existsSync(f)) {
      const vs = readJson(f);
      if (vs.url === url) return vs;
    }
  }
  return undefined;
}
/** Returns [[system, codes]] or a string reason why the value set is not enumerable here. */
function enumerate(url, depth = 0) {
  const vs = readValueSetResource(url);
  if (!vs) return 'value set not found in the R4 packages';
  const bySystem = new Map();
  const add = (system, code) => {
    if (!bySystem.has(system)) bySystem.set(system, new Set());
    bySystem.get(system).add(code);
  };
  if (vs.expansion && !(vs.expansion.parameter ?? []).some((p) => p.name === 'limitedExpansion')) {
    let n = 0;
    const walk = (cs) => {
      for (const c of cs ?? []) {
        if (c.code !== undefined) {
          add(c.system ?? '', c.code);
          n++;
        }
        walk(c.contains);
      }
    };
    walk(vs.expansion.contains);
    if (n > 0 && (vs.expansion.total === undefined || vs.expansion.total <= n)) return [...bySystem].map(([s, c]) => [s, [...c]]);
  }
  // No (usable) expansion: enumerate the compose when it only includes whole enumerable code systems or concept lists.
  if (!vs.compose) return 'no expansion and no compose';
  if (depth > 3) return 'value set nesting too deep';
  for (const inc of vs.compose.include ?? []) {
    if (inc.filter?.length) return `include of ${inc.system} uses a filter`;
    for (const nested of inc.valueSet ?? []) {
      const r = enumerate(nested.split('|')[0], depth + 1);
      if (typeof r === 'string') return `imports ${nested}: ${r}`;
      for (const [s, cs] of r) for (const c of cs) add(s, c);
    }
    if (!inc.system) continue;
    if (inc.concept?.length) {
      for (const c of inc.concept) add(inc.system, c.code);
      continue;
    }
    const cs = loadCodeSystems().get(inc.system);
    if (!cs) return `code system ${inc.system} is not in the R4 packages`;
    if (cs.content !== 'complete') return `code system ${inc.system} is not complete in the package (${cs.content})`;
    for (const c of csCodes(cs)) add(inc.system, c);
  }
  if ((vs.compose.exclude ?? []).length) return 'compose has excludes';
  if (!bySystem.size) return 'value set is empty';
  return [...bySystem].map(([s, c]) => [s, [...c]]);
}
function valueSetRef(canonical) {
  const url = canonical.split('|')[0];
  if (vsIndex.has(url)) return vsIndex.get(url);
  const r = enumerate(url);
  if (typeof r === 'string') {
    skippedValueSets.set(url, r);
    vsIndex.set(url, -1);
    return -1;
  }
  valueSets.push({ url, systems: r });
  vsIndex.set(url, valueSets.length - 1);
  return valueSets.length - 1;
}

// ---------------------------------------------------------------------------------------------
// 4. Structures
// ---------------------------------------------------------------------------------------------
// A struct is one JSON object shape: a resource, a complex datatype or an inline backbone element.
// struct: { name, kind: 'resource'|'datatype'|'backbone', path, elements: [], inv: [invariant idx], domain?: 1 }
// element: { n: jsonKey, t: type, min, max (-1 = *), a: 1 if JSON array, c?: choice group, vs?: valueset idx,
//            i?: [invariant idx], r?: [reference target types], p?: 1 if primitive, fixed? }
const structs = [];
const types = {}; // type name -> struct index
const invariants = [];
const invIndex = new Map();
const DIRECT = new Set(['ele-1', 'ext-1', 'dom-2', 'dom-3', 'dom-4', 'dom-5', 'dom-6', 'txt-1', 'txt-2', 'ref-1', 'per-1', 'bdl-7']);
const pendingIr = []; // [invariant index, struct index] compiled after all structs exist
const skippedBindings = [];
const SYSTEM_TYPES = {
  'http://hl7.org/fhirpath/System.String': 'string',
  'http://hl7.org/fhirpath/System.Boolean': 'boolean',
  'http://hl7.org/fhirpath/System.Integer': 'integer',
  'http://hl7.org/fhirpath/System.Decimal': 'decimal',
  'http://hl7.org/fhirpath/System.Date': 'date',
  'http://hl7.org/fhirpath/System.DateTime': 'dateTime',
  'http://hl7.org/fhirpath/System.Time': 'time',
};

function typeCode(t) {
  if (t.code.startsWith('http://hl7.org/fhirpath/System.')) {
    const fhirType = (t.extension ?? []).find((x) => x.url === 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type');
    return fhirType?.valueUrl ?? fhirType?.valueUri ?? SYSTEM_TYPES[t.code] ?? 'string';
  }
  if (t.code === 'Quantity' && t.profile?.length) {
    const p = sdByUrl.get(t.profile[0]);
    if (p && p.type === 'Quantity' && p.derivation === 'constraint') return p.name;
  }
  return t.code;
}
const upperFirst = (s) => s.charAt(0).toUpperCase() + s.slice(1);

// Known R4 expression defects, patched so that fhirpath agrees with the reference validator:
// que-7 `answer is Boolean` names the System type, but answer[x] is the FHIR `boolean` (fhirpath.js says false).
// que-12 says `count() > 2` while its text (and R5) say "more than one enableWhen": use `> 1`, as the reference validator does.
const EXPRESSION_FIXES = {
  'que-7': [/answer is Boolean/, 'answer is boolean'],
  'que-12': [/enableWhen\.count\(\) > 2/, 'enableWhen.count() > 1'],
};
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

for (const sd of complexSds) buildSd(sd, sd.type, 'datatype');
for (const sd of quantityProfiles) buildSd(sd, sd.name, 'datatype');
const resourceTypes = [];
for (const sd of resourceSds) {
  buildSd(sd, sd.type, 'resource');
  if (!sd.abstract) resourceTypes.push(sd.type);
}
resourceTypes.sort();

const resourceTypesAll = new Set(resourceSds.map((sd) => sd.type));
// ---------------------------------------------------------------------------------------------
// 5. Fast IR for invariants
// ---------------------------------------------------------------------------------------------
// IR nodes (JSON arrays), evaluated by src/fhir/validation/fastpath.ts over plain JSON:
//   ['this'] | ['child', src, keys[]] | ['fn', name, src, arg?] | ['and'|'or'|'xor'|'implies', a, b]
//   ['cmp', op, a, b] | ['add', a, b] | ['lit', v] | ['empty'] | ['unk']
// Types are tracked here (struct index, primitive name, or null = unknown) so navigation is resolved
// at build time; anything not supported becomes ['unk'] and the runtime falls back to fhirpath.
const UNK = ['unk'];
const EQ_PRIMS = new Set(['code', 'string', 'id', 'uri', 'url', 'canonical', 'boolean', 'integer', 'positiveInt', 'unsignedInt', 'markdown', 'oid', 'uuid']);

function strip(n) {
  while (n && (n.type === 'EntireExpression' || n.type === 'TermExpression') && n.children?.length === 1) n = n.children[0];
  return n;
}
function compileIr(expr, ctxType) {
  let ast;
  try {
    ast = fhirpath.parse(expr);
  } catch {
    return UNK;
  }
  const r = node(strip(ast), ctxType, ctxType);
  return r.ir;
}
// Returns { ir, type, kind: 'coll'|'bool'|'num' }
function node(n, thisType, ctxType) {
  n = strip(n);
  const unk = { ir: UNK, type: null, kind: 'coll' };
  if (!n) return unk;
  switch (n.type) {
    case 'ParenthesizedTerm':
      return node(n.children[0], thisType, ctxType);
    case 'InvocationTerm':
      return invocation(n.children[0], { ir: ['this'], type: thisType, kind: 'coll', isThis: true }, thisType, ctxType, true);
    case 'InvocationExpression': {
      const src = node(n.children[0], thisType, ctxType);
      return invocation(n.children[1], src, thisType, ctxType, false);
    }
    case 'ExternalConstantTerm': {
      const name = n.children[0]?.children?.[0]?.text;
      if (name !== 'resource' && name !== 'rootResource') return unk;
      // The context's root type is the resource the invariant is defined on (not for datatypes).
      const rootType = typeof ctxType === 'number' && structs[ctxType].kind !== 'datatype' ? types[structs[ctxType].path.split('.')[0]] : undefined;
      const t = rootType !== undefined && structs[rootType].kind === 'resource' && name === 'resource' ? rootType : null;
      return { ir: ['var', name], type: t, kind: 'coll' };
    }
    case 'LiteralTerm': {
      const lit = n.children[0];
      if (lit.type === 'StringLiteral') return { ir: ['lit', JSON.parse('"' + lit.text.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"') + '"')], type: 'string', kind: 'coll' };
      if (lit.type === 'NumberLiteral' && /^\d+$/.test(lit.text)) return { ir: ['lit', Number(lit.text)], type: 'integer', kind: 'num' };
      if (lit.type === 'BooleanLiteral') return { ir: ['lit', lit.text === 'true'], type: 'boolean', kind: 'bool' };
      if (lit.type === 'NullLiteral') return { ir: ['empty'], type: null, kind: 'coll' };
      return unk;
    }
    case 'AndExpression':
    case 'OrExpression':
    case 'ImpliesExpression': {
      const op = n.text;
      if (!['and', 'or', 'xor', 'implies'].includes(op)) return unk;
      const a = node(n.children[0], thisType, ctxType);
      const b = node(n.children[1], thisType, ctxType);
      return { ir: [op, a.ir, b.ir], type: 'boolean', kind: 'bool' };
    }
    case 'EqualityExpression':
    case 'InequalityExpression': {
      const op = n.text;
      if (!['=', '!=', '<', '<=', '>', '>='].includes(op)) return unk;
      const a = node(n.children[0], thisType, ctxType);
      const b = node(n.children[1], thisType, ctxType);
      const okType = (x) => x.kind === 'num' || (typeof x.type === 'string' && EQ_PRIMS.has(x.type));
      if (a.ir === UNK || b.ir === UNK || !okType(a) || !okType(b)) return { ir: UNK, type: 'boolean', kind: 'bool' };
      if (!['=', '!='].includes(op) && !(a.kind === 'num' && b.kind === 'num')) return { ir: UNK, type: 'boolean', kind: 'bool' };
      return { ir: ['cmp', op, a.ir, b.ir], type: 'boolean', kind: 'bool' };
    }
    case 'AdditiveExpression': {
      if (n.text !== '+') return unk;
      const a = node(n.children[0], thisType, ctxType);
      const b = node(n.children[1], thisType, ctxType);
      if (a.kind !== 'num' || b.kind !== 'num') return { ir: UNK, type: null, kind: 'num' };
      return { ir: ['add', a.ir, b.ir], type: 'integer', kind: 'num' };
    }
    default:
      return unk;
  }
}
function elementOf(type, name) {
  const s = typeof type === 'number' ? structs[type] : undefined;
  if (!s) return undefined;
  const els = s.elements.filter((e) => (e.c ?? e.n) === name);
  return els.length ? els : undefined;
}
function invocation(inv, src, thisType, ctxType, isFirst) {
  const unk = { ir: UNK, type: null, kind: 'coll' };
  inv = strip(inv);
  if (inv.type === 'ThisInvocation') return isFirst ? { ir: ['this'], type: thisType, kind: 'coll' } : unk;
  if (inv.type === 'MemberInvocation') {
    const name = inv.children[0].text.replace(/^`|`$/g, '');
    if (src.ir === UNK) return unk;
    // A leading type name (e.g. `Observation.status` on an Observation) selects the context itself.
    if (isFirst && typeof thisType === 'number' && structs[thisType].kind === 'resource' && structs[thisType].name === name) {
      return { ir: ['this'], type: thisType, kind: 'coll' };
    }
    const els = elementOf(src.type, name);
    if (!els) return unk;
    const keys = els.map((e) => e.n);
    const choicePrefix = els[0].c;
    const ts = [...new Set(els.map((e) => e.t))];
    let t = ts.length === 1 ? ts[0] : null;
    if (typeof t === 'string' && !isPrimitive(t) && t !== 'Resource') t = types[t] ?? null;
    const ir = choicePrefix && keys.length > 4 ? ['child', src.ir, keys, choicePrefix] : ['child', src.ir, keys];
    if (t === 'Resource') return { ir, type: null, kind: 'coll' };
    return { ir, type: t, kind: 'coll' };
  }
  if (inv.type === 'FunctionInvocation') {
    const fn = inv.children[0];
    const fname = fn.children[0].text;
    const params = fn.children[1]?.children ?? [];
    const b = (ir) => ({ ir, type: 'boolean', kind: 'bool' });
    if (src.ir === UNK) {
      return fname === 'count' ? { ir: UNK, type: 'integer', kind: 'num' } : ['exists', 'empty', 'not', 'hasValue', 'all', 'isDistinct'].includes(fname) ? b(UNK) : unk;
    }
    switch (fname) {
      case 'exists':
        if (params.length === 0) return b(['fn', 'exists', src.ir]);
        if (params.length === 1) return b(['fn', 'existsWhere', src.ir, node(params[0], src.type, ctxType).ir]);
        return b(UNK);
      case 'empty':
      case 'not':
      case 'hasValue':
        return params.length ? b(UNK) : b(['fn', fname, src.ir]);
      case 'count':
        return params.length ? unk : { ir: ['fn', 'count', src.ir], type: 'integer', kind: 'num' };
      case 'isDistinct':
        return params.length ? b(UNK) : b(['fn', 'isDistinct', src.ir]);
      case 'first':
        return params.length ? unk : { ir: ['fn', 'first', src.ir], type: src.type, kind: 'coll' };
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        if (params.length !== 1 || typeof src.type !== 'string' || !EQ_PRIMS.has(src.type)) return b(UNK);
        const a = node(params[0], thisType, ctxType);
        if (a.ir[0] !== 'lit' || typeof a.ir[1] !== 'string') return b(UNK);
        return b(['fn', fname, src.ir, a.ir]);
      }
      case 'is': {
        // resource type test, e.g. entry.first().resource.is(Composition)
        const typeName = strip(params[0])?.children?.[0]?.children?.[0]?.text ?? strip(params[0])?.text;
        if (params.length !== 1 || src.type !== null || !resourceTypesAll.has(typeName)) return b(UNK);
        return b(['fn', 'isResource', src.ir, typeName]);
      }
      case 'where':
        if (params.length !== 1) return unk;
        return { ir: ['fn', 'where', src.ir, node(params[0], src.type, ctxType).ir], type: src.type, kind: 'coll' };
      case 'all':
        if (params.length !== 1) return b(UNK);
        return b(['fn', 'all', src.ir, node(params[0], src.type, ctxType).ir]);
      default:
        return unk;
    }
  }
  return unk;
}
let irFull = 0;
let irPartial = 0;
let irNone = 0;
const hasUnk = (ir) => Array.isArray(ir) && (ir[0] === 'unk' || ir.some((x) => Array.isArray(x) && hasUnk(x)));
for (const [idx, structIdx] of pendingIr) {
  const inv = invariants[idx];
  let ctx = structIdx;
  if (ctx === null) {
    // element-level invariant on a non-backbone element: context type = the element's own type
    const p = inv.b.split('.');
    let s = types[p[0]];
    for (const seg of p.slice(1)) {
      const els = s === undefined ? undefined : elementOf(s, seg.replace('[x]', ''));
      const t = els && els.length === 1 ? els[0].t : undefined;
      s = typeof t === 'number' ? t : typeof t === 'string' && types[t] !== undefined ? types[t] : undefined;
    }
    ctx = s ?? null;
  }
  const ir = ctx === null ? UNK : compileIr(inv.x, ctx);
  if (ir[0] === 'unk') irNone++;
  else {
    inv.ir = ir;
    if (hasUnk(ir)) irPartial++;
    else irFull++;
  }
}
// Complex-type references in elements: keep type names as strings; the runtime maps them via `types`.

// ---------------------------------------------------------------------------------------------
// 6. Core extensions (context + value types) and core SearchParameters
// ---------------------------------------------------------------------------------------------
const extensions = {};
for (const sd of sds) {
  if (sd.type !== 'Extension' || sd.derivation !== 'constraint' || !isCore(sd) || !sd.snapshot) continue;
  const v = sd.snapshot.element.find((e) => e.path === 'Extension.value[x]' && !e.sliceName && !(e.id ?? '').includes(':'));
  const ctx = (sd.context ?? []).map((c) => (c.type === 'element' ? c.expression : c.type === 'extension' ? `ext:${c.expression}` : '*'));
  extensions[sd.url] = {
    c: ctx.includes('*') || ctx.length === 0 ? ['*'] : ctx,
    v: !v || v.max === '0' ? [] : (v.type ?? []).map(typeCode),
  };
}
const searchParams = {};
for (const f of files) {
  if (!f.startsWith('SearchParameter-')) continue;
  const sp = readJson(path.join(examplesDir, f));
  if (sp.resourceType !== 'SearchParameter' || !sp.url?.startsWith('http://hl7.org/fhir/SearchParameter/')) continue;
  searchParams[sp.url] = { t: sp.type, b: sp.base ?? [] };
}

// ---------------------------------------------------------------------------------------------
// 7. Write
// ---------------------------------------------------------------------------------------------
const model = {
  generatedBy: 'scripts/gen-profile-validator.mjs',
  fhirVersion: '4.0.1',
  primitives,
  resourceTypes,
  types,
  structs,
  invariants,
  valueSets,
  extensions,
  searchParams,
  skipped: {
    valueSets: Object.fromEntries(skippedValueSets),
    bindings: skippedBindings,
  },
};
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(model));
console.log(
  `profile validator model: ${resourceTypes.length} resource types, ${Object.keys(types).length} types, ${structs.length} structs, ` +
    `${invariants.length} invariants (fast IR: ${irFull} full, ${irPartial} partial, ${irNone} fhirpath only), ` +
    `${valueSets.length} value sets (${skippedValueSets.size} not enumerable), ${Object.keys(extensions).length} extensions, ` +
    `${Object.keys(searchParams).length} search params, ${(fs.statSync(out).size / 1e6).toFixed(2)} MB, ${Date.now() - t0} ms`,
);
