/**
 * Evaluation of FHIRPath invariants.
 *
 * The generator pre-analyses each invariant into a small IR covering the subset most R4 invariants use
 * (navigation, `exists()`, `empty()`, `not()`, `count()`, `hasValue()`, `where()`, `all()`,
 * `isDistinct()`, boolean logic, simple comparisons). {@link evalIr} evaluates that IR directly over the
 * JSON with FHIRPath's three-valued logic and returns {@link UNKNOWN} whenever a part outside the subset
 * would decide the result (short-circuits such as `dataAbsentReason.empty() or ...` are decided without
 * it). Only then is the HL7 `fhirpath` package called, with an expression compiled once
 * ({@link FhirPathRunner}). Tests check that both paths agree on every invariant of the example corpus.
 */
import type { InvariantRt, IrNode } from './model';

/** Marker: the fast path cannot decide; fall back to the fhirpath package. */
export const UNKNOWN: unique symbol = Symbol('unknown');
type Coll = unknown[];
type Res = Coll | typeof UNKNOWN;

/** A primitive that has only an extension (`_birthDate` without `birthDate`): exists, but has no value. */
const EXT_ONLY = Object.freeze({ __extOnly: true });

/** `%resource` / `%rootResource` for an evaluation. */
export interface IrEnv {
  resource: unknown;
  rootResource: unknown;
}

/** `_key` of each of an IR node's keys (the primitive's extension sibling), made once per key list, not per node visited. */
const EXT_KEYS = new WeakMap<string[], string[]>();
function extKeysOf(keys: string[]): string[] {
  let ext = EXT_KEYS.get(keys);
  if (ext === undefined) EXT_KEYS.set(keys, (ext = keys.map((k) => `_${k}`)));
  return ext;
}

function child(src: Coll, keys: string[], prefix?: string): Coll {
  const out: unknown[] = [];
  const fixedExt = prefix === undefined ? extKeysOf(keys) : undefined;
  for (const item of src) {
    if (item === null || typeof item !== 'object' || item === EXT_ONLY) continue;
    const o = item as Record<string, unknown>;
    let ks = keys;
    if (prefix !== undefined) {
      // choice element with many typed names: scan the object's own keys instead
      ks = [];
      for (const k in o) {
        const bare = k.charCodeAt(0) === 95 ? k.slice(1) : k;
        if (bare.startsWith(prefix) && keys.includes(bare) && !ks.includes(bare)) ks.push(bare);
      }
    }
    for (let j = 0; j < ks.length; j++) {
      const k = ks[j]!;
      const extKey = fixedExt !== undefined ? fixedExt[j]! : `_${k}`;
      const v = o[k];
      if (v === undefined) {
        const ext = o[extKey];
        if (ext !== undefined && ext !== null) {
          if (Array.isArray(ext)) {
            for (const e of ext) if (e !== null) out.push(EXT_ONLY);
          } else out.push(EXT_ONLY);
        }
        continue;
      }
      if (Array.isArray(v)) {
        const ext = o[extKey];
        for (let i = 0; i < v.length; i++) {
          const x = v[i];
          if (x === null || x === undefined) {
            if (Array.isArray(ext) && ext[i] !== null && ext[i] !== undefined) out.push(EXT_ONLY);
          } else out.push(x);
        }
      } else if (v !== null) out.push(v);
    }
  }
  return out;
}

/** Singleton boolean of a collection: true/false, null for empty, UNKNOWN otherwise. */
function toBool(r: Res): boolean | null | typeof UNKNOWN {
  if (r === UNKNOWN) return UNKNOWN;
  if (r.length === 0) return null;
  if (r.length === 1 && typeof r[0] === 'boolean') return r[0];
  return UNKNOWN;
}
const T: Coll = [true];
const F: Coll = [false];
const E: Coll = [];
const fromBool = (b: boolean | null): Coll => (b === null ? E : b ? T : F);

/**
 * Evaluates an IR node against a context item.
 * @param ir the IR node
 * @param self the context item (`$this`)
 */
export function evalIr(ir: IrNode, self: unknown, env: IrEnv): Res {
  switch (ir[0]) {
    case 'this':
      return [self];
    case 'var':
      return [ir[1] === 'resource' ? env.resource : env.rootResource];
    case 'lit':
      return [ir[1]];
    case 'empty':
      return E;
    case 'unk':
      return UNKNOWN;
    case 'child': {
      const src = evalIr(ir[1] as IrNode, self, env);
      return src === UNKNOWN ? UNKNOWN : child(src, ir[2] as string[], ir[3] as string | undefined);
    }
    case 'and': {
      const a = toBool(evalIr(ir[1] as IrNode, self, env));
      if (a === false) return F;
      const b = toBool(evalIr(ir[2] as IrNode, self, env));
      if (b === false) return F;
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      return a === true && b === true ? T : E;
    }
    case 'or': {
      const a = toBool(evalIr(ir[1] as IrNode, self, env));
      if (a === true) return T;
      const b = toBool(evalIr(ir[2] as IrNode, self, env));
      if (b === true) return T;
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      return a === false && b === false ? F : E;
    }
    case 'xor': {
      const a = toBool(evalIr(ir[1] as IrNode, self, env));
      const b = toBool(evalIr(ir[2] as IrNode, self, env));
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      if (a === null || b === null) return E;
      return fromBool(a !== b);
    }
    case 'implies': {
      const a = toBool(evalIr(ir[1] as IrNode, self, env));
      if (a === false) return T;
      const b = toBool(evalIr(ir[2] as IrNode, self, env));
      if (b === true) return T;
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      if (a === true) return fromBool(b);
      return E; // a empty, b false or empty
    }
    case 'cmp': {
      const a = evalIr(ir[2] as IrNode, self, env);
      const b = evalIr(ir[3] as IrNode, self, env);
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      if (a.length === 0 || b.length === 0) return E;
      if (a.length !== 1 || b.length !== 1) return UNKNOWN;
      const x = a[0];
      const y = b[0];
      if (x === EXT_ONLY || y === EXT_ONLY || typeof x === 'object' || typeof y === 'object') return UNKNOWN;
      switch (ir[1]) {
        case '=':
          return fromBool(x === y);
        case '!=':
          return fromBool(x !== y);
      }
      if (typeof x !== 'number' || typeof y !== 'number') return UNKNOWN;
      switch (ir[1]) {
        case '<':
          return fromBool(x < y);
        case '<=':
          return fromBool(x <= y);
        case '>':
          return fromBool(x > y);
        case '>=':
          return fromBool(x >= y);
      }
      return UNKNOWN;
    }
    case 'add': {
      const a = evalIr(ir[1] as IrNode, self, env);
      const b = evalIr(ir[2] as IrNode, self, env);
      if (a === UNKNOWN || b === UNKNOWN) return UNKNOWN;
      if (a.length === 0 || b.length === 0) return E;
      if (typeof a[0] !== 'number' || typeof b[0] !== 'number') return UNKNOWN;
      return [a[0] + b[0]];
    }
    case 'fn':
      return fn(ir, self, env);
  }
  return UNKNOWN;
}

function fn(ir: IrNode, self: unknown, env: IrEnv): Res {
  const name = ir[1] as string;
  const src = evalIr(ir[2] as IrNode, self, env);
  if (src === UNKNOWN) return UNKNOWN;
  switch (name) {
    case 'exists':
      return fromBool(src.length > 0);
    case 'empty':
      return fromBool(src.length === 0);
    case 'count':
      return [src.length];
    case 'not': {
      if (src.length === 0) return E;
      if (src.length === 1 && typeof src[0] === 'boolean') return fromBool(!src[0]);
      return UNKNOWN;
    }
    case 'hasValue':
      return fromBool(src.length === 1 && src[0] !== EXT_ONLY && (typeof src[0] !== 'object' || src[0] === null));
    case 'isDistinct': {
      if (src.length <= 1) return T;
      for (const x of src) if (typeof x === 'object') return UNKNOWN;
      return fromBool(new Set(src).size === src.length);
    }
    case 'first':
      return src.length ? [src[0]] : E;
    case 'contains':
    case 'startsWith':
    case 'endsWith': {
      if (src.length === 0) return E;
      const lit = (ir[3] as IrNode)[1] as string;
      if (src.length !== 1 || typeof src[0] !== 'string') return UNKNOWN;
      const v = src[0];
      return fromBool(name === 'contains' ? v.includes(lit) : name === 'startsWith' ? v.startsWith(lit) : v.endsWith(lit));
    }
    case 'isResource': {
      if (src.length === 0) return E;
      if (src.length !== 1 || src[0] === null || typeof src[0] !== 'object') return UNKNOWN;
      return fromBool((src[0] as { resourceType?: unknown }).resourceType === ir[3]);
    }
    case 'where':
    case 'existsWhere':
    case 'all': {
      const crit = ir[3] as IrNode;
      const kept: unknown[] = [];
      for (const item of src) {
        const r = toBool(evalIr(crit, item, env));
        if (r === UNKNOWN) return UNKNOWN;
        if (r === true) kept.push(item);
        else if (name === 'all') return F;
      }
      if (name === 'all') return T;
      if (name === 'existsWhere') return fromBool(kept.length > 0);
      return kept;
    }
  }
  return UNKNOWN;
}

/** Minimal view of the fhirpath package API used here. */
interface FhirPathLib {
  compile(path: { base: string; expression: string } | string, model?: unknown, options?: unknown): (data: unknown, env?: Record<string, unknown>) => unknown[];
}

/**
 * Compiles and runs invariants with the HL7 `fhirpath` package (each expression compiled once, cached on
 * the invariant). Expressions the package cannot evaluate are marked unsupported and skipped.
 */
export class FhirPathRunner {
  private lib?: FhirPathLib;
  private model?: unknown;
  /** Invariants that could not be compiled or evaluated, with the reason (for reports). */
  readonly unsupported = new Map<string, string>();

  private load(): void {
    if (!this.lib) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      this.lib = require('fhirpath') as FhirPathLib;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      this.model = require('fhirpath/fhir-context/r4');
    }
  }

  /** Loads the fhirpath package (about 100 ms) so that later calls do not pay it. */
  warm(): void {
    this.load();
  }

  /** Compiles one invariant now (used for eager construction and by tests). */
  compile(inv: InvariantRt): void {
    if (inv.fn || inv.unsupported) return;
    this.load();
    try {
      inv.fn = this.lib!.compile({ base: inv.b, expression: inv.x }, this.model, { resolveInternalTypes: true, traceFn: () => undefined });
    } catch (e) {
      inv.unsupported = firstLine(e);
      this.unsupported.set(inv.k, inv.unsupported);
    }
  }

  /**
   * Evaluates an invariant with fhirpath.
   * @returns true (holds or empty), false (violated), or undefined when unsupported
   */
  run(inv: InvariantRt, node: unknown, resource: unknown, rootResource: unknown): boolean | undefined {
    if (!inv.fn) this.compile(inv);
    if (!inv.fn) return undefined;
    try {
      const r = inv.fn(node, { resource, rootResource, context: node, ucum: 'http://unitsofmeasure.org' });
      if (r.length === 0) return true;
      if (r.length === 1 && typeof r[0] === 'boolean') return r[0];
      return true;
    } catch (e) {
      inv.unsupported = firstLine(e);
      inv.fn = undefined;
      this.unsupported.set(inv.k, inv.unsupported);
      return undefined;
    }
  }
}

/** First line of an error message, without the parser's object dump. */
export function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 300);
}
