/**
 * Direct accessors: plain JavaScript functions generated, at compile time, for the FHIRPath expressions
 * whose meaning is a simple walk over the JSON (the bulk of any mart view: `id`, `status`,
 * `subject.getReferenceKey(Patient)`, `code.coding.first().code`, `value.ofType(Quantity).value`).
 *
 * The expression is parsed by fhirpath's own parser; this module only recognises a small, safe subset of
 * its parse tree and checks every member against the FHIR R4 model that fhirpath ships, so that the
 * accessor returns exactly what fhirpath would:
 *
 * - member navigation on a known complex type (never on a primitive, never a choice element without
 *   `ofType`, never an unknown element or a type name such as `Patient.`);
 * - `choice.ofType(T)` where `T` is one of the element's declared types (reads `choiceT`);
 * - `[n]`, `first()`, `exists()`, `empty()`, `count()`, `$this`, string and boolean literals,
 *   `%rowIndex` and string or boolean constants;
 * - `where(path = 'literal')` on string-typed paths and `where(path = true|false)` on boolean ones;
 * - on a single string (or date/time, whose JSON is its string form): `toString()`, `substring(n[, m])`,
 *   `toInteger()`, `replaceMatches('regex', 'text')` — with fhirpath.js's own semantics (e.g. the `gu` regex flags);
 * - `a and b`, `a or b` over single booleans (three-valued, as fhirpath's `andOp` / `orOp`);
 * - `getResourceKey()` on the view's resource and `getReferenceKey([Type])` on a `Reference`;
 * - `a | b` when both sides are direct.
 *
 * Whenever the data make an exact answer uncertain (a primitive with a `_element` sibling carrying
 * extensions, a `null` inside an array, a union or equality over several values) the accessor returns
 * {@link FALLBACK} and the caller evaluates the compiled fhirpath function instead.
 *
 * This module compiles (steps, `where`, logic, unions); `direct-parse-tree.ts` reads the parse tree,
 * `direct-elements.ts` looks elements up in the R4 model and `direct-walkers.ts` holds the run-time pieces.
 *
 * @see https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html
 */
import { constantName, referenceKeys, resourceKeys, type AstNode } from './fhirpath';
import { booleanLiteral, chain, fnParts, identifier, intLiteral, stringLiteral } from './direct-parse-tree';
import { isPrimitiveType, isRepeating, lookupElement } from './direct-elements';
import { FALLBACK, member, onString, pipeline, scalarWalker, type DirectFn, type Op, type ScalarStep } from './direct-walkers';

export { FALLBACK };
export type { DirectFn };

/** A compiled direct accessor with the static FHIR type of what it returns. */
export interface DirectExpr {
  fn: DirectFn;
  /** Type of the result items: a type name (`CodeableConcept`, `string`) or an element path (`Observation.component`). */
  type: string;
}

interface StepResult {
  op?: Op;
  state: State;
  scalar?: ScalarStep;
}

const STRINGISH = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'System.String']);
/** Types whose JSON value is their FHIRPath string form (so `toString()` is the identity). */
const STRING_FORM = new Set([...STRINGISH, 'date', 'dateTime', 'instant', 'time']);
/** fhirpath.js's pattern for `toInteger()` on strings. */
const INT = /^[+-]?\d+$/;

/** Compile-time context of the direct compiler. */
export interface DirectContext {
  /** The view's resource type (for `getResourceKey()`). */
  resourceType: string;
  /** Constants usable directly (string, number or boolean values only). */
  constants: ReadonlyMap<string, unknown>;
}

interface State {
  type: string;
  /** Set after a choice element, awaiting `ofType`. */
  choice?: { name: string; key: string; choices: string[] };
}

/** Compiles one chain step; returns the op and the new state, or undefined when not direct. */
function step(node: AstNode, state: State, first: boolean, ctx: DirectContext): StepResult | undefined {
  if (state.choice && !(node.type === 'FunctionInvocation' && node.text === 'ofType')) return undefined;
  switch (node.type) {
    case 'MemberInvocation': {
      const name = node.text ?? '';
      if (!/^[a-z][A-Za-z0-9_]*$/.test(name) || isPrimitiveType(state.type)) return undefined;
      const el = lookupElement(state.type, name);
      if (!el) return undefined;
      if (el.choices) return { state: { type: state.type, choice: { name, key: el.key, choices: el.choices } } };
      if (!el.type || el.type === 'Resource') return undefined;
      const primitive = isPrimitiveType(el.type);
      return {
        op: member(name, primitive),
        state: { type: el.type },
        scalar: { kind: 'field', field: name, primitive, repeating: isRepeating(el.key) },
      };
    }
    case 'ThisInvocation':
      return first ? { op: (input) => input, state } : undefined;
    case 'Index': {
      const lit = node.children?.[0];
      const text = lit ? chain(lit)?.[0] : undefined;
      if (text?.type !== 'LiteralTerm' || !/^\d+$/.test(text.text ?? '')) return undefined;
      const n = Number(text.text);
      return { op: (input) => (n < input.length ? [input[n]] : []), state, scalar: { kind: 'pick', n } };
    }
    case 'LiteralTerm': {
      if (!first) return undefined;
      const s = stringLiteral(node);
      if (s !== undefined) return { op: () => [s], state: { type: 'System.String' } };
      if (node.text === 'true' || node.text === 'false') {
        const b = node.text === 'true';
        return { op: () => [b], state: { type: 'System.Boolean' } };
      }
      return undefined;
    }
    case 'ExternalConstantTerm': {
      if (!first) return undefined;
      const name = constantName(node);
      if (name === 'rowIndex') return { op: (_i, rowIndex) => [rowIndex], state: { type: 'System.Integer' } };
      if (!ctx.constants.has(name)) return undefined;
      const v = ctx.constants.get(name);
      const t = typeof v === 'string' ? 'System.String' : typeof v === 'boolean' ? 'System.Boolean' : undefined;
      return t ? { op: () => [v], state: { type: t } } : undefined;
    }
    case 'FunctionInvocation':
      return functionStep(node, state, ctx);
    default:
      return undefined;
  }
}

function functionStep(node: AstNode, state: State, ctx: DirectContext): StepResult | undefined {
  const parts = fnParts(node);
  if (!parts) return undefined;
  const { name, params } = parts;
  switch (name) {
    case 'ofType': {
      const t = identifier(params[0]);
      const choice = state.choice;
      if (!t || !choice || params.length !== 1) return undefined;
      const suffix = t[0]!.toUpperCase() + t.slice(1);
      if (!choice.choices.includes(suffix)) return undefined;
      const el = lookupElement(state.type, choice.name + suffix);
      if (!el?.type || el.choices) return undefined;
      const field = choice.name + suffix;
      const primitive = isPrimitiveType(el.type);
      return {
        op: member(field, primitive),
        state: { type: el.type },
        scalar: { kind: 'field', field, primitive, repeating: isRepeating(el.key) },
      };
    }
    case 'first':
      return params.length === 0 ? { op: (input) => (input.length ? [input[0]] : []), state, scalar: { kind: 'pick', n: 0 } } : undefined;
    case 'exists':
      return params.length === 0 ? { op: (input) => [input.length > 0], state: { type: 'System.Boolean' } } : undefined;
    case 'empty':
      return params.length === 0 ? { op: (input) => [input.length === 0], state: { type: 'System.Boolean' } } : undefined;
    case 'count':
      return params.length === 0 ? { op: (input) => [input.length], state: { type: 'System.Integer' } } : undefined;
    case 'getResourceKey':
      return params.length === 0 && state.type === ctx.resourceType
        ? { op: (input) => resourceKeys(input), state: { type: 'System.String' }, scalar: { kind: 'reskey' } }
        : undefined;
    case 'getReferenceKey': {
      if (state.type !== 'Reference' || params.length > 1) return undefined;
      const t = params.length ? identifier(params[0]) : undefined;
      if (params.length && !t) return undefined;
      return { op: (input) => referenceKeys(input, t), state: { type: 'System.String' }, scalar: { kind: 'refkey', type: t } };
    }
    case 'where':
      return params.length === 1 ? whereStep(params[0]!, state, ctx) : undefined;
    case 'toString':
      return params.length === 0 && STRING_FORM.has(state.type)
        ? { op: onString((x) => [x]), state: { type: 'System.String' } }
        : undefined;
    case 'toInteger':
      return params.length === 0 && STRINGISH.has(state.type)
        ? { op: onString((x) => (INT.test(x) ? [parseInt(x, 10)] : [])), state: { type: 'System.Integer' } }
        : undefined;
    case 'substring': {
      const start = intLiteral(params[0]);
      const len = params.length === 2 ? intLiteral(params[1]) : undefined;
      if (!STRINGISH.has(state.type) || start === undefined || params.length > 2 || (params.length === 2 && len === undefined)) return undefined;
      const op = onString((x) => {
        if (start >= x.length) return [];
        return [len === undefined ? x.substring(start) : x.substring(start, start + len)];
      });
      return { op, state: { type: 'System.String' } };
    }
    case 'replaceMatches': {
      const regex = stringLiteral(params[0]);
      const repl = stringLiteral(params[1]);
      if (!STRINGISH.has(state.type) || params.length !== 2 || regex === undefined || repl === undefined) return undefined;
      let re: RegExp;
      try {
        re = new RegExp(regex, 'gu');
      } catch {
        return undefined;
      }
      return { op: onString((x) => [x.replace(re, repl)]), state: { type: 'System.String' } };
    }
    default:
      return undefined;
  }
}

/** `where(path = 'literal')` over string-typed paths, `where(path = true|false)` over boolean ones (either side). */
function whereStep(cond: AstNode, state: State, ctx: DirectContext): StepResult | undefined {
  const eq = cond.type === 'EntireExpression' ? cond.children?.[0] : cond;
  if (eq?.type !== 'EqualityExpression' || eq.text !== '=' || eq.children?.length !== 2) return undefined;
  const [l, r] = eq.children as [AstNode, AstNode];
  const litOf = (n: AstNode): string | boolean | undefined => stringLiteral(n) ?? booleanLiteral(n);
  const lit = litOf(r) ?? litOf(l);
  const pathNode = litOf(r) !== undefined ? l : r;
  if (lit === undefined) return undefined;
  const sub = compileNode(pathNode, state.type, ctx);
  const typeOk = typeof lit === 'string' ? STRINGISH.has(sub?.type ?? '') : sub?.type === 'boolean' || sub?.type === 'System.Boolean';
  if (!sub || !typeOk) return undefined;
  const test = sub.fn;
  return {
    op: (input, rowIndex) => {
      const out: unknown[] = [];
      for (const item of input) {
        const v = test(item, rowIndex);
        if (v === FALLBACK || v.length > 1) return FALLBACK;
        if (v.length === 1 && v[0] === lit) out.push(item);
      }
      return out;
    },
    state,
  };
}

function compileNode(node: AstNode, type: string, ctx: DirectContext): DirectExpr | undefined {
  let inner = node;
  while ((inner.type === 'EntireExpression' || inner.type === 'TermExpression') && inner.children?.length === 1) inner = inner.children[0]!;
  if (inner.type === 'UnionExpression') return union(inner, type, ctx);
  if ((inner.type === 'OrExpression' && inner.text === 'or') || (inner.type === 'AndExpression' && inner.text === 'and')) {
    return logical(inner, type, ctx);
  }
  const steps = chain(inner);
  if (!steps?.length) return undefined;
  let state: State = { type };
  const ops: Op[] = [];
  const scalars: (ScalarStep | undefined)[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = step(steps[i]!, state, i === 0, ctx);
    if (!s) return undefined;
    if (s.op) {
      ops.push(s.op);
      scalars.push(s.scalar);
    }
    state = s.state;
  }
  if (state.choice || !ops.length) return undefined;
  return { fn: scalarWalker(scalars) ?? pipeline(ops), type: state.type };
}

/** The single boolean of a result, `null` for empty, undefined when not a single boolean. */
function bool(r: unknown[]): boolean | null | undefined {
  if (r.length === 0) return null;
  return r.length === 1 && typeof r[0] === 'boolean' ? r[0] : undefined;
}

/** `a and b` / `a or b` over single booleans, with FHIRPath's three-valued logic (empty = unknown). */
function logical(node: AstNode, type: string, ctx: DirectContext): DirectExpr | undefined {
  const [l, r] = node.children ?? [];
  const a = l && compileNode(l, type, ctx);
  const b = r && compileNode(r, type, ctx);
  if (!a || !b) return undefined;
  const isOr = node.text === 'or';
  const fa = a.fn;
  const fb = b.fn;
  return {
    fn: (focus, rowIndex) => {
      const x = fa(focus, rowIndex);
      if (x === FALLBACK) return x;
      const y = fb(focus, rowIndex);
      if (y === FALLBACK) return y;
      const p = bool(x);
      const q = bool(y);
      if (p === undefined || q === undefined) return FALLBACK;
      if (isOr) {
        if (p === true || q === true) return [true];
        return p === false && q === false ? [false] : [];
      }
      if (p === false || q === false) return [false];
      return p === true && q === true ? [true] : [];
    },
    type: 'System.Boolean',
  };
}

/** `a | b`: exact when at most one value results (union removes duplicates by FHIRPath equality). */
function union(node: AstNode, type: string, ctx: DirectContext): DirectExpr | undefined {
  const [l, r] = node.children ?? [];
  const a = l && compileNode(l, type, ctx);
  const b = r && compileNode(r, type, ctx);
  if (!a || !b) return undefined;
  const fa = a.fn;
  const fb = b.fn;
  return {
    fn: (focus, rowIndex) => {
      const x = fa(focus, rowIndex);
      if (x === FALLBACK) return x;
      const y = fb(focus, rowIndex);
      if (y === FALLBACK) return y;
      if (x.length + y.length > 1) return FALLBACK;
      return x.length ? x : y;
    },
    type: a.type === b.type ? a.type : 'System.Any',
  };
}

/**
 * Compiles a parsed FHIRPath expression to a direct accessor, if it lies in the supported subset.
 * @param ast - fhirpath's parse tree of the expression.
 * @param type - static type of the input (resource type, type name or backbone element path).
 * @returns the accessor and its result type, or undefined when fhirpath must evaluate it.
 */
export function compileDirect(ast: AstNode, type: string, ctx: DirectContext): DirectExpr | undefined {
  return compileNode(ast, type, ctx);
}
