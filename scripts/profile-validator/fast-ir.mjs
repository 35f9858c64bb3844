// Fast IR for invariants (the profile validator model's pre-analysed form of FHIRPath expressions).
// IR nodes (JSON arrays), evaluated by src/fhir/validation/fastpath.ts over plain JSON:
//   ['this'] | ['child', src, keys[]] | ['fn', name, src, arg?] | ['and'|'or'|'xor'|'implies', a, b]
//   ['cmp', op, a, b] | ['add', a, b] | ['lit', v] | ['empty'] | ['unk']
// Types are tracked here (struct index, primitive name, or null = unknown) so navigation is resolved
// at build time; anything not supported becomes ['unk'] and the runtime falls back to fhirpath.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const UNK = ['unk'];
const EQ_PRIMS = new Set(['code', 'string', 'id', 'uri', 'url', 'canonical', 'boolean', 'integer', 'positiveInt', 'unsignedInt', 'markdown', 'oid', 'uuid']);

/** Unwraps single-child EntireExpression and TermExpression nodes of a fhirpath AST. */
function strip(n) {
  while (n && (n.type === 'EntireExpression' || n.type === 'TermExpression') && n.children?.length === 1) n = n.children[0];
  return n;
}
/** Whether an IR tree contains an `unk` node anywhere. */
const hasUnk = (ir) => Array.isArray(ir) && (ir[0] === 'unk' || ir.some((x) => Array.isArray(x) && hasUnk(x)));

/**
 * Compiles the fast IR of the pending invariants (those with an expression and no direct implementation) and
 * sets it on each invariant the IR supports, wholly or partly.
 * @param o.structs the model's structs (complete)
 * @param o.types type name -> struct index
 * @param o.invariants the model's invariants (`ir` is set on them)
 * @param o.pendingIr [invariant index, struct index or null] to compile
 * @param o.isPrimitive whether a type name is a primitive type
 * @param o.resourceTypesAll every resource type name, abstract ones included
 * @returns how many invariants got a full IR, a partial one (with `unk` parts), or none (fhirpath only)
 */
export function compileFastIr({ structs, types, invariants, pendingIr, isPrimitive, resourceTypesAll }) {
  const fhirpath = require('fhirpath');
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
  return { irFull, irPartial, irNone };
}
