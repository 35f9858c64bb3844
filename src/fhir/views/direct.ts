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
 */
import { constantName, model, referenceKeys, resourceKeys, type AstNode } from './fhirpath';

/** Returned by a direct accessor when fhirpath must decide for this input. */
export const FALLBACK: unique symbol = Symbol('fhirpath-fallback');

/** A direct accessor: input focus and `%rowIndex` to the result collection, or {@link FALLBACK}. */
export type DirectFn = (focus: unknown, rowIndex: number) => unknown[] | typeof FALLBACK;

/** A compiled direct accessor with the static FHIR type of what it returns. */
export interface DirectExpr {
  fn: DirectFn;
  /** Type of the result items: a type name (`CodeableConcept`, `string`) or an element path (`Observation.component`). */
  type: string;
}

type Op = (input: unknown[], rowIndex: number) => unknown[] | typeof FALLBACK;

/**
 * A step of a single-valued walk: read `field` (taking item `pick` when the element repeats), or a terminal
 * key function. Chains made only of these avoid the per-step collections of the general accessor.
 */
type ScalarStep =
  | { kind: 'field'; field: string; primitive: boolean; repeating: boolean }
  | { kind: 'pick'; n: number }
  | { kind: 'refkey'; type?: string }
  | { kind: 'reskey' };

interface StepResult {
  op?: Op;
  state: State;
  scalar?: ScalarStep;
}

const path2Type = model.path2Type as unknown as Record<string, string | { code: string }>;
const choiceTypePaths = model.choiceTypePaths;
const type2Parent = model.type2Parent;
const pathsDefinedElsewhere = model.pathsDefinedElsewhere;
const path2Repeating = model.path2Repeating;
const elsewhereKeys = Object.keys(pathsDefinedElsewhere);

const STRINGISH = new Set(['string', 'code', 'id', 'uri', 'url', 'canonical', 'oid', 'uuid', 'markdown', 'System.String']);
/** Types whose JSON value is their FHIRPath string form (so `toString()` is the identity). */
const STRING_FORM = new Set([...STRINGISH, 'date', 'dateTime', 'instant', 'time']);
/** fhirpath.js's pattern for `toInteger()` on strings. */
const INT = /^[+-]?\d+$/;

/** Applies `f` to a single string; empty stays empty; several items or a non-string defer to fhirpath. */
function onString(f: (s: string) => unknown[]): Op {
  return (input) => {
    if (input.length === 0) return [];
    const v = input[0];
    if (input.length > 1 || typeof v !== 'string') return FALLBACK;
    return f(v);
  };
}

/** An integer literal parameter, or undefined. */
function intLiteral(node: AstNode | undefined): number | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  return lit?.type === 'LiteralTerm' && /^\d+$/.test(lit.text ?? '') ? Number(lit.text) : undefined;
}

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

interface Element {
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

/** Navigates `field` on every item; FALLBACK when the data carry primitive extensions or nulls in arrays. */
function member(field: string, primitive: boolean): Op {
  const shadow = '_' + field;
  return (input) => {
    const out: unknown[] = [];
    for (let i = 0; i < input.length; i++) {
      const x = input[i] as Record<string, unknown>;
      if (x === null || typeof x !== 'object') return FALLBACK;
      if (primitive && x[shadow] !== undefined) return FALLBACK;
      const v = x[field];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v)) {
        for (let j = 0; j < v.length; j++) {
          const y: unknown = v[j];
          if (y === null || y === undefined) return FALLBACK;
          out.push(y);
        }
      } else out.push(v);
    }
    return out;
  };
}

/** Linearises an invocation chain (`a.b[0].f()`) into its steps, or undefined for other shapes. */
function chain(node: AstNode): AstNode[] | undefined {
  switch (node.type) {
    case 'EntireExpression':
    case 'TermExpression':
    case 'InvocationTerm':
      return node.children?.length === 1 ? chain(node.children[0]!) : undefined;
    case 'InvocationExpression': {
      const [a, b] = node.children ?? [];
      const head = a ? chain(a) : undefined;
      return head && b ? [...head, b] : undefined;
    }
    case 'IndexerExpression': {
      const [a, idx] = node.children ?? [];
      const head = a ? chain(a) : undefined;
      return head && idx ? [...head, { type: 'Index', children: [idx] }] : undefined;
    }
    default:
      return [node];
  }
}

/** The simple identifier a node is (a type specifier or member name), or undefined. */
function identifier(node: AstNode | undefined): string | undefined {
  const steps = node ? chain(node) : undefined;
  if (steps?.length !== 1 || steps[0]!.type !== 'MemberInvocation') return undefined;
  const text = steps[0]!.text ?? '';
  return /^[A-Za-z][A-Za-z0-9_]*$/.test(text) ? text : undefined;
}

/** Value of a string literal node without escapes, or undefined. */
function stringLiteral(node: AstNode | undefined): string | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  if (lit?.type !== 'LiteralTerm' || lit.children?.[0]?.type !== 'StringLiteral') return undefined;
  const text = lit.text ?? '';
  if (!text.startsWith("'") || !text.endsWith("'") || text.includes('\\')) return undefined;
  return text.slice(1, -1);
}

function fnParts(node: AstNode): { name: string; params: AstNode[] } | undefined {
  const f = node.children?.[0];
  if (node.type !== 'FunctionInvocation' || f?.type !== 'Functn') return undefined;
  const params = f.children?.[1]?.children ?? [];
  return { name: node.text ?? '', params };
}

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
        scalar: { kind: 'field', field: name, primitive, repeating: el.key in path2Repeating },
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
        scalar: { kind: 'field', field, primitive, repeating: el.key in path2Repeating },
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

/** A boolean literal node's value, or undefined. */
function booleanLiteral(node: AstNode | undefined): boolean | undefined {
  const steps = node ? chain(node) : undefined;
  const lit = steps?.length === 1 ? steps[0] : undefined;
  if (lit?.type !== 'LiteralTerm' || lit.children?.[0]?.type !== 'BooleanLiteral') return undefined;
  return lit.text === 'true';
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

interface WalkStep {
  field: string;
  shadow: string;
  primitive: boolean;
  /** Item to take from a repeating element; -1 when the element does not repeat. */
  pick: number;
}

/**
 * A single-valued walk (`code.coding.first().code`, `subject.getReferenceKey(Patient)`): every repeating element
 * is immediately narrowed by `first()` / `[n]`, so at most one value flows. Undefined when the chain is not of
 * that form. Data that contradict the model (an array where one value is expected, or the reverse), nulls in
 * arrays and primitive extensions give {@link FALLBACK}.
 */
function scalarWalker(scalars: (ScalarStep | undefined)[]): DirectFn | undefined {
  const walk: WalkStep[] = [];
  let terminal: ScalarStep | undefined;
  for (let i = 0; i < scalars.length; i++) {
    const s = scalars[i];
    if (!s || terminal) return undefined;
    if (s.kind === 'field') {
      if (!s.repeating) {
        walk.push({ field: s.field, shadow: '_' + s.field, primitive: s.primitive, pick: -1 });
        continue;
      }
      const next = scalars[i + 1];
      if (next?.kind !== 'pick') return undefined;
      walk.push({ field: s.field, shadow: '_' + s.field, primitive: s.primitive, pick: next.n });
      i++;
    } else if (s.kind === 'pick') {
      // first() of a single value is that value; [n > 0] of it is empty: leave those to the general accessor.
      if (s.n !== 0 || walk.length === 0) return undefined;
    } else {
      terminal = s;
    }
  }
  if (walk.length === 0 && terminal?.kind !== 'reskey') return undefined;
  const refType = terminal?.kind === 'refkey' ? terminal.type : undefined;
  return generatedWalker(walk, terminal, refType) ?? closureWalker(walk, terminal, refType);
}

/**
 * The walker as generated JavaScript: one property read per step at its own site, so V8 keeps each site's
 * inline cache small (a loop over field names makes every read megamorphic and costs about twice as much).
 * Field names come from the FHIR model and match `^[A-Za-z0-9_]+$`; they are emitted as JSON string literals.
 * Returns undefined where code generation from strings is disabled.
 */
function generatedWalker(walk: WalkStep[], terminal: ScalarStep | undefined, refType: string | undefined): DirectFn | undefined {
  if (!walk.every((w) => /^[A-Za-z0-9_]+$/.test(w.field))) return undefined;
  const lines: string[] = ['let x = focus, v;'];
  for (const w of walk) {
    lines.push("if (x === null || typeof x !== 'object' || Array.isArray(x)) return FALLBACK;");
    if (w.primitive) lines.push(`if (x[${JSON.stringify(w.shadow)}] !== undefined) return FALLBACK;`);
    lines.push(`v = x[${JSON.stringify(w.field)}];`, 'if (v === undefined || v === null) return [];');
    if (w.pick >= 0) {
      lines.push(
        'if (!Array.isArray(v)) return FALLBACK;',
        `for (let j = 0; j <= ${w.pick} && j < v.length; j++) if (v[j] === null || v[j] === undefined) return FALLBACK;`,
        `if (${w.pick} >= v.length) return [];`,
        `v = v[${w.pick}];`,
      );
    } else lines.push('if (Array.isArray(v)) return FALLBACK;');
    lines.push('x = v;');
  }
  if (terminal === undefined) lines.push('return [x];');
  else if (terminal.kind === 'refkey') lines.push('return referenceKeys([x], refType);');
  else lines.push('return resourceKeys([x]);');
  try {
    const factory = new Function('FALLBACK', 'referenceKeys', 'resourceKeys', 'refType', `return function walk(focus) {\n${lines.join('\n')}\n};`);
    return factory(FALLBACK, referenceKeys, resourceKeys, refType) as DirectFn;
  } catch {
    return undefined;
  }
}

/** The same walker as a closure (used where code generation is unavailable). */
function closureWalker(walk: WalkStep[], terminal: ScalarStep | undefined, refType: string | undefined): DirectFn {
  const n = walk.length;
  return (focus) => {
    let x: unknown = focus;
    for (let i = 0; i < n; i++) {
      if (x === null || typeof x !== 'object' || Array.isArray(x)) return FALLBACK;
      const w = walk[i]!;
      const o = x as Record<string, unknown>;
      if (w.primitive && o[w.shadow] !== undefined) return FALLBACK;
      let v = o[w.field];
      if (v === undefined || v === null) return [];
      if (w.pick >= 0) {
        if (!Array.isArray(v)) return FALLBACK;
        for (let j = 0; j <= w.pick && j < v.length; j++) if (v[j] === null || v[j] === undefined) return FALLBACK;
        if (w.pick >= v.length) return [];
        v = v[w.pick];
      } else if (Array.isArray(v)) return FALLBACK;
      x = v;
    }
    if (terminal === undefined) return [x];
    return terminal.kind === 'refkey' ? referenceKeys([x], refType) : resourceKeys([x]);
  };
}

function pipeline(ops: Op[]): DirectFn {
  if (ops.length === 1) {
    const [a] = ops as [Op];
    return (focus, rowIndex) => a([focus], rowIndex);
  }
  if (ops.length === 2) {
    const [a, b] = ops as [Op, Op];
    return (focus, rowIndex) => {
      const r = a([focus], rowIndex);
      return r === FALLBACK ? r : b(r, rowIndex);
    };
  }
  return (focus, rowIndex) => {
    let r: unknown[] | typeof FALLBACK = [focus];
    for (let i = 0; i < ops.length; i++) {
      r = ops[i]!(r, rowIndex);
      if (r === FALLBACK) return r;
    }
    return r;
  };
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
