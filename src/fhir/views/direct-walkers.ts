/**
 * The run-time pieces of direct accessors (SQL on FHIR v2 ViewDefinition paths,
 * https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html): collection operations, and single-valued
 * walkers generated as JavaScript (or closures where code generation is disabled). Each returns {@link FALLBACK}
 * when the data make an exact answer uncertain, so the caller evaluates the fhirpath function instead.
 */
import { referenceKeys, resourceKeys } from './fhirpath';

/** Returned by a direct accessor when fhirpath must decide for this input. */
export const FALLBACK: unique symbol = Symbol('fhirpath-fallback');

/** A direct accessor: input focus and `%rowIndex` to the result collection, or {@link FALLBACK}. */
export type DirectFn = (focus: unknown, rowIndex: number) => unknown[] | typeof FALLBACK;

/** One step over a collection: input items and `%rowIndex` to the output, or {@link FALLBACK}. */
export type Op = (input: unknown[], rowIndex: number) => unknown[] | typeof FALLBACK;

/**
 * A step of a single-valued walk: read `field` (taking item `pick` when the element repeats), or a terminal
 * key function. Chains made only of these avoid the per-step collections of the general accessor.
 */
export type ScalarStep =
  | { kind: 'field'; field: string; primitive: boolean; repeating: boolean }
  | { kind: 'pick'; n: number }
  | { kind: 'refkey'; type?: string }
  | { kind: 'reskey' };

/** Applies `f` to a single string; empty stays empty; several items or a non-string defer to fhirpath. */
export function onString(f: (s: string) => unknown[]): Op {
  return (input) => {
    if (input.length === 0) return [];
    const v = input[0];
    if (input.length > 1 || typeof v !== 'string') return FALLBACK;
    return f(v);
  };
}

/** Navigates `field` on every item; FALLBACK when the data carry primitive extensions or nulls in arrays. */
export function member(field: string, primitive: boolean): Op {
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
export function scalarWalker(scalars: (ScalarStep | undefined)[]): DirectFn | undefined {
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

/** Chains collection operations into one accessor (unrolled for one and two steps). */
export function pipeline(ops: Op[]): DirectFn {
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
