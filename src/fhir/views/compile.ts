/**
 * The SQL on FHIR v2 ViewDefinition runner (https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html),
 * compiled: {@link compileView} validates a view and prepares every FHIRPath expression once — a
 * {@link compileDirect | direct accessor} where the expression is a plain walk over the JSON, otherwise the
 * expression compiled by the HL7 `fhirpath` package (R4 model) — and returns a {@link CompiledView} that
 * turns resources into rows without parsing anything again.
 *
 * Row semantics follow the specification's algorithm: a select's own columns, then its nested `select`s,
 * then its `unionAll`, combined by cross product; `forEach` / `forEachOrNull` / `repeat` give one row group per
 * item (`forEachOrNull` one row of nulls when empty); `%rowIndex` is the 0-based index of the item in the
 * nearest enclosing iteration (0 outside any); `where` keeps a resource only when every path is `true`.
 *
 * Pure: no I/O, no environment.
 */
import { ViewDefinitionError, ViewEvaluationError } from './errors';
import { compileDirect, FALLBACK, type DirectContext, type DirectFn } from './direct';
import {
  BUILTIN_VARIABLES,
  compileExpression,
  constantValue,
  externalConstants,
  parseExpression,
  type FhirPathFn,
} from './fhirpath';
import { assertViewDefinitionShape } from './schema';
import type { Row, ViewColumn, ViewColumnInfo, ViewDefinition, ViewSelect } from './types';
import { columnInfo } from './columns';

/** How an expression is evaluated: by a generated direct accessor (with fhirpath as fallback) or by fhirpath only. */
export type EvaluationMode = 'direct' | 'fhirpath';

/** One compiled expression of a view, for inspection (tests, benchmarks, logs). */
export interface ExpressionPlan {
  /** Location in the ViewDefinition, e.g. `select[0].column[2].path`. */
  location: string;
  expression: string;
  mode: EvaluationMode;
}

/** Options of {@link compileView}. */
export interface CompileOptions {
  /**
   * Generate direct accessors for simple paths (default true). False evaluates everything with fhirpath,
   * which is slower and useful to check the accessors agree with fhirpath.
   */
  directAccessors?: boolean;
}

/** A compiled ViewDefinition. */
export interface CompiledView {
  /** The view as given (validated). */
  readonly definition: ViewDefinition;
  /** `ViewDefinition.name` (the mart's table name), when set. */
  readonly name: string | undefined;
  /** Resource type the view reads. */
  readonly resource: string;
  /** Output columns in order, with their FHIR and SQL types. */
  readonly columns: readonly ViewColumnInfo[];
  /** Every expression and how it is evaluated. */
  readonly expressions: readonly ExpressionPlan[];
  /**
   * Rows for one resource: none when the resource is of another type or fails a `where`.
   * @throws ViewEvaluationError on a non-boolean `where`, a multi-valued non-collection column or a FHIRPath error.
   */
  rows(resource: unknown): Row[];
  /** Rows for many resources (those of other types are skipped), in input order. */
  run(resources: Iterable<unknown>): Row[];
}

/** Per-resource evaluation environment: `%resource`, `%rootResource` and the constants (prototype). */
type Env = Record<string, unknown>;

/** A compiled expression evaluated against a focus. */
interface Expr {
  plan: ExpressionPlan;
  eval(focus: unknown, rowIndex: number, env: Env): unknown[];
  /** Evaluates with an empty focus (the null row of `forEachOrNull`): only `%rowIndex`, constants and literals give values. */
  evalEmpty(rowIndex: number, env: Env): unknown[];
}

interface ColumnPlan {
  name: string;
  collection: boolean;
  expr: Expr;
  location: string;
}

interface SelectPlan {
  width: number;
  columns: ColumnPlan[];
  selects: SelectPlan[];
  unions: SelectPlan[];
  /** forEach / forEachOrNull / repeat: the items to iterate, undefined when the select does not iterate. */
  iterate?: (focus: unknown, rowIndex: number, env: Env) => unknown[];
  orNull: boolean;
}

/**
 * Static type of the focus an expression sees: a resource type, a type name, a backbone element path,
 * or `undefined` when the focus is a fhirpath ResourceNode whose type only fhirpath knows.
 */
type FocusType = string | undefined;

class Compiler {
  readonly expressions: ExpressionPlan[] = [];
  private readonly directCtx: DirectContext;
  private readonly allowedVariables: Set<string>;

  constructor(
    private readonly view: ViewDefinition,
    private readonly options: Required<CompileOptions>,
    constants: Map<string, unknown>,
  ) {
    this.directCtx = { resourceType: view.resource, constants };
    this.allowedVariables = new Set([...BUILTIN_VARIABLES, ...constants.keys()]);
  }

  /** Compiles an expression for a focus type; `keepNodes` returns fhirpath ResourceNodes (for iteration). */
  expr(expression: string, location: string, focus: FocusType, keepNodes = false, noDirect = false): Expr & { resultType?: string } {
    const ast = parseExpression(expression, location);
    for (const name of externalConstants(ast)) {
      if (!this.allowedVariables.has(name)) {
        throw new ViewDefinitionError(`${location}: '%${name}' is not a constant of this view`, location);
      }
    }
    const base = focus === undefined || focus === this.view.resource || focus.startsWith('System.') ? undefined : focus;
    const direct = this.options.directAccessors && !noDirect && focus !== undefined ? compileDirect(ast, focus, this.directCtx) : undefined;
    // A direct accessor's results are plain values; so must its fallback's be, whatever keepNodes says.
    const slow = guard(compileExpression(expression, base, keepNodes && !direct), location, expression);
    const plan: ExpressionPlan = { location, expression, mode: direct ? 'direct' : 'fhirpath' };
    this.expressions.push(plan);
    const evalEmpty = (rowIndex: number, env: Env): unknown[] => slow([], vars(env, rowIndex));
    if (!direct) return { plan, evalEmpty, eval: (focusValue, rowIndex, env) => slow(focusValue, vars(env, rowIndex)) };
    const fast: DirectFn = direct.fn;
    return {
      plan,
      evalEmpty,
      resultType: direct.type,
      eval: (focusValue, rowIndex, env) => {
        const r = fast(focusValue, rowIndex);
        return r === FALLBACK ? slow(focusValue, vars(env, rowIndex)) : r;
      },
    };
  }

  select(sel: ViewSelect, location: string, focus: FocusType): SelectPlan {
    let childFocus = focus;
    let iterate: SelectPlan['iterate'];
    const iterPath = sel.forEach ?? sel.forEachOrNull;
    if (iterPath !== undefined) {
      const loc = `${location}.${sel.forEach !== undefined ? 'forEach' : 'forEachOrNull'}`;
      const e = this.expr(iterPath, loc, focus, true);
      childFocus = e.resultType;
      iterate = e.eval;
    } else if (sel.repeat) {
      const r = this.repeat(sel.repeat, `${location}.repeat`, focus);
      childFocus = r.focus;
      iterate = r.iterate;
    }
    const columns = (sel.column ?? []).map((c: ViewColumn, i): ColumnPlan => {
      const loc = `${location}.column[${i}]`;
      return { name: c.name, collection: c.collection === true, location: loc, expr: this.expr(c.path, `${loc}.path`, childFocus) };
    });
    const selects = (sel.select ?? []).map((s, i) => this.select(s, `${location}.select[${i}]`, childFocus));
    const unions = (sel.unionAll ?? []).map((s, i) => this.select(s, `${location}.unionAll[${i}]`, childFocus));
    const width = columns.length + selects.reduce((n, s) => n + s.width, 0) + (unions[0]?.width ?? 0);
    return { width, columns, selects, unions, iterate, orNull: sel.forEachOrNull !== undefined };
  }

  /**
   * `repeat`: depth-first, pre-order traversal applying every path to every visited node. Direct when each
   * path, from the items' type, yields that same type again; otherwise fhirpath on ResourceNodes.
   */
  private repeat(paths: string[], location: string, focus: FocusType): { focus: FocusType; iterate: SelectPlan['iterate'] } {
    const locs = paths.map((_, i) => `${location}[${i}]`);
    let itemType: FocusType;
    if (this.options.directAccessors && focus !== undefined) {
      const asts = paths.map((p, i) => parseExpression(p, locs[i]!));
      const t0 = asts.map((a) => compileDirect(a, focus, this.directCtx)?.type);
      const t = t0[0];
      if (t !== undefined && t0.every((x) => x === t) && asts.every((a) => compileDirect(a, t, this.directCtx)?.type === t)) itemType = t;
    }
    const first = paths.map((p, i) => this.expr(p, locs[i]!, focus, true, itemType === undefined));
    const next = paths.map((p, i) => this.expr(p, locs[i]!, itemType, true, itemType === undefined));
    const iterate = (f: unknown, rowIndex: number, env: Env): unknown[] => {
      const out: unknown[] = [];
      const visit = (node: unknown): void => {
        out.push(node);
        for (const e of next) for (const child of e.eval(node, rowIndex, env)) visit(child);
      };
      for (const e of first) for (const item of e.eval(f, rowIndex, env)) visit(item);
      return out;
    };
    return { focus: itemType, iterate };
  }
}

/** fhirpath variables for one evaluation: `%rowIndex` over the per-resource environment. */
function vars(env: Env, rowIndex: number): Env {
  const v = Object.create(env) as Env;
  v.rowIndex = rowIndex;
  return v;
}

/** Wraps fhirpath runtime errors; the message names the location and expression, never the data. */
function guard(fn: FhirPathFn, location: string, expression: string): FhirPathFn {
  return (data, env) => {
    try {
      return fn(data, env);
    } catch (err) {
      throw new ViewEvaluationError(`${location}: evaluating '${expression}' failed`, location, { cause: err });
    }
  };
}

/** Column names of a select in output order, checking unionAll branches agree. */
function selectColumnNames(sel: ViewSelect, location: string): string[] {
  const names = (sel.column ?? []).map((c) => c.name);
  (sel.select ?? []).forEach((s, i) => names.push(...selectColumnNames(s, `${location}.select[${i}]`)));
  if (sel.unionAll?.length) {
    const branches = sel.unionAll.map((s, i) => selectColumnNames(s, `${location}.unionAll[${i}]`));
    const first = branches[0]!;
    branches.forEach((b, i) => {
      if (b.length !== first.length || b.some((n, j) => n !== first[j])) {
        throw new ViewDefinitionError(
          `${location}.unionAll[${i}]: columns (${b.join(', ')}) differ from unionAll[0] (${first.join(', ')}); every branch must have the same columns in the same order`,
          `${location}.unionAll[${i}]`,
        );
      }
    });
    names.push(...first);
  }
  return names;
}

/**
 * Validates a ViewDefinition (structure, column names unique, unionAll branches alike, constants well formed)
 * and returns its output column names in order.
 * @throws ViewDefinitionError
 */
export function checkView(view: unknown): string[] {
  assertViewDefinitionShape(view);
  const names: string[] = [];
  view.select.forEach((s, i) => names.push(...selectColumnNames(s, `select[${i}]`)));
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new ViewDefinitionError(`column name '${n}' is used more than once`, 'select');
    seen.add(n);
  }
  const constants = new Set<string>();
  for (const c of view.constant ?? []) {
    if (constants.has(c.name) || BUILTIN_VARIABLES.has(c.name)) {
      throw new ViewDefinitionError(`constant '${c.name}' is defined twice or shadows a built-in variable`, 'constant');
    }
    constants.add(c.name);
  }
  return names;
}

/**
 * Compiles a ViewDefinition once for repeated use.
 * @throws ViewDefinitionError when the view is invalid (structure, FHIRPath syntax, unknown `%constant`,
 *   mismatched unionAll columns, duplicate column names, malformed constant).
 */
export function compileView(view: unknown, options: CompileOptions = {}): CompiledView {
  const names = checkView(view);
  const def = view as ViewDefinition;
  const constants = new Map<string, unknown>();
  (def.constant ?? []).forEach((c, i) => constants.set(c.name, constantValue(c, `constant[${i}]`)));
  const compiler = new Compiler(def, { directAccessors: options.directAccessors ?? true }, constants);
  const root = compiler.select({ select: def.select }, 'ViewDefinition', def.resource);
  const wheres = (def.where ?? []).map((w, i) => ({ location: `where[${i}].path`, expr: compiler.expr(w.path, `where[${i}].path`, def.resource) }));
  const constEnv: Env = Object.fromEntries(constants);
  const resourceType = def.resource;
  const columns = columnInfo(def);
  if (columns.length !== names.length) throw new Error('internal: column list mismatch');
  const buildRow = rowBuilder(names);

  const rowsOf = (resource: unknown, out: Row[]): void => {
    if (resource === null || typeof resource !== 'object' || (resource as { resourceType?: unknown }).resourceType !== resourceType) return;
    const env = Object.create(constEnv) as Env;
    env.resource = resource;
    env.rootResource = resource;
    for (const w of wheres) {
      const r = w.expr.eval(resource, 0, env);
      if (r.length === 0) return;
      if (r.length > 1 || typeof r[0] !== 'boolean') {
        throw new ViewEvaluationError(`${w.location}: '${w.expr.plan.expression}' must return a single boolean or nothing`, w.location);
      }
      if (r[0] !== true) return;
    }
    for (const frag of runSelect(root, resource, 0, env)) out.push(buildRow(frag));
  };

  return {
    definition: def,
    name: def.name,
    resource: resourceType,
    columns,
    expressions: compiler.expressions,
    rows(resource: unknown): Row[] {
      const out: Row[] = [];
      rowsOf(resource, out);
      return out;
    },
    run(resources: Iterable<unknown>): Row[] {
      const out: Row[] = [];
      for (const r of resources) rowsOf(r, out);
      return out;
    },
  };
}

/**
 * Turns a row's values into an object keyed by column name. Generated as one object literal where possible
 * (names are validated `^[A-Za-z][A-Za-z0-9_]*$` and emitted as JSON strings), so every row shares one shape.
 */
function rowBuilder(names: string[]): (values: unknown[]) => Row {
  if (names.every((n) => /^[A-Za-z][A-Za-z0-9_]*$/.test(n))) {
    try {
      const body = `return {${names.map((n, i) => `${JSON.stringify(n)}: v[${i}]`).join(', ')}};`;
      return new Function('v', body) as (values: unknown[]) => Row;
    } catch {
      // code generation disabled: fall through
    }
  }
  return (values) => {
    const row: Row = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
    return row;
  };
}

/** Evaluates a select on one focus: the list of row fragments (values of the select's columns, in order). */
function runSelect(plan: SelectPlan, focus: unknown, rowIndex: number, env: Env): unknown[][] {
  if (!plan.iterate) return fragments(plan, focus, rowIndex, env);
  const items = plan.iterate(focus, rowIndex, env);
  if (items.length === 0) return plan.orNull ? [nullFragment(plan, env)] : [];
  if (items.length === 1) return fragments(plan, items[0], 0, env);
  const out: unknown[][] = [];
  for (let i = 0; i < items.length; i++) for (const f of fragments(plan, items[i], i, env)) out.push(f);
  return out;
}

/** A column's cell from its path's result. */
function cell(c: ColumnPlan, r: unknown[]): unknown {
  if (c.collection) return r;
  if (r.length === 0) return null;
  if (r.length === 1) return r[0];
  throw new ViewEvaluationError(
    `${c.location}: '${c.expr.plan.expression}' returned ${r.length} values; set collection: true or narrow the path`,
    c.location,
  );
}

/**
 * The single row `forEachOrNull` gives for an empty collection: the select's columns evaluated on an empty focus
 * with `%rowIndex` 0 (so paths give null, `%rowIndex` 0), nested iterations all null.
 */
function nullFragment(plan: SelectPlan, env: Env): unknown[] {
  const out: unknown[] = plan.columns.map((c) => cell(c, c.expr.evalEmpty(0, env)));
  const sub = (s: SelectPlan): unknown[] => (s.iterate ? new Array<unknown>(s.width).fill(null) : nullFragment(s, env));
  for (const s of plan.selects) out.push(...sub(s));
  if (plan.unions[0]) out.push(...sub(plan.unions[0]));
  return out;
}

function fragments(plan: SelectPlan, focus: unknown, rowIndex: number, env: Env): unknown[][] {
  const own: unknown[] = new Array<unknown>(plan.columns.length);
  for (let i = 0; i < plan.columns.length; i++) {
    const c = plan.columns[i]!;
    own[i] = cell(c, c.expr.eval(focus, rowIndex, env));
  }
  let acc: unknown[][] = [own];
  for (const s of plan.selects) {
    acc = product(acc, runSelect(s, focus, rowIndex, env));
    if (acc.length === 0) return acc;
  }
  if (plan.unions.length) {
    const u: unknown[][] = [];
    for (const b of plan.unions) for (const f of runSelect(b, focus, rowIndex, env)) u.push(f);
    acc = product(acc, u);
  }
  return acc;
}

function product(left: unknown[][], right: unknown[][]): unknown[][] {
  if (right.length === 1 && left.length === 1) return [left[0]!.concat(right[0])];
  const out: unknown[][] = [];
  for (const l of left) for (const r of right) out.push(l.concat(r));
  return out;
}

/** Compiles and runs a view over resources in one call (compile once and reuse {@link CompiledView} for volume). */
export function runView(view: unknown, resources: Iterable<unknown>, options?: CompileOptions): Row[] {
  return compileView(view, options).run(resources);
}
