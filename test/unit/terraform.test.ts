/**
 * Static checks of the Terraform in terraform/ (there is no terraform binary here, so no `validate`/`plan`):
 * every file parses as HCL (@cdktf/hcl2json), the security properties of the shared infrastructure hold,
 * and the files follow the canonical `terraform fmt` layout rules that can be checked without the binary.
 *
 * The module's buckets, KMS keys and function roles come from maps (for_each over locals, dynamic blocks): the
 * configuration is expanded into its instances first (`aws_s3_bucket.this["lake"]`, `aws_iam_role.function["etl"]`,
 * each.key, each.value and the dynamic blocks' iterators evaluated with @cdktf/hcl2json's expression parser), so
 * the checks and the per-bucket and per-role expectations below see each instance as Terraform would plan it.
 * The moved blocks that carry the former per-resource addresses to those instances are checked too.
 *
 * Every checker is a pure function over the parsed configuration returning findings; each one is also run
 * on a mutated copy (the property removed) to show that it does flag the problem.
 */
import * as fs from 'fs';
import * as path from 'path';
import { getExpressionAst, parse } from '@cdktf/hcl2json';

// ---------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

/** One Terraform configuration directory (root module, child module or bootstrap), merged over its .tf files. */
interface TfConfig {
  dir: string;
  resource: Record<string, Record<string, Obj>>;
  data: Record<string, Record<string, Obj>>;
  module: Record<string, Obj>;
  variable: Record<string, Obj>;
  output: Record<string, Obj>;
  locals: Obj;
  terraform: Obj[];
  provider: Record<string, Obj[]>;
  moved: Obj[];
}

const REPO = path.resolve(__dirname, '../..');
const TF_DIR = path.join(REPO, 'terraform');
const MODULE_DIR = path.join(TF_DIR, 'modules', 'tributary');
const BOOTSTRAP_DIR = path.join(TF_DIR, 'bootstrap');

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Blocks of a given type inside a body (hcl2json renders every nested block as an array). */
function blocks(body: Json | undefined, key: string): Obj[] {
  if (!isObj(body)) return [];
  const v = body[key];
  if (Array.isArray(v)) return v.filter(isObj);
  return isObj(v) ? [v] : [];
}

function listFiles(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue; // .terraform/, .terraform.lock.hcl
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listFiles(p, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(p);
  }
  return out.sort();
}

async function parseFile(file: string): Promise<Obj> {
  const parsed = (await parse(path.basename(file), fs.readFileSync(file, 'utf8'))) as Json;
  if (!isObj(parsed)) throw new Error(`${file}: not an object`);
  return parsed;
}

/** Merges the .tf files of one directory (not recursive) into a {@link TfConfig}. */
async function loadConfig(dir: string): Promise<TfConfig> {
  const cfg: TfConfig = {
    dir,
    resource: {},
    data: {},
    module: {},
    variable: {},
    output: {},
    locals: {},
    terraform: [],
    provider: {},
    moved: [],
  };
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.tf'))
    .map((f) => path.join(dir, f))
    .sort();
  for (const file of files) {
    const j = await parseFile(file);
    for (const kind of ['resource', 'data'] as const) {
      const byType = j[kind];
      if (!isObj(byType)) continue;
      for (const [type, byName] of Object.entries(byType)) {
        if (!isObj(byName)) continue;
        cfg[kind][type] ??= {};
        for (const [name, bodies] of Object.entries(byName)) {
          const body = Array.isArray(bodies) ? bodies[0] : bodies;
          if (!isObj(body)) continue;
          if (cfg[kind][type][name]) throw new Error(`${file}: duplicate ${kind} ${type}.${name}`);
          cfg[kind][type][name] = body;
        }
      }
    }
    for (const kind of ['module', 'variable', 'output'] as const) {
      const byName = j[kind];
      if (!isObj(byName)) continue;
      for (const [name, bodies] of Object.entries(byName)) {
        const body = Array.isArray(bodies) ? bodies[0] : bodies;
        if (isObj(body)) cfg[kind][name] = body;
      }
    }
    for (const l of blocks(j, 'locals')) {
      for (const [k, v] of Object.entries(l)) {
        if (k in cfg.locals) throw new Error(`${file}: duplicate local ${k}`);
        cfg.locals[k] = v;
      }
    }
    cfg.terraform.push(...blocks(j, 'terraform'));
    cfg.moved.push(...blocks(j, 'moved'));
    if (isObj(j.provider)) {
      for (const [name, bodies] of Object.entries(j.provider)) {
        cfg.provider[name] = [...(cfg.provider[name] ?? []), ...(Array.isArray(bodies) ? bodies.filter(isObj) : [])];
      }
    }
  }
  return cfg;
}

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

// ---------------------------------------------------------------------------------------------------------
// Evaluating the expressions for_each and dynamic blocks depend on
// ---------------------------------------------------------------------------------------------------------

/** Raised for an expression whose value depends on what only a plan knows (a variable, a resource attribute). */
class NotStatic extends Error {}

/** Names in scope: `each`, a dynamic block's iterator, a for expression's variables. */
type Scope = Record<string, Json>;

/** A value not known statically is kept as its expression, `${...}`, the way hcl2json renders it. */
function isExpr(v: Json): v is string {
  return typeof v === 'string' && v.includes('${');
}

/** `${x}` as one interpolation → x; otherwise (a literal, or a template of several parts) undefined. */
function wholeExpr(v: string): string | undefined {
  const parts = splitTemplate(v);
  return parts.length === 1 && parts[0].interpolation ? parts[0].text.slice(2, -1) : undefined;
}

/** A rendered template's literal parts and `${...}` interpolations (brace depth and quoted strings respected). */
function splitTemplate(s: string): { text: string; interpolation: boolean }[] {
  const parts: { text: string; interpolation: boolean }[] = [];
  let i = 0;
  let literal = '';
  while (i < s.length) {
    if (s.startsWith('${', i)) {
      let depth = 0;
      let inString = false;
      let j = i + 1;
      for (; j < s.length; j++) {
        const c = s[j];
        if (inString) {
          if (c === '\\') j++;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{') depth++;
        else if (c === '}' && --depth === 0) break;
      }
      if (literal) parts.push({ text: literal, interpolation: false });
      literal = '';
      parts.push({ text: s.slice(i, j + 1), interpolation: true });
      i = j + 1;
    } else literal += s[i++];
  }
  if (literal) parts.push({ text: literal, interpolation: false });
  return parts;
}

/** HCL literal of a key in an index (`["lake"]`, `[0]`). */
function indexText(key: Json): string {
  if (typeof key === 'string') return `[${JSON.stringify(key)}]`;
  if (typeof key === 'number') return `[${key}]`;
  throw new NotStatic(`index key ${JSON.stringify(key)}`);
}

interface Ast {
  type: string;
  meta: Record<string, unknown> & { value?: string };
  children?: Ast[];
}

/**
 * Evaluates an HCL expression over the module's locals and the scope. What cannot be known (var.*, resource and
 * data attributes, module outputs) stays an expression, with the scope's names substituted
 * (`aws_s3_bucket.this[each.key].arn` → `${aws_s3_bucket.this["lake"].arn}`); a comparison, condition or collection
 * that needs one throws NotStatic. Locals whose value is a string stay `${local.x}`, as written.
 */
class Evaluator {
  constructor(private readonly locals: Obj) {}

  async expr(text: string, scope: Scope): Promise<Json> {
    const ast = (await getExpressionAst('expression.tf', text)) as Ast | null;
    if (!ast) throw new Error(`cannot parse expression: ${text}`);
    return this.node(ast, scope);
  }

  /** A string attribute as hcl2json renders it (a template with `${...}`), evaluated. */
  async template(s: string, scope: Scope): Promise<Json> {
    const whole = wholeExpr(s);
    if (whole !== undefined) return this.expr(whole, scope);
    return this.expr(`"${splitTemplate(s)
      .map((p) => (p.interpolation ? p.text : JSON.stringify(p.text).slice(1, -1)))
      .join('')}"`, scope);
  }

  private async node(n: Ast, scope: Scope): Promise<Json> {
    const kids = n.children ?? [];
    const text = String(n.meta.value ?? '');
    switch (n.type) {
      case 'literalValue': {
        const t = n.meta.type;
        if (t === 'number') return Number(text);
        if (t === 'bool') return text === 'true';
        if (t === 'string') return text;
        if (text === 'null') return null;
        throw new Error(`literal ${text}`);
      }
      case 'templateWrap':
        return this.node(kids[0], scope);
      case 'template': {
        let out = '';
        for (const k of kids) {
          const v = await this.node(k, scope);
          if (typeof v === 'string') out += v;
          else if (typeof v === 'number' || typeof v === 'boolean') out += String(v);
          else throw new NotStatic(`template part ${k.meta.value}`);
        }
        return out;
      }
      case 'scopeTraversal': {
        const parts = n.meta.traversal as { type: string; segment: string }[];
        const root = parts[0].segment;
        if (root in scope) return this.walk(scope[root], parts.slice(1), root);
        if (root === 'local') {
          const name = parts[1].segment;
          if (!(name in this.locals)) throw new Error(`no local.${name}`);
          let v: Json = this.locals[name];
          if (typeof v === 'string') {
            const evaluated = isExpr(v) ? await this.template(v, {}) : v;
            v = Array.isArray(evaluated) || isObj(evaluated) ? evaluated : `\${local.${name}}`;
          }
          return this.walk(v, parts.slice(2), `local.${name}`);
        }
        return `\${${String(n.meta.fullAccessor)}}`;
      }
      case 'relativeTraversal':
        return this.walk(await this.node(kids[0], scope), n.meta.traversal as { type: string; segment: string }[], String(n.meta.sourceExpression));
      case 'index': {
        const coll = await this.node(kids[0], scope);
        const key = await this.node(kids[1], scope);
        if (isExpr(coll)) {
          const inner = wholeExpr(coll);
          if (inner === undefined) throw new NotStatic(text);
          return `\${${inner}${indexText(key)}}`;
        }
        return this.at(coll, key, text);
      }
      case 'tuple':
        return Promise.all(kids.map((k) => this.node(k, scope)));
      case 'object': {
        const out: Obj = {};
        for (const [k, v] of Object.entries(n.meta.items as Record<string, string>)) out[k] = await this.expr(v, scope);
        return out;
      }
      case 'function':
        return this.call(String(n.meta.name), await Promise.all(kids.map(async (k) => this.structure(await this.node(k, scope)))), text);
      case 'for': {
        const m = n.meta as Record<string, string>;
        const coll = await this.expr(m.collectionExpression, scope);
        if (isExpr(coll)) {
          if (Object.keys(scope).some((s) => new RegExp(`(^|[^\\w.])${s}\\.`).test(text))) throw new NotStatic(text);
          return `\${${text}}`;
        }
        const entries: [Json, Json][] = Array.isArray(coll) ? coll.map((v, i) => [i, v]) : isObj(coll) ? Object.entries(coll) : [];
        const isObject = m.keyExpression !== undefined && m.keyExpression !== '';
        const out: Obj = {};
        const list: Json[] = [];
        for (const [k, v] of entries) {
          const s: Scope = { ...scope, [m.valVar]: v };
          if (m.keyVar) s[m.keyVar] = k;
          if (m.conditionalExpression) {
            const c = await this.expr(m.conditionalExpression, s);
            if (typeof c !== 'boolean') throw new NotStatic(`for condition ${m.conditionalExpression}`);
            if (!c) continue;
          }
          const value = await this.expr(m.valueExpression, s);
          if (isObject) {
            const key = await this.expr(m.keyExpression, s);
            if (typeof key !== 'string' || isExpr(key)) throw new NotStatic(`for key ${m.keyExpression}`);
            out[key] = value;
          } else list.push(value);
        }
        return isObject ? out : list;
      }
      case 'binaryOp': {
        const l = await this.node(kids[0], scope);
        const r = await this.node(kids[1], scope);
        if (isExpr(l) || isExpr(r)) throw new NotStatic(text);
        switch (n.meta.operator) {
          case 'equal':
            return JSON.stringify(l) === JSON.stringify(r);
          case 'notEqual':
            return JSON.stringify(l) !== JSON.stringify(r);
          case 'logicalAnd':
            return l === true && r === true;
          case 'logicalOr':
            return l === true || r === true;
          default:
            throw new Error(`operator ${String(n.meta.operator)}`);
        }
      }
      case 'unaryOp': {
        const v = await this.node(kids[0], scope);
        if (n.meta.operator !== 'logicalNot' || typeof v !== 'boolean') throw new NotStatic(text);
        return !v;
      }
      case 'conditional': {
        const c = await this.node(kids[0], scope);
        if (typeof c !== 'boolean') throw new NotStatic(text);
        return this.node(kids[c ? 1 : 2], scope);
      }
      default:
        throw new Error(`expression type ${n.type}: ${text}`);
    }
  }

  /** A value used as a collection: `${local.x}` elements (lists of lists, as flatten takes them) resolved. */
  private async structure(v: Json): Promise<Json> {
    if (isExpr(v)) {
      const inner = wholeExpr(v);
      if (inner === undefined || !/^local\.[\w-]+$/.test(inner)) return v;
      const resolved = this.locals[inner.slice('local.'.length)];
      return resolved === undefined || typeof resolved === 'string' ? v : this.structure(resolved);
    }
    if (Array.isArray(v)) return Promise.all(v.map((x) => this.structure(x)));
    return v;
  }

  private at(coll: Json, key: Json, text: string): Json {
    if (Array.isArray(coll) && typeof key === 'number' && key < coll.length) return coll[key];
    if (isObj(coll) && typeof key === 'string' && key in coll) return coll[key];
    throw new Error(`${text}: no element ${JSON.stringify(key)}`);
  }

  private walk(v: Json, parts: { type: string; segment: string }[], what: string): Json {
    let cur = v;
    for (const p of parts) {
      const key: Json = p.type === 'indexTraversal' ? (JSON.parse(p.segment) as Json) : p.segment;
      if (isExpr(cur)) {
        const inner = wholeExpr(cur);
        if (inner === undefined) throw new NotStatic(`${what}: traversal into ${cur}`);
        cur = `\${${inner}${p.type === 'indexTraversal' ? indexText(key) : `.${p.segment}`}}`;
      } else cur = this.at(cur, key, what);
    }
    return cur;
  }

  private call(name: string, args: Json[], text: string): Json {
    const known = (v: Json): Json => {
      if (isExpr(v)) throw new NotStatic(`${text}: ${v}`);
      return v;
    };
    switch (name) {
      case 'toset': {
        const list = known(args[0]);
        if (!Array.isArray(list)) throw new Error(`${text}: not a list`);
        return [...new Set(list.map((x) => known(x)))] as Json[];
      }
      case 'flatten': {
        const flat = (v: Json): Json[] => (Array.isArray(v) ? v.flatMap(flat) : [known(v)]);
        const list = known(args[0]);
        if (!Array.isArray(list)) throw new Error(`${text}: not a list`);
        return list.flatMap(flat);
      }
      case 'lookup': {
        const map = known(args[0]);
        const key = known(args[1]);
        if (!isObj(map) || typeof key !== 'string') throw new Error(`${text}: bad arguments`);
        if (key in map) return map[key];
        if (args.length < 3) throw new Error(`${text}: no ${key} and no default`);
        return args[2];
      }
      default:
        throw new NotStatic(`${text}: function ${name}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Expanding for_each resources and dynamic blocks into their instances
// ---------------------------------------------------------------------------------------------------------

/** The instances of a for_each value: [key, each.value]. A set (toset) gives each.key = each.value. */
function instancesOf(coll: Json, what: string): [string, Json][] {
  if (isObj(coll)) return Object.entries(coll);
  if (Array.isArray(coll) && coll.every((x) => typeof x === 'string' && !isExpr(x))) return coll.map((x) => [x as string, x]);
  throw new Error(`${what}: for_each is not a map or a set of strings`);
}

function mentions(s: string, scope: Scope): boolean {
  return Object.keys(scope).some((name) => new RegExp(`(^|[^\\w.])${name}\\.`).test(s));
}

/**
 * One instance of a block body: strings that use the scope's names are evaluated (null results drop the
 * attribute, as null does in HCL), and `dynamic` blocks whose for_each is static become blocks of their type
 * (after the static ones: keep static blocks before dynamic ones of the same type). A dynamic block whose
 * for_each needs a plan (e.g. on a variable) is kept as it is.
 */
async function expandBody(ev: Evaluator, body: Obj, scope: Scope): Promise<Obj> {
  const out: Obj = {};
  const keptDynamic: Obj = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === 'dynamic' && isObj(v)) {
      for (const [type, specs] of Object.entries(v)) {
        for (const spec of Array.isArray(specs) ? specs.filter(isObj) : []) {
          let coll: Json;
          try {
            coll = await ev.template(String(spec.for_each), scope);
          } catch (e) {
            if (!(e instanceof NotStatic)) throw e;
            keptDynamic[type] = [...((keptDynamic[type] as Json[] | undefined) ?? []), spec];
            continue;
          }
          const iterator = typeof spec.iterator === 'string' ? spec.iterator.replace(/^\$\{(.*)\}$/, '$1') : type;
          const entries: [Json, Json][] = Array.isArray(coll) ? coll.map((x, i) => [i, x]) : isObj(coll) ? Object.entries(coll) : [];
          if (!Array.isArray(coll) && !isObj(coll)) throw new Error(`dynamic "${type}": for_each is not a collection`);
          const content = (Array.isArray(spec.content) ? spec.content[0] : spec.content) as Obj;
          for (const [key, value] of entries) {
            const block = await expandBody(ev, content, { ...scope, [iterator]: { key, value } });
            out[type] = [...((out[type] as Json[] | undefined) ?? []), block];
          }
        }
      }
      continue;
    }
    const expanded = await expandValue(ev, v, scope);
    if (expanded === null) continue;
    if (Array.isArray(out[k]) && Array.isArray(expanded)) out[k] = [...expanded, ...(out[k] as Json[])];
    else out[k] = expanded;
  }
  if (Object.keys(keptDynamic).length > 0) out.dynamic = keptDynamic;
  return out;
}

async function expandValue(ev: Evaluator, v: Json, scope: Scope): Promise<Json> {
  if (typeof v === 'string') return isExpr(v) && mentions(v, scope) ? ev.template(v, scope) : v;
  if (Array.isArray(v)) {
    const items: Json[] = [];
    for (const x of v) {
      if (isObj(x)) items.push(await expandBody(ev, x, scope));
      else items.push(await expandValue(ev, x, scope));
    }
    return items;
  }
  if (isObj(v)) return expandBody(ev, v, scope);
  return v;
}

/**
 * A for_each that is one variable (`for_each = var.analysis_studies`): the variable's default, i.e. the instances a
 * plan with the default values has (an environment's tfvars may declare others). Undefined for anything else, and
 * for a variable without a default or with a null one.
 */
function variableDefault(variables: Record<string, Obj>, forEach: Json): Json | undefined {
  const inner = typeof forEach === 'string' ? wholeExpr(forEach) : undefined;
  const m = inner === undefined ? null : /^var\.([A-Za-z_][\w-]*)$/.exec(inner);
  if (!m) return undefined;
  const v = variables[m[1]];
  if (!v) throw new Error(`for_each over undeclared var.${m[1]}`);
  return v.default ?? undefined;
}

/**
 * Every resource or data source with for_each becomes one entry per instance, named `name["key"]` (its Terraform
 * address), with each.key and each.value substituted; dynamic blocks are expanded everywhere. A for_each over a
 * variable takes its default ({@link variableDefault}); one that needs a plan otherwise (e.g. `toset(var.x)`, a
 * function of a variable) keeps the resource as one block.
 */
async function expandBlocks(ev: Evaluator, byType: Record<string, Record<string, Obj>>, variables: Record<string, Obj> = {}): Promise<Record<string, Record<string, Obj>>> {
  const out: Record<string, Record<string, Obj>> = {};
  for (const [type, byName] of Object.entries(byType)) {
    out[type] = {};
    for (const [name, body] of Object.entries(byName)) {
      let coll: Json | undefined = variableDefault(variables, body.for_each);
      try {
        if (coll === undefined && typeof body.for_each === 'string') coll = await ev.template(body.for_each, {});
      } catch (e) {
        if (!(e instanceof NotStatic)) throw e; // e.g. for_each = toset(var.x): kept as one block
      }
      if (coll === undefined) {
        out[type][name] = await expandBody(ev, body, {});
        continue;
      }
      const { for_each: _forEach, ...rest } = body;
      for (const [key, value] of instancesOf(coll, `${type}.${name}`)) {
        out[type][`${name}[${JSON.stringify(key)}]`] = await expandBody(ev, rest, { each: { key, value } });
      }
    }
  }
  return out;
}

/** The configuration with its for_each resources and data sources expanded into instances (see expandBlocks). */
async function expandConfig(cfg: TfConfig): Promise<TfConfig> {
  const ev = new Evaluator(cfg.locals);
  return { ...cfg, resource: await expandBlocks(ev, cfg.resource, cfg.variable), data: await expandBlocks(ev, cfg.data, cfg.variable) };
}

// ---------------------------------------------------------------------------------------------------------
// Expression helpers
// ---------------------------------------------------------------------------------------------------------

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** True when `text` contains a reference to `addr` (e.g. `aws_s3_bucket.this["lake"]`) — not `aws_s3_bucket.lake_x`. */
function refersTo(text: string, addr: string): boolean {
  return new RegExp(`(^|[^\\w.])${escapeRe(addr)}(?![\\w-])`).test(text);
}

/** Every string inside a JSON value. */
function strings(v: Json | undefined): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (isObj(v)) return Object.values(v).flatMap(strings);
  return [];
}

function anyRefersTo(v: Json | undefined, addr: string): boolean {
  return strings(v).some((s) => refersTo(s, addr));
}

/** Names of the resources (or instances: `this["lake"]`) of `type` that `v` refers to (e.g. kms keys in a kms_master_key_id). */
function referencedNames(v: Json | undefined, type: string): string[] {
  const names = new Set<string>();
  for (const s of strings(v)) {
    for (const m of s.matchAll(new RegExp(`(?:^|[^\\w.])${escapeRe(type)}\\.([A-Za-z_][\\w-]*(?:\\["[^"]*"\\])?)`, 'g'))) names.add(m[1]);
  }
  return [...names];
}

/** Resolves a whole-string `${local.x}` to the local's value (one level), else returns the value unchanged. */
function resolveLocal(cfg: TfConfig, v: Json | undefined): Json | undefined {
  if (typeof v === 'string') {
    const m = /^\$\{local\.([A-Za-z_][\w-]*)\}$/.exec(v);
    if (m && m[1] in cfg.locals) return cfg.locals[m[1]];
  }
  return v;
}

function asList(v: Json | undefined): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  return [typeof v === 'string' ? v : JSON.stringify(v)];
}

/** Parses an HCL expression (object/tuple literal) into JSON by wrapping it in an attribute. */
async function parseHclExpression(expr: string): Promise<Json> {
  const j = (await parse('expression.tf', `value = ${expr}\n`)) as Json;
  if (!isObj(j) || !('value' in j)) throw new Error(`cannot parse expression: ${expr.slice(0, 80)}`);
  return j.value;
}

/** If `v` is `${jsonencode(<hcl>)}`, the decoded HCL value; otherwise undefined. */
async function decodeJsonencode(v: Json | undefined): Promise<Json | undefined> {
  if (typeof v !== 'string') return undefined;
  const m = /^\$\{jsonencode\(([\s\S]*)\)\}$/.exec(v.trim());
  return m ? parseHclExpression(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------------------

interface Statement {
  where: string;
  sid: string;
  effect: 'Allow' | 'Deny';
  actions: string[];
  notActions: string[];
  resources: string[];
  notResources: string[];
  principals: { type: string; identifiers: string[] }[];
  conditions: { test: string; variable: string; values: string[] }[];
}

/** Statements of an aws_iam_policy_document data source, including `dynamic "statement"` contents. */
function docStatements(cfg: TfConfig, name: string): Statement[] {
  const doc = cfg.data.aws_iam_policy_document?.[name];
  if (!doc) throw new Error(`no aws_iam_policy_document.${name}`);
  const raw = [...blocks(doc, 'statement'), ...blocks(doc.dynamic, 'statement').flatMap((d) => blocks(d, 'content'))];
  return raw.map((s, i) => ({
    where: `data.aws_iam_policy_document.${name}[${typeof s.sid === 'string' ? s.sid : i}]`,
    sid: typeof s.sid === 'string' ? s.sid : String(i),
    effect: s.effect === 'Deny' ? 'Deny' : 'Allow',
    actions: asList(resolveLocal(cfg, s.actions)),
    notActions: asList(resolveLocal(cfg, s.not_actions)),
    resources: asList(resolveLocal(cfg, s.resources)),
    notResources: asList(resolveLocal(cfg, s.not_resources)),
    principals: blocks(s, 'principals').map((p) => ({
      type: String(p.type),
      identifiers: asList(resolveLocal(cfg, p.identifiers)),
    })),
    conditions: blocks(s, 'condition').map((c) => ({
      test: String(c.test),
      variable: String(c.variable),
      values: asList(resolveLocal(cfg, c.values)),
    })),
  }));
}

/** Statements of an IAM policy written inline as jsonencode({...}) (AWS JSON policy grammar). */
function jsonPolicyStatements(policy: Json, where: string): Statement[] {
  if (!isObj(policy)) throw new Error(`${where}: policy is not an object`);
  const st = policy.Statement;
  const list = Array.isArray(st) ? st.filter(isObj) : isObj(st) ? [st] : [];
  return list.map((s, i) => {
    const principals: Statement['principals'] = [];
    if (s.Principal === '*') principals.push({ type: '*', identifiers: ['*'] });
    else if (isObj(s.Principal)) {
      for (const [type, ids] of Object.entries(s.Principal)) principals.push({ type, identifiers: asList(ids) });
    }
    const conditions: Statement['conditions'] = [];
    if (isObj(s.Condition)) {
      for (const [test, byVar] of Object.entries(s.Condition)) {
        if (!isObj(byVar)) continue;
        for (const [variable, values] of Object.entries(byVar)) conditions.push({ test, variable, values: asList(values) });
      }
    }
    return {
      where: `${where}[${typeof s.Sid === 'string' ? s.Sid : i}]`,
      sid: typeof s.Sid === 'string' ? s.Sid : String(i),
      effect: s.Effect === 'Deny' ? 'Deny' : 'Allow',
      actions: asList(s.Action),
      notActions: asList(s.NotAction),
      resources: asList(s.Resource),
      notResources: asList(s.NotResource),
      principals,
      conditions,
    };
  });
}

/**
 * Statements of a `policy`-like attribute: a reference to an aws_iam_policy_document, or an inline
 * jsonencode({...}). Anything else (heredoc JSON, file(), templatefile()) cannot be analysed: reported.
 */
async function policyStatements(
  cfg: TfConfig,
  value: Json | undefined,
  where: string,
): Promise<{ statements: Statement[]; findings: string[] }> {
  if (typeof value === 'string') {
    const m = /^\$\{data\.aws_iam_policy_document\.([A-Za-z_][\w-]*(?:\["[^"]*"\])?)\.json\}$/.exec(value);
    if (m) {
      const doc = cfg.data.aws_iam_policy_document?.[m[1]];
      if (!doc) return { statements: [], findings: [`${where}: unknown policy document ${m[1]}`] };
      const findings: string[] = [];
      for (const k of ['source_policy_documents', 'override_policy_documents', 'source_json', 'override_json']) {
        if (k in doc) findings.push(`${where}: ${m[1]} uses ${k}, which this check cannot follow`);
      }
      return { statements: docStatements(cfg, m[1]), findings };
    }
    const decoded = await decodeJsonencode(value);
    if (decoded !== undefined) return { statements: jsonPolicyStatements(decoded, where), findings: [] };
  }
  return { statements: [], findings: [`${where}: policy is neither an aws_iam_policy_document nor jsonencode({...})`] };
}

/** IAM action glob match (case-insensitive, `*` and `?`). */
function actionCovers(pattern: string, action: string): boolean {
  const re = new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c))).join('')}$`, 'i');
  return re.test(action);
}

function statementAllows(s: Statement, action: string): boolean {
  return s.effect === 'Allow' && s.actions.some((a) => actionCovers(a, action));
}

/** Every policy-bearing attribute in a config, with where it is. */
function policyAttributes(cfg: TfConfig): { where: string; value: Json | undefined; kind: string; owner: string }[] {
  const out: { where: string; value: Json | undefined; kind: string; owner: string }[] = [];
  const attrs: Record<string, string[]> = {
    aws_iam_role_policy: ['policy'],
    aws_iam_policy: ['policy'],
    aws_iam_role: ['assume_role_policy'],
    aws_kms_key: ['policy'],
    aws_s3_bucket_policy: ['policy'],
    aws_sqs_queue_policy: ['policy'],
    aws_sns_topic_policy: ['policy'],
    aws_sns_topic: ['policy'],
    aws_sqs_queue: ['policy'],
  };
  for (const [type, names] of Object.entries(attrs)) {
    for (const [name, body] of Object.entries(cfg.resource[type] ?? {})) {
      for (const a of names) if (a in body) out.push({ where: `${type}.${name}.${a}`, value: body[a], kind: type, owner: name });
      if (type === 'aws_iam_role') {
        for (const inline of blocks(body, 'inline_policy')) {
          out.push({ where: `${type}.${name}.inline_policy`, value: inline.policy, kind: 'inline_policy', owner: name });
        }
      }
    }
  }
  return out;
}

/** Statements of every policy attached to the role `role` (inline, role policies, customer policies). */
async function rolePolicyStatements(cfg: TfConfig, role: string): Promise<{ statements: Statement[]; findings: string[] }> {
  const statements: Statement[] = [];
  const findings: string[] = [];
  const addr = `aws_iam_role.${role}`;
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy ?? {})) {
    if (!anyRefersTo(body.role, addr)) continue;
    const r = await policyStatements(cfg, body.policy, `aws_iam_role_policy.${name}`);
    statements.push(...r.statements);
    findings.push(...r.findings);
  }
  for (const inline of blocks(cfg.resource.aws_iam_role?.[role], 'inline_policy')) {
    const r = await policyStatements(cfg, inline.policy, `${addr}.inline_policy`);
    statements.push(...r.statements);
    findings.push(...r.findings);
  }
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy_attachment ?? {})) {
    if (!anyRefersTo(body.role, addr)) continue;
    const policies = referencedNames(body.policy_arn, 'aws_iam_policy');
    if (policies.length === 0) findings.push(`aws_iam_role_policy_attachment.${name}: managed policy ${String(body.policy_arn)} cannot be checked`);
    for (const p of policies) {
      const r = await policyStatements(cfg, cfg.resource.aws_iam_policy?.[p]?.policy, `aws_iam_policy.${p}`);
      statements.push(...r.statements);
      findings.push(...r.findings);
    }
  }
  return { statements, findings };
}

// ---------------------------------------------------------------------------------------------------------
// Checkers (each returns findings; [] = property holds)
// ---------------------------------------------------------------------------------------------------------

/** The module's instance names, as the expanded configuration (and Terraform's addresses) name them. */
const bucketOf = (name: string): string => `this[${JSON.stringify(name)}]`;
const keyOf = (name: string): string => `this[${JSON.stringify(name)}]`;
/** The role (and role policy and policy document) of a function, keyed like local.functions: `function["notAllowed"]`. */
const roleOf = (fn: string): string => `function[${JSON.stringify(fn)}]`;

/** The resource of `type` whose `bucket` (or other attribute) refers to aws_s3_bucket.<bucket>. */
function resourcesFor(cfg: TfConfig, type: string, attr: string, target: string): [string, Obj][] {
  return Object.entries(cfg.resource[type] ?? {}).filter(([, body]) => anyRefersTo(body[attr], target));
}

/**
 * SSE-KMS with a customer key of its own, S3 Bucket Key set explicitly (true, except for the buckets listed in
 * `noBucketKey`, where it must be explicitly false), public access block, versioning, lifecycle.
 */
function checkBucketEncryptionAndAccess(cfg: TfConfig, noBucketKey: string[] = []): string[] {
  const findings: string[] = [];
  const keyOwner = new Map<string, string>();
  const customerKeys = new Set(Object.keys(cfg.resource.aws_kms_key ?? {}));
  for (const bucket of Object.keys(cfg.resource.aws_s3_bucket ?? {})) {
    // the console's static assets (no data; read by CloudFront only) are checked by their own test (console.tf)
    if (bucket === 'console') continue;
    const addr = `aws_s3_bucket.${bucket}`;
    const sse = resourcesFor(cfg, 'aws_s3_bucket_server_side_encryption_configuration', 'bucket', addr);
    if (sse.length !== 1) findings.push(`${addr}: expected 1 SSE configuration, found ${sse.length}`);
    for (const [, body] of sse) {
      const rules = blocks(body, 'rule');
      if (rules.length === 0) findings.push(`${addr}: SSE configuration has no rule`);
      for (const rule of rules) {
        const def = blocks(rule, 'apply_server_side_encryption_by_default')[0];
        if (def?.sse_algorithm !== 'aws:kms') findings.push(`${addr}: sse_algorithm is ${String(def?.sse_algorithm)}, not aws:kms`);
        const keyRef = def?.kms_master_key_id;
        const keys = referencedNames(keyRef, 'aws_kms_key').filter((k) => customerKeys.has(k));
        if (typeof keyRef !== 'string' || keys.length !== 1 || /alias\/aws\/s3/.test(keyRef)) {
          findings.push(`${addr}: kms_master_key_id must reference one customer managed aws_kms_key (got ${String(keyRef)})`);
        } else {
          const other = keyOwner.get(keys[0]);
          if (other) findings.push(`${addr}: shares aws_kms_key.${keys[0]} with aws_s3_bucket.${other}; each bucket needs its own key`);
          keyOwner.set(keys[0], bucket);
        }
        const wantBucketKey = !noBucketKey.includes(bucket);
        if (rule.bucket_key_enabled !== wantBucketKey) findings.push(`${addr}: bucket_key_enabled is not ${wantBucketKey}`);
      }
    }
    const pab = resourcesFor(cfg, 'aws_s3_bucket_public_access_block', 'bucket', addr);
    if (pab.length !== 1) findings.push(`${addr}: expected 1 public access block, found ${pab.length}`);
    for (const [, body] of pab) {
      for (const flag of ['block_public_acls', 'block_public_policy', 'ignore_public_acls', 'restrict_public_buckets']) {
        if (body[flag] !== true) findings.push(`${addr}: public access block ${flag} is not true`);
      }
    }
    const versioning = resourcesFor(cfg, 'aws_s3_bucket_versioning', 'bucket', addr);
    if (!versioning.some(([, b]) => blocks(b, 'versioning_configuration').some((v) => v.status === 'Enabled'))) {
      findings.push(`${addr}: versioning is not Enabled`);
    }
    const lifecycle = resourcesFor(cfg, 'aws_s3_bucket_lifecycle_configuration', 'bucket', addr);
    if (!lifecycle.some(([, b]) => blocks(b, 'rule').some((r) => r.status === 'Enabled'))) {
      findings.push(`${addr}: no enabled lifecycle rule`);
    }
  }
  return findings;
}

/** Every bucket has a bucket policy denying any request made without TLS (aws:SecureTransport = false). */
async function checkBucketTlsPolicies(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  for (const bucket of Object.keys(cfg.resource.aws_s3_bucket ?? {})) {
    const addr = `aws_s3_bucket.${bucket}`;
    const policies = resourcesFor(cfg, 'aws_s3_bucket_policy', 'bucket', addr);
    if (policies.length !== 1) {
      findings.push(`${addr}: expected 1 bucket policy, found ${policies.length}`);
      continue;
    }
    const [name, body] = policies[0];
    const { statements, findings: f } = await policyStatements(cfg, body.policy, `aws_s3_bucket_policy.${name}`);
    findings.push(...f);
    const tlsDeny = statements.find(
      (s) =>
        s.effect === 'Deny' &&
        s.principals.some((p) => p.identifiers.includes('*')) &&
        s.actions.some((a) => a === 's3:*' || a === '*') &&
        s.conditions.some(
          (c) => c.test === 'Bool' && c.variable === 'aws:SecureTransport' && c.values.length === 1 && c.values[0] === 'false',
        ) &&
        s.resources.some((r) => refersTo(r, addr) && !r.endsWith('/*')) &&
        s.resources.some((r) => refersTo(r, addr) && r.endsWith('/*')),
    );
    if (!tlsDeny) findings.push(`${addr}: bucket policy has no Deny of s3:* on the bucket and its objects when aws:SecureTransport = false`);
  }
  return findings;
}

/** The audit bucket is created with Object Lock and a COMPLIANCE default retention. */
function checkObjectLock(cfg: TfConfig, bucket: string): string[] {
  const addr = `aws_s3_bucket.${bucket}`;
  const body = cfg.resource.aws_s3_bucket?.[bucket];
  if (!body) return [`${addr}: missing`];
  const findings: string[] = [];
  if (body.object_lock_enabled !== true) findings.push(`${addr}: object_lock_enabled is not true`);
  const locks = resourcesFor(cfg, 'aws_s3_bucket_object_lock_configuration', 'bucket', addr);
  const retention = locks.flatMap(([, b]) => blocks(b, 'rule')).flatMap((r) => blocks(r, 'default_retention'));
  if (retention.length === 0) findings.push(`${addr}: no object lock default retention`);
  for (const r of retention) {
    if (r.mode !== 'COMPLIANCE') findings.push(`${addr}: object lock mode is ${String(r.mode)}, not COMPLIANCE`);
    if (r.days === undefined && r.years === undefined) findings.push(`${addr}: object lock retention has no days/years`);
  }
  return findings;
}

/** Symmetric keys rotate automatically; HMAC/asymmetric keys (which cannot) do not claim to. Every key has a policy. */
function checkKmsKeys(cfg: TfConfig): string[] {
  const findings: string[] = [];
  for (const [name, body] of Object.entries(cfg.resource.aws_kms_key ?? {})) {
    const spec = body.customer_master_key_spec ?? 'SYMMETRIC_DEFAULT';
    const usage = body.key_usage ?? 'ENCRYPT_DECRYPT';
    const symmetric = spec === 'SYMMETRIC_DEFAULT' && usage === 'ENCRYPT_DECRYPT';
    if (symmetric && body.enable_key_rotation !== true) findings.push(`aws_kms_key.${name}: symmetric key without enable_key_rotation = true`);
    if (!symmetric && body.enable_key_rotation === true) findings.push(`aws_kms_key.${name}: ${String(spec)} keys cannot rotate automatically`);
    if (!('policy' in body)) findings.push(`aws_kms_key.${name}: no key policy (the default grants kms:* to the account)`);
  }
  return findings;
}

/**
 * No Allow statement anywhere grants `*` or a whole service (`s3:*`, `kms:*`, ...); no Allow uses NotAction;
 * no statement at all uses the bare `*` action. Deny statements may use a service wildcard (a broader Deny is
 * stricter, e.g. the TLS-only bucket policies). Every policy must be analysable.
 */
async function checkNoWildcardActions(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const seen = new Set<string>();
  const inspect = (s: Statement): void => {
    for (const a of s.actions) {
      if (a === '*') findings.push(`${s.where}: action "*"`);
      else if (s.effect === 'Allow' && /^[a-z0-9-]+:\*$/i.test(a)) findings.push(`${s.where}: Allow of service wildcard ${a}`);
    }
    if (s.effect === 'Allow' && s.notActions.length > 0) findings.push(`${s.where}: Allow with NotAction`);
  };
  for (const attr of policyAttributes(cfg)) {
    const r = await policyStatements(cfg, attr.value, attr.where);
    findings.push(...r.findings);
    for (const s of r.statements) {
      seen.add(s.where.replace(/\[[^\]]*\]$/, ''));
      inspect(s);
    }
  }
  // Documents not (yet) attached anywhere are checked too.
  for (const name of Object.keys(cfg.data.aws_iam_policy_document ?? {})) {
    if (!seen.has(`data.aws_iam_policy_document.${name}`)) docStatements(cfg, name).forEach(inspect);
  }
  return [...new Set(findings)];
}

/**
 * Role policies name their resources: no Allow on Resource "*", except the statements listed in `allowed` (by
 * where: `data.aws_iam_policy_document.<doc>[<sid>]`), for actions AWS authorises on "*" only.
 */
async function checkRoleResourcesScoped(cfg: TfConfig, allowed: string[] = []): Promise<string[]> {
  const findings: string[] = [];
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    for (const s of statements) {
      if (s.notResources.length === 0 && allowed.includes(s.where)) continue;
      if (s.effect === 'Allow' && (s.resources.includes('*') || s.notResources.length > 0)) {
        findings.push(`aws_iam_role.${role} ${s.where}: Allow on Resource "*"`);
      }
    }
  }
  return findings;
}

/**
 * Identity store key policy: kms:Decrypt is allowed to the reidentify role only (not root, not ingest);
 * the writers (ingest, triage, the import chunk step) get GenerateDataKey/Encrypt and nothing else; nobody may
 * create grants or re-encrypt.
 */
async function checkIdentityKeyPolicy(cfg: TfConfig): Promise<string[]> {
  const key = cfg.resource.aws_kms_key?.[keyOf('identity')];
  if (!key) return ['aws_kms_key.this["identity"]: missing'];
  const { statements, findings } = await policyStatements(cfg, key.policy, 'aws_kms_key.this["identity"].policy');
  const reidentify = `\${aws_iam_role.${roleOf('reidentify')}.arn}`;
  let decryptGranted = false;
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    const ids = s.principals.flatMap((p) => p.identifiers);
    if (['kms:Decrypt', 'kms:ReEncryptFrom', 'kms:CreateGrant'].some((a) => statementAllows(s, a))) {
      if (statementAllows(s, 'kms:Decrypt') && ids.length === 1 && ids[0] === reidentify && s.principals[0].type === 'AWS') {
        decryptGranted = true;
        if (s.actions.some((a) => a !== 'kms:Decrypt')) {
          findings.push(`${s.where}: the reidentify statement must allow exactly kms:Decrypt (got ${s.actions.join(', ')})`);
        }
      } else {
        findings.push(`${s.where}: allows decrypt/re-encrypt/grants to ${ids.join(', ') || '(no principal)'} (only the reidentify role may decrypt)`);
      }
    }
    for (const writer of ['ingest', 'triage', 'importChunk']) {
      if (ids.some((id) => refersTo(id, `aws_iam_role.${roleOf(writer)}`))) {
        const extra = s.actions.filter((a) => a !== 'kms:GenerateDataKey' && a !== 'kms:Encrypt');
        if (extra.length > 0) findings.push(`${s.where}: ${writer} may only GenerateDataKey/Encrypt, also gets ${extra.join(', ')}`);
      }
    }
  }
  if (!decryptGranted) findings.push('aws_kms_key.this["identity"]: no statement lets the reidentify role decrypt');
  return findings;
}

/** Roles other than reidentify: no decrypt of the identity key, no reads of the identity bucket; reidentify can do both. */
async function checkIdentityAccessByRole(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const keyAddr = `aws_kms_key.${keyOf('identity')}`;
  const bucketAddr = `aws_s3_bucket.${bucketOf('identity')}`;
  const onKey = (s: Statement): boolean => s.resources.some((r) => r === '*' || refersTo(r, keyAddr));
  const onBucket = (s: Statement): boolean => s.resources.some((r) => r === '*' || refersTo(r, bucketAddr));
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    const decrypts = statements.some((s) => onKey(s) && (statementAllows(s, 'kms:Decrypt') || statementAllows(s, 'kms:ReEncryptFrom')));
    const reads = statements.some((s) => onBucket(s) && (statementAllows(s, 's3:GetObject') || statementAllows(s, 's3:GetObjectVersion')));
    if (role === roleOf('reidentify')) {
      if (!decrypts) findings.push(`aws_iam_role.${role}: cannot kms:Decrypt the identity key`);
      if (!reads) findings.push(`aws_iam_role.${role}: cannot s3:GetObject the identity bucket`);
    } else {
      if (decrypts) findings.push(`aws_iam_role.${role}: may kms:Decrypt the identity key`);
      if (reads) findings.push(`aws_iam_role.${role}: may read the identity bucket`);
    }
  }
  return findings;
}

/** No role can delete, unlock or re-lock audit records (belt and braces with Object Lock). */
async function checkAuditAppendOnly(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const forbidden = ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention', 's3:PutBucketObjectLockConfiguration', 's3:PutLifecycleConfiguration', 's3:PutBucketPolicy', 's3:DeleteBucket'];
  for (const role of Object.keys(cfg.resource.aws_iam_role ?? {})) {
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    for (const s of statements) {
      if (!s.resources.some((r) => r === '*' || refersTo(r, `aws_s3_bucket.${bucketOf('audit')}`))) continue;
      const hits = forbidden.filter((a) => statementAllows(s, a));
      if (hits.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: ${hits.join(', ')} on the audit bucket`);
    }
  }
  return findings;
}

/** The ETL role's policies do not mention the identity store at all (bucket, key, or anything named identity). */
async function checkEtlIsolation(cfg: TfConfig): Promise<string[]> {
  const role = roleOf('etl');
  const { statements, findings } = await rolePolicyStatements(cfg, role);
  if (statements.length === 0) findings.push(`aws_iam_role.${role}: no policy statements found`);
  for (const s of statements) {
    const text = [...s.actions, ...s.resources, ...s.notResources, ...s.conditions.flatMap((c) => [c.variable, ...c.values])];
    const hit = text.find((t) => /identity/i.test(t) || t === '*');
    if (hit) findings.push(`aws_iam_role.${role} ${s.where}: mentions the identity store or everything (${hit})`);
  }
  return findings;
}


/** `action resource` pairs a role's Allow statements grant on the audit bucket or the audit key. */
async function auditGrants(cfg: TfConfig, role: string): Promise<string[]> {
  const { statements } = await rolePolicyStatements(cfg, role);
  const pairs = new Set<string>();
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    for (const r of s.resources.filter((x) => refersTo(x, `aws_s3_bucket.${bucketOf('audit')}`) || refersTo(x, `aws_kms_key.${keyOf('audit')}`))) {
      for (const a of s.actions) pairs.add(`${a} ${r}`);
    }
  }
  return [...pairs].sort();
}

/**
 * Least privilege of the functions that only log and audit (metadata, validate, notAllowed, authorizer): each
 * Allow statement is either CreateLogStream/PutLogEvents on the function's own log group, or a grant on the audit
 * bucket or audit key that the ingest role also has; and together they hold all of ingest's audit grants (so the
 * function can append to the hash chain). Anything else (another bucket or key, another function's log group, a
 * wider audit action) is a finding.
 */
async function checkAuditAppendRoles(cfg: TfConfig, functions: string[]): Promise<string[]> {
  const findings: string[] = [];
  const ingestAudit = await auditGrants(cfg, roleOf('ingest'));
  if (ingestAudit.length === 0) findings.push(`aws_iam_role.${roleOf('ingest')}: no audit grants to compare with`);
  for (const fn of functions) {
    const role = roleOf(fn);
    const { statements, findings: f } = await rolePolicyStatements(cfg, role);
    findings.push(...f);
    const ownLogs = `aws_cloudwatch_log_group.function["${fn}"]`;
    for (const s of statements) {
      if (s.effect !== 'Allow') continue;
      if (s.notActions.length > 0 || s.notResources.length > 0) {
        findings.push(`aws_iam_role.${role} ${s.where}: NotAction/NotResource`);
        continue;
      }
      const logsOnly = s.actions.every((a) => /^logs:(CreateLogStream|PutLogEvents)$/.test(a));
      if (logsOnly) {
        const other = s.resources.filter((r) => !r.includes(`\${${ownLogs}.arn}`));
        if (other.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: logs beyond its own log group: ${other.join(', ')}`);
        continue;
      }
      const beyond: string[] = [];
      for (const r of s.resources) {
        for (const a of s.actions) if (!ingestAudit.includes(`${a} ${r}`)) beyond.push(`${a} ${r}`);
      }
      if (beyond.length > 0) findings.push(`aws_iam_role.${role} ${s.where}: beyond logs and ingest's audit grants: ${beyond.join(', ')}`);
    }
    const granted = await auditGrants(cfg, role);
    const missing = ingestAudit.filter((g) => !granted.includes(g));
    if (missing.length > 0) findings.push(`aws_iam_role.${role}: cannot append to the audit trail, missing ${missing.join(', ')}`);
    if (!statements.some((s) => s.effect === 'Allow' && s.resources.some((r) => r.includes(`\${${ownLogs}.arn}`)))) {
      findings.push(`aws_iam_role.${role}: cannot write its log group ${ownLogs}`);
    }
  }
  return findings;
}

/** The queue subscribed to SNS has a DLQ redrive with maxReceiveCount, a queue policy scoped to the topic, KMS. */
async function checkQueues(cfg: TfConfig): Promise<string[]> {
  const findings: string[] = [];
  const queues = cfg.resource.aws_sqs_queue ?? {};
  const subscribed = Object.values(cfg.resource.aws_sns_topic_subscription ?? {}).flatMap((s) => referencedNames(s.endpoint, 'aws_sqs_queue'));
  if (subscribed.length === 0) findings.push('no SQS queue is subscribed to an SNS topic');
  for (const name of subscribed) {
    const q = queues[name];
    if (!q) {
      findings.push(`aws_sqs_queue.${name}: missing`);
      continue;
    }
    const redrive = await decodeJsonencode(q.redrive_policy);
    const dlqs = isObj(redrive) ? referencedNames(redrive.deadLetterTargetArn, 'aws_sqs_queue') : [];
    if (!isObj(redrive) || dlqs.length !== 1 || dlqs[0] === name || !queues[dlqs[0]]) {
      findings.push(`aws_sqs_queue.${name}: redrive_policy must send to another aws_sqs_queue (dead-letter queue)`);
    }
    if (!isObj(redrive) || redrive.maxReceiveCount === undefined) findings.push(`aws_sqs_queue.${name}: redrive_policy has no maxReceiveCount`);
    const policies = resourcesFor(cfg, 'aws_sqs_queue_policy', 'queue_url', `aws_sqs_queue.${name}`);
    let snsAllowed = false;
    for (const [pname, body] of policies) {
      const r = await policyStatements(cfg, body.policy, `aws_sqs_queue_policy.${pname}`);
      findings.push(...r.findings);
      snsAllowed ||= r.statements.some(
        (s) =>
          statementAllows(s, 'sqs:SendMessage') &&
          s.principals.some((p) => p.type === 'Service' && p.identifiers.includes('sns.amazonaws.com')) &&
          s.conditions.some((c) => c.variable === 'aws:SourceArn' && c.values.some((v) => refersTo(v, 'aws_sns_topic'))),
      );
    }
    if (!snsAllowed) findings.push(`aws_sqs_queue.${name}: no queue policy letting only the SNS topic (aws:SourceArn) send`);
  }
  for (const [name, q] of Object.entries(queues)) {
    if (!referencedNames(q.kms_master_key_id, 'aws_kms_key').length) findings.push(`aws_sqs_queue.${name}: not encrypted with a customer key`);
  }
  for (const [name, t] of Object.entries(cfg.resource.aws_sns_topic ?? {})) {
    if (!referencedNames(t.kms_master_key_id, 'aws_kms_key').length) findings.push(`aws_sns_topic.${name}: not encrypted with a customer key`);
  }
  return findings;
}

/**
 * A concrete ARN or name for one environment: sample values for the account, region and partition, the service
 * name's default and the environment, and the other locals (string values) expanded.
 */
function concrete(cfg: TfConfig, s: string, environment: string): string {
  const sample: Record<string, string> = {
    'local.partition': 'aws',
    'local.region': 'eu-west-2',
    'local.account_id': '111111111111',
    'var.service_name': String(cfg.variable.service_name?.default),
    'var.environment': environment,
  };
  let out = s;
  for (let i = 0; i < 5 && out.includes('${'); i++) {
    out = out.replace(/\$\{([\w.]+)\}/g, (all, ref: string) => {
      if (ref in sample) return sample[ref];
      const local = /^local\.(\w+)$/.exec(ref);
      const v = local ? cfg.locals[local[1]] : undefined;
      return typeof v === 'string' ? v : all;
    });
  }
  return out;
}

/** IAM resource glob match (`*` and `?`, case-sensitive like ARNs). */
function resourceCovers(pattern: string, arn: string): boolean {
  return new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c))).join('')}$`).test(arn);
}

/**
 * The REST API's access log group (an instance of the service log groups, logs.tf): created by Terraform under the
 * name Serverless v3 hard-codes as the access log destination (/aws/api-gateway/<service>-<stage>), with retention
 * and the logs KMS key, like the function log groups; the logs key lets the CloudWatch Logs service use it for this
 * account's log groups.
 */
async function checkApiAccessLogGroup(cfg: TfConfig): Promise<string[]> {
  const addr = 'aws_cloudwatch_log_group.service["api_access"]';
  const lg = cfg.resource.aws_cloudwatch_log_group?.['service["api_access"]'];
  if (!lg) return [`${addr}: missing`];
  const findings: string[] = [];
  const service = String(cfg.variable.service_name?.default);
  for (const env of ['dev', 'staging', 'prod']) {
    const name = concrete(cfg, String(lg.name), env);
    if (name !== `/aws/api-gateway/${service}-${env}`) findings.push(`${addr}: name for ${env} is ${name}, not Serverless's /aws/api-gateway/${service}-${env}`);
  }
  if (lg.retention_in_days !== '${var.log_retention_days}') findings.push(`${addr}: retention_in_days is ${String(lg.retention_in_days)}, not var.log_retention_days`);
  if (referencedNames(lg.kms_key_id, 'aws_kms_key').join() !== keyOf('logs')) findings.push(`${addr}: kms_key_id is ${String(lg.kms_key_id)}, not the logs key`);
  const key = cfg.resource.aws_kms_key?.[keyOf('logs')];
  const { statements, findings: f } = await policyStatements(cfg, key?.policy, 'aws_kms_key.this["logs"].policy');
  findings.push(...f);
  const logsService = statements.some(
    (s) =>
      statementAllows(s, 'kms:GenerateDataKey') &&
      statementAllows(s, 'kms:Decrypt') &&
      s.principals.some((p) => p.type === 'Service' && p.identifiers.some((id) => /^logs\./.test(id))) &&
      s.conditions.some((c) => c.variable === 'kms:EncryptionContext:aws:logs:arn' && c.values.some((v) => resourceCovers(concrete(cfg, v, 'dev'), `arn:aws:logs:eu-west-2:111111111111:log-group:/aws/api-gateway/${service}-dev`))),
  );
  if (!logsService) findings.push('aws_kms_key.this["logs"]: the CloudWatch Logs service may not use the key for the access log group');
  return findings;
}

/** What the account-level API Gateway CloudWatch role may do: write log streams and events, look up groups. */
const API_GATEWAY_LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams', 'logs:DescribeLogGroups'];

/**
 * The account-level API Gateway CloudWatch role: aws_api_gateway_account points at aws_iam_role.<role>, which only
 * apigateway.amazonaws.com may assume, and whose policies are analysable (no managed policy) and grant only
 * the CloudWatch push rights: API_GATEWAY_LOG_ACTIONS, the writes only into API Gateway access log groups
 * (never "*", every log group, or the function log groups), enough to write the access log group of every stage.
 */
async function checkApiGatewayCloudWatchRole(cfg: TfConfig, role = 'api_gateway_cloudwatch'): Promise<string[]> {
  const addr = `aws_iam_role.${role}`;
  const findings: string[] = [];
  const accounts = Object.entries(cfg.resource.aws_api_gateway_account ?? {});
  if (accounts.length !== 1) findings.push(`expected 1 aws_api_gateway_account, found ${accounts.length}`);
  for (const [name, body] of accounts) {
    if (!anyRefersTo(body.cloudwatch_role_arn, addr)) findings.push(`aws_api_gateway_account.${name}: cloudwatch_role_arn is not ${addr}`);
  }
  const body = cfg.resource.aws_iam_role?.[role];
  if (!body) return [...findings, `${addr}: missing`];
  const trust = await policyStatements(cfg, body.assume_role_policy, `${addr}.assume_role_policy`);
  findings.push(...trust.findings);
  for (const s of trust.statements) {
    const ids = s.principals.map((p) => `${p.type}:${p.identifiers.join(',')}`);
    if (s.effect === 'Allow' && (ids.join() !== 'Service:apigateway.amazonaws.com' || s.actions.join() !== 'sts:AssumeRole')) {
      findings.push(`${s.where}: trust must be sts:AssumeRole by apigateway.amazonaws.com only (got ${s.actions.join(', ')} by ${ids.join(', ') || 'nobody'})`);
    }
  }
  const { statements, findings: f } = await rolePolicyStatements(cfg, role);
  findings.push(...f);
  const service = String(cfg.variable.service_name?.default);
  const writable = (env: string, action: string): boolean =>
    statements.some((s) => {
      const group = `arn:aws:logs:eu-west-2:111111111111:log-group:/aws/api-gateway/${service}-${env}`;
      const target = action === 'logs:PutLogEvents' ? `${group}:log-stream:x` : group;
      return statementAllows(s, action) && s.resources.some((r) => resourceCovers(concrete(cfg, r, env), target));
    });
  for (const s of statements) {
    if (s.effect !== 'Allow') continue;
    if (s.notActions.length > 0 || s.notResources.length > 0) findings.push(`${s.where}: NotAction/NotResource`);
    const extra = s.actions.filter((a) => !API_GATEWAY_LOG_ACTIONS.includes(a));
    if (extra.length > 0) findings.push(`${s.where}: beyond the CloudWatch push rights: ${extra.join(', ')}`);
    const writes = s.actions.filter((a) => a !== 'logs:DescribeLogGroups');
    for (const r of writes.length > 0 ? s.resources : []) {
      const arn = concrete(cfg, r, 'dev');
      if (!/:log-group:\/aws\/api-gateway\/[^*]/.test(arn)) findings.push(`${s.where}: ${writes.join(', ')} on ${r}, not only API Gateway access log groups`);
      if (resourceCovers(arn, 'arn:aws:logs:eu-west-2:111111111111:log-group:/aws/lambda/tributary-dev-ingest')) findings.push(`${s.where}: may write the function log groups (${r})`);
    }
  }
  for (const env of ['dev', 'staging', 'prod']) {
    for (const action of ['logs:CreateLogStream', 'logs:PutLogEvents']) {
      if (!writable(env, action)) findings.push(`${addr}: no ${action} on /aws/api-gateway/${service}-${env}`);
    }
  }
  return findings;
}

/** `${aws_s3_bucket.lake}` → `aws_s3_bucket.lake`. */
function unwrapAddress(v: Json | undefined): string {
  return String(v).replace(/^\$\{(.*)\}$/, '$1');
}

/**
 * The moved blocks of a (expanded) configuration against the former addresses and where they should go: each former
 * address moves exactly once, to that instance; a moved block points at an instance the configuration declares, of
 * the same type, from an address it no longer declares; and every instance of a resource some move targets is the
 * target of one (otherwise an existing deployment would create it beside the old object, then destroy the old one),
 * except the instances listed in `added`: created after the maps were, they had no former address, and no move
 * may target them (a plan would take over whatever object sat at the move's source).
 */
function checkMoves(cfg: TfConfig, expected: [string, string][], added: string[] = []): string[] {
  const findings: string[] = [];
  const moves = cfg.moved.map((m) => ({ from: unwrapAddress(m.from), to: unwrapAddress(m.to) }));
  const split = (address: string): [string, string] => {
    const dot = address.indexOf('.');
    return [address.slice(0, dot), address.slice(dot + 1)];
  };
  for (const [from, to] of expected) {
    const found = moves.filter((m) => m.from === from);
    if (found.length === 0) findings.push(`${from}: no moved block (a plan would destroy it and create ${to})`);
    else if (found.length > 1) findings.push(`${from}: ${found.length} moved blocks`);
    else if (found[0].to !== to) findings.push(`${from}: moved to ${found[0].to}, not ${to}`);
  }
  const targets = new Set<string>();
  for (const { from, to } of moves) {
    if (!expected.some(([f]) => f === from)) findings.push(`moved block from ${from}: not a former address`);
    if (added.includes(to)) findings.push(`moved block to ${to}: a new instance, which had no former address`);
    if (targets.has(to)) findings.push(`${to}: target of more than one moved block`);
    targets.add(to);
    const [fromType, fromName] = split(from);
    const [toType, toName] = split(to);
    if (fromType !== toType) findings.push(`moved block ${from} → ${to}: another resource type`);
    if (cfg.resource[fromType]?.[fromName]) findings.push(`moved block from ${from}: still declared`);
    if (!cfg.resource[toType]?.[toName]) findings.push(`moved block to ${to}: no such instance`);
  }
  const movedResources = new Set([...targets].map((t) => t.replace(/\[[^\]]*\]$/, '')));
  for (const resource of movedResources) {
    const [type, base] = split(resource);
    for (const name of Object.keys(cfg.resource[type] ?? {})) {
      const instance = `${type}.${name}`;
      if (name.startsWith(`${base}[`) && !targets.has(instance) && !added.includes(instance)) findings.push(`${instance}: no former address moves here`);
    }
  }
  return findings;
}

/**
 * Copied blocks: two single-instance resources (no for_each or count) of one type whose bodies have the same shape
 * (the same attributes and blocks, nested alike, the same numbers and booleans) and differ only in strings: names,
 * references, descriptions. Such blocks belong in one for_each over a map of what differs.
 */
function copiedBlocks(cfg: TfConfig): string[] {
  const shape = (v: Json): Json => {
    if (typeof v === 'string') return '…';
    if (Array.isArray(v)) return v.map(shape);
    if (isObj(v)) return Object.fromEntries(Object.keys(v).sort().map((k) => [k, shape(v[k])]));
    return v;
  };
  const findings: string[] = [];
  for (const [type, byName] of Object.entries(cfg.resource)) {
    const byShape = new Map<string, string[]>();
    for (const [name, body] of Object.entries(byName)) {
      if ('for_each' in body || 'count' in body) continue;
      const key = JSON.stringify(shape(body));
      byShape.set(key, [...(byShape.get(key) ?? []), name]);
    }
    for (const names of byShape.values()) if (names.length > 1) findings.push(`${type}: ${names.join(', ')} are copies of one block`);
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// Formatting (the canonical `terraform fmt` layout, as implemented by hclwrite's formatter)
// ---------------------------------------------------------------------------------------------------------

type TokKind = 'open' | 'close' | 'interp' | 'interpEnd' | 'eq' | 'comment' | 'heredoc' | 'other';
interface Tok {
  kind: TokKind;
  start: number;
  end: number;
}

/** Lexes one line of HCL into the tokens that matter for layout: brackets, the `=` of attributes, comments. */
function lexLine(line: string): { toks: Tok[]; heredocMarker?: string } {
  const toks: Tok[] = [];
  // stack of open contexts: 'code-brace' (a { in code), 'interp' (${ or %{ in a string)
  const stack: ('brace' | 'interp')[] = [];
  let inString = false;
  let i = 0;
  let heredocMarker: string | undefined;
  while (i < line.length) {
    const c = line[i];
    if (inString) {
      if (c === '\\') {
        i += 2;
        continue;
      }
      if ((c === '$' || c === '%') && line[i + 1] === '{' && line[i - 1] !== c) {
        toks.push({ kind: 'interp', start: i, end: i + 2 });
        stack.push('interp');
        inString = false;
        i += 2;
        continue;
      }
      if (c === '"') {
        toks.push({ kind: 'other', start: i, end: i + 1 });
        inString = false;
      }
      i += 1;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      i += 1;
      continue;
    }
    if (c === '#' || (c === '/' && (line[i + 1] === '/' || line[i + 1] === '*'))) {
      toks.push({ kind: 'comment', start: i, end: line.length });
      break;
    }
    if (c === '"') {
      toks.push({ kind: 'other', start: i, end: i + 1 });
      inString = true;
      i += 1;
      continue;
    }
    if (c === '<' && line[i + 1] === '<' && /^<<-?[A-Za-z_]/.test(line.slice(i))) {
      const m = /^<<-?([A-Za-z_][\w-]*)/.exec(line.slice(i));
      heredocMarker = m ? m[1] : undefined;
      toks.push({ kind: 'heredoc', start: i, end: line.length });
      break;
    }
    if (c === '{' || c === '[' || c === '(') {
      if (c === '{') stack.push('brace');
      toks.push({ kind: 'open', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if (c === '}' || c === ']' || c === ')') {
      if (c === '}') {
        const top = stack.pop();
        if (top === 'interp') {
          toks.push({ kind: 'interpEnd', start: i, end: i + 1 });
          inString = true;
          i += 1;
          continue;
        }
      }
      toks.push({ kind: 'close', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if (c === '=') {
      const next = line[i + 1];
      if (next === '=' || next === '>') {
        toks.push({ kind: 'other', start: i, end: i + 2 });
        i += 2;
        continue;
      }
      toks.push({ kind: 'eq', start: i, end: i + 1 });
      i += 1;
      continue;
    }
    if ((c === '!' || c === '<' || c === '>') && line[i + 1] === '=') {
      toks.push({ kind: 'other', start: i, end: i + 2 });
      i += 2;
      continue;
    }
    // identifiers, numbers, operators: one token per run of word characters, else per character
    let j = i + 1;
    if (/[\w.\-*]/.test(c)) while (j < line.length && /[\w.\-*]/.test(line[j])) j += 1;
    toks.push({ kind: 'other', start: i, end: j });
    i = j;
  }
  return { toks, heredocMarker };
}

function bracketChange(t: Tok): number {
  return t.kind === 'open' || t.kind === 'interp' ? 1 : t.kind === 'close' || t.kind === 'interpEnd' ? -1 : 0;
}

interface LineInfo {
  n: number;
  text: string;
  toks: Tok[];
  inHeredoc: boolean;
  assignEq?: Tok; // the `=` of a single-line attribute (hclwrite's "assign" cell)
  leadEnd?: number; // column just after the attribute name
  comment?: Tok; // trailing comment after other tokens (hclwrite's "comment" cell)
  contentEnd?: number; // column just after the last non-comment token
}

/**
 * Findings for the layout rules `terraform fmt` enforces and that can be checked textually:
 * LF line endings, no tabs, no trailing whitespace, one final newline; 2-space indentation by bracket depth
 * (hclwrite's indent stack); `=` of consecutive single-line attributes aligned one column after the longest
 * name (a blank line, a comment line, a block line or a multi-line value ends the group); one space after
 * `=`; trailing comments of consecutive lines aligned; block headers with single spaces.
 */
function formatFindings(file: string, content: string): string[] {
  const findings: string[] = [];
  if (content.includes('\r')) findings.push(`${file}: CR characters (use LF line endings)`);
  if (content.length > 0 && !content.endsWith('\n')) findings.push(`${file}: no final newline`);
  if (content.endsWith('\n\n')) findings.push(`${file}: blank lines at end of file`);
  const rawLines = content.replace(/\r/g, '').split('\n');
  if (rawLines[rawLines.length - 1] === '') rawLines.pop();

  const lines: LineInfo[] = [];
  let heredocEnd: string | undefined;
  rawLines.forEach((text, idx) => {
    const n = idx + 1;
    if (text.includes('\t')) findings.push(`${file}:${n}: tab character`);
    if (/[ \t]+$/.test(text)) findings.push(`${file}:${n}: trailing whitespace`);
    if (heredocEnd !== undefined) {
      lines.push({ n, text, toks: [], inHeredoc: true });
      if (text.trim() === heredocEnd) heredocEnd = undefined;
      return;
    }
    const { toks, heredocMarker } = lexLine(text);
    if (heredocMarker) heredocEnd = heredocMarker;
    const info: LineInfo = { n, text, toks, inHeredoc: false };
    const nonComment = toks.filter((t) => t.kind !== 'comment');
    if (toks.length > 1 && toks[toks.length - 1].kind === 'comment') info.comment = toks[toks.length - 1];
    if (nonComment.length > 0) info.contentEnd = nonComment[nonComment.length - 1].end;
    const eqIdx = toks.findIndex((t) => t.kind === 'eq');
    if (eqIdx > 0) {
      let net = 0;
      for (const t of toks.slice(eqIdx)) {
        net += bracketChange(t);
        if (t.kind === 'heredoc') break;
      }
      if (net === 0) {
        info.assignEq = toks[eqIdx];
        info.leadEnd = toks[eqIdx - 1].end;
      }
    }
    lines.push(info);
  });

  // Indentation (hclwrite formatIndent).
  const indents: number[] = [];
  for (const l of lines) {
    if (l.inHeredoc || l.toks.length === 0) continue;
    let net = 0;
    for (const t of l.toks) net += bracketChange(t);
    let expected: number;
    if (net > 0) {
      expected = 2 * indents.length;
      indents.push(net);
    } else if (net < 0) {
      let closed = -net;
      while (closed > 0 && indents.length > 0) {
        const top = indents[indents.length - 1];
        if (closed > top) {
          closed -= top;
          indents.pop();
        } else if (closed < top) {
          indents[indents.length - 1] -= closed;
          closed = 0;
        } else {
          indents.pop();
          closed = 0;
        }
      }
      expected = 2 * indents.length;
    } else {
      expected = 2 * indents.length;
    }
    const actual = /^ */.exec(l.text)?.[0].length ?? 0;
    if (actual !== expected) findings.push(`${file}:${l.n}: indented ${actual} spaces, expected ${expected}`);
  }

  // `=` alignment within chains of consecutive single-line attributes (hclwrite formatCells).
  const closeChain = (chain: LineInfo[], expectedCol: (c: LineInfo[]) => number, actualCol: (l: LineInfo) => number, what: string): void => {
    if (chain.length === 0) return;
    const col = expectedCol(chain);
    for (const l of chain) {
      if (actualCol(l) !== col) findings.push(`${file}:${l.n}: ${what} at column ${actualCol(l) + 1}, expected ${col + 1}`);
    }
  };
  let chain: LineInfo[] = [];
  for (const l of [...lines, undefined]) {
    if (l && l.assignEq && !l.inHeredoc) {
      chain.push(l);
      continue;
    }
    closeChain(chain, (c) => Math.max(...c.map((x) => x.leadEnd ?? 0)) + 1, (x) => x.assignEq?.start ?? -1, '"="');
    chain = [];
  }
  // trailing comments of consecutive lines
  chain = [];
  for (const l of [...lines, undefined]) {
    if (l && l.comment && !l.inHeredoc) {
      chain.push(l);
      continue;
    }
    closeChain(chain, (c) => Math.max(...c.map((x) => x.contentEnd ?? 0)) + 1, (x) => x.comment?.start ?? -1, 'comment');
    chain = [];
  }

  for (const l of lines) {
    if (l.inHeredoc) continue;
    // exactly one space after any attribute `=` (aligned or not)
    const eqs = l.toks.filter((t) => t.kind === 'eq');
    if (eqs.length > 0) {
      const eq = eqs[0];
      if (l.text[eq.end] !== ' ' || l.text[eq.end + 1] === ' ') findings.push(`${file}:${l.n}: expected exactly one space after "="`);
      if (!l.assignEq && eq.start > 0 && (l.text[eq.start - 1] !== ' ' || l.text[eq.start - 2] === ' ')) {
        findings.push(`${file}:${l.n}: expected exactly one space before "=" of a multi-line value`);
      }
    }
    // terraform fmt unwraps interpolation-only strings ("${var.x}" -> var.x) and unquotes type names
    if (l.assignEq) {
      const value = l.toks.slice(l.toks.indexOf(l.assignEq) + 1).filter((t) => t.kind !== 'comment');
      const open = value[0];
      const close = value[value.length - 1];
      if (value.length >= 4 && l.text[open.start] === '"' && value[1].kind === 'interp' && value[1].start === open.end && l.text[close.start] === '"') {
        let depth = 0;
        let end = -1;
        for (let k = 1; k < value.length; k += 1) {
          depth += bracketChange(value[k]);
          if (depth === 0) {
            end = k;
            break;
          }
        }
        if (end === value.length - 2 && value[end].end === close.start) findings.push(`${file}:${l.n}: interpolation-only string (terraform fmt unwraps "\${x}" to x)`);
      }
    }
    if (/^\s*type\s*=\s*"(string|number|bool|list|map|set|any)"\s*$/.test(l.text)) findings.push(`${file}:${l.n}: quoted type name (terraform fmt unquotes it)`);
    // block headers: `type "label" "label" {` or `type {}` with single spaces
    const trimmed = l.text.trim();
    if (/^[A-Za-z_][\w-]*(\s+"[^"]*")*\s*\{\s*\}?$/.test(trimmed) && !/^[A-Za-z_][\w-]*(\s"[^"]*")* \{\}?$/.test(trimmed)) {
      findings.push(`${file}:${l.n}: block header spacing (expected single spaces: type "label" {)`);
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

const REQUIRED_SSM = [
  'lake_bucket',
  'marts_bucket',
  'identity_bucket',
  'triage_bucket',
  'audit_bucket',
  'lake_kms_key_arn',
  'identity_kms_key_arn',
  'audit_kms_key_arn',
  'triage_kms_key_arn',
  'hmac_kms_key_arn',
  'glue_database',
  'ingest_topic_arn',
  'etl_queue_arn',
  'etl_dlq_arn',
  'versions_table',
  'ingest_role_arn',
  'etl_role_arn',
  'metadata_role_arn',
  'validate_role_arn',
  'not_allowed_role_arn',
  'authorizer_role_arn',
  'triage_role_arn',
  'reidentify_role_arn',
  'analysis_role_arn',
  'study_kms_key_arn',
  'oidc_issuer',
  'oidc_audience',
  'api_endpoint_type',
  'import_bucket',
  'import_kms_key_arn',
  'import_plan_role_arn',
  'import_chunk_role_arn',
  'import_finish_role_arn',
  'import_state_machine_arn',
];

/** local.functions of the module: every Lambda function (serverless.yml's keys), one role and log group each. */
const FUNCTIONS = ['ingest', 'metadata', 'validate', 'notAllowed', 'authorizer', 'etl', 'triage', 'reidentify', 'analysis', 'recovery', 'ops', 'importPlan', 'importChunk', 'importFinish'];
/** The functions whose role may only write their logs and append to the audit trail. */
const AUDIT_ONLY_FUNCTIONS = ['metadata', 'validate', 'notAllowed', 'authorizer'];

/** The resources of each bucket (s3.tf): one for_each over local.buckets each (Object Lock: the locked buckets only). */
const BUCKET_TYPES = [
  'aws_s3_bucket',
  'aws_s3_bucket_ownership_controls',
  'aws_s3_bucket_public_access_block',
  'aws_s3_bucket_versioning',
  'aws_s3_bucket_server_side_encryption_configuration',
  'aws_s3_bucket_policy',
  'aws_s3_bucket_lifecycle_configuration',
  'aws_s3_bucket_object_lock_configuration',
];

interface BucketExpectation {
  /** The bucket name in dev (<prefix>-<name>-<account>-<region>): changing it replaces the bucket. */
  name: string;
  forceDestroy: Json;
  /** Object Lock default retention (COMPLIANCE), for a bucket created with Object Lock (which forces a new bucket too). */
  objectLockDays?: string;
  /** S3 Bucket Key on the SSE-KMS default encryption. */
  bucketKey: boolean;
  /** The lifecycle rules, in order, as the configuration renders them. */
  lifecycle: Obj[];
  /** The statements the bucket policy adds after the TLS-only pair. */
  extraPolicy: Obj[];
}

/** Denies of everything to everyone on the bucket and its objects without TLS, or with TLS older than 1.2. */
const tlsOnly = (arn: string): Obj[] =>
  [
    ['DenyInsecureTransport', 'Bool', 'aws:SecureTransport', 'false'],
    ['DenyOldTls', 'NumericLessThan', 's3:TlsVersion', '1.2'],
  ].map(([sid, test, variable, value]) => ({
    sid,
    effect: 'Deny',
    actions: ['s3:*'],
    resources: [arn, `${arn}/*`],
    principals: [{ type: '*', identifiers: ['*'] }],
    condition: [{ test, variable, values: [value] }],
  }));

/**
 * Each bucket exactly as its own blocks declared it before the buckets came from local.buckets: the per-bucket
 * test checks every resource of the bucket against this, attribute by attribute.
 */
const BUCKETS: Record<string, BucketExpectation> = {
  lake: {
    name: 'tributary-dev-raw-lake-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'intelligent-tiering',
        status: 'Enabled',
        filter: [{}],
        transition: [{ days: '${var.lake_intelligent_tiering_days}', storage_class: 'INTELLIGENT_TIERING' }],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        expiration: [{ expired_object_delete_marker: true }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }],
      },
    ],
    extraPolicy: [],
  },
  marts: {
    name: 'tributary-dev-marts-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'athena-results',
        status: 'Enabled',
        filter: [{ prefix: 'athena-results/' }],
        expiration: [{ days: '${var.athena_results_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 1 }],
      },
      {
        id: 'noncurrent-versions',
        status: 'Enabled',
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 7 }],
      },
    ],
    extraPolicy: [],
  },
  identity: {
    name: 'tributary-dev-identity-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: false,
    lifecycle: [
      {
        id: 'superseded-identity-records',
        status: 'Enabled',
        filter: [{}],
        noncurrent_version_expiration: [{ noncurrent_days: '${var.lake_noncurrent_version_days}' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [
      {
        sid: 'DenyReadsToAllButReidentify',
        effect: 'Deny',
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: ['${aws_s3_bucket.this["identity"].arn}/*'],
        principals: [{ type: '*', identifiers: ['*'] }],
        condition: [{ test: 'StringNotEquals', variable: 'aws:PrincipalArn', values: ['${aws_iam_role.function["reidentify"].arn}'] }],
      },
      {
        sid: 'DenyOtherKmsKeys',
        effect: 'Deny',
        actions: ['s3:PutObject'],
        resources: ['${aws_s3_bucket.this["identity"].arn}/*'],
        principals: [{ type: '*', identifiers: ['*'] }],
        condition: [{ test: 'StringNotEqualsIfExists', variable: 's3:x-amz-server-side-encryption-aws-kms-key-id', values: ['${aws_kms_key.this["identity"].arn}'] }],
      },
    ],
  },
  triage: {
    name: 'tributary-dev-triage-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'expire-triage',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ days: '${var.triage_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 7 }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
  // new with the AWS bulk import path (import.tf): inputs and job state, everything expiring
  import: {
    name: 'tributary-dev-import-111111111111-eu-west-2',
    forceDestroy: '${var.force_destroy}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'expire-imports',
        status: 'Enabled',
        filter: [{}],
        expiration: [{ days: '${var.import_expiration_days}' }],
        noncurrent_version_expiration: [{ noncurrent_days: 1 }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
  audit: {
    name: 'tributary-dev-audit-111111111111-eu-west-2',
    forceDestroy: false,
    objectLockDays: '${var.audit_retention_days}',
    bucketKey: true,
    lifecycle: [
      {
        id: 'archive-audit',
        status: 'Enabled',
        filter: [{}],
        transition: [{ days: 90, storage_class: 'GLACIER_IR' }],
        abort_incomplete_multipart_upload: [{ days_after_initiation: 1 }],
      },
    ],
    extraPolicy: [],
  },
};

/**
 * Each KMS key of local.kms_keys (kms.tf): description after the prefix, key spec, policy document. The symmetric
 * ones as their own blocks declared them (the spec and usage now stated are the defaults they had); the study key
 * of the safe-analysis path (analysis.tf) is new, an HMAC key.
 */
const KEYS: Record<string, { description: string; spec: 'SYMMETRIC_DEFAULT' | 'HMAC_256'; policy: string }> = {
  lake: { description: 'raw lake (pseudonymised FHIR)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  marts: { description: 'marts and Athena results', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  triage: { description: 'triage (quarantined submissions)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  audit: { description: 'audit trail', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  versions: { description: 'FHIR version index table', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  identity: { description: 'identity store (re-identification data)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_identity' },
  logs: { description: 'CloudWatch Logs', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_logs' },
  messaging: { description: 'SNS topic and SQS queues', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_messaging' },
  import: { description: 'bulk import bucket (inputs, job state, error outputs)', spec: 'SYMMETRIC_DEFAULT', policy: 'kms_default' },
  study: { description: 'study pseudonym HMAC key (per-study pseudonyms of row-level extracts)', spec: 'HMAC_256', policy: 'kms_study' },
};

/** A role policy statement on one line: `Sid: actions on resources [if test variable values]`. */
function statementLine(s: Statement): string {
  let line = `${s.effect === 'Allow' ? '' : `${s.effect} `}${s.sid}: ${s.actions.join(', ')} on ${s.resources.join(', ')}`;
  if (s.notActions.length > 0 || s.notResources.length > 0 || s.principals.length > 0) line += ' (with NotAction/NotResource/Principal)';
  for (const c of s.conditions) line += ` if ${c.test} ${c.variable} ${c.values.join(', ')}`;
  return line;
}

const logsStatement = (fn: string): string => `Logs: logs:CreateLogStream, logs:PutLogEvents on \${aws_cloudwatch_log_group.function["${fn}"].arn}:*`;
const AUDIT_APPEND = [
  'AuditAppend: s3:PutObject, s3:GetObject on ${aws_s3_bucket.this["audit"].arn}/*',
  'AuditList: s3:ListBucket on ${aws_s3_bucket.this["audit"].arn}',
  'AuditKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["audit"].arn}',
];
const RAW_LAKE_WRITE = [
  'RawLakeObjects: s3:PutObject, s3:GetObject, s3:DeleteObject on ${aws_s3_bucket.this["lake"].arn}/*',
  'RawLakeList: s3:ListBucket on ${aws_s3_bucket.this["lake"].arn}',
  'RawLakeKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["lake"].arn}',
];
const LANDING = [
  'IdentityStoreWriteOnly: s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["identity"].arn}/*',
  'IdentityKeyEncryptOnly: kms:GenerateDataKey, kms:Encrypt on ${aws_kms_key.this["identity"].arn}',
  'Pseudonyms: kms:GenerateMac on ${[for key in aws_kms_key.hmac : key.arn]}',
  'VersionIndex: dynamodb:GetItem, dynamodb:BatchGetItem, dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem on ${aws_dynamodb_table.versions.arn}',
  'VersionIndexRecovery: dynamodb:Query on ${aws_dynamodb_table.versions.arn}/index/pending',
  'VersionIndexKey: kms:Encrypt, kms:Decrypt, kms:GenerateDataKey, kms:DescribeKey on ${aws_kms_key.this["versions"].arn} if StringEquals kms:ViaService dynamodb.${local.region}.amazonaws.com',
  'PublishEvents: sns:Publish on ${aws_sns_topic.ingest.arn}',
  'EventsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["messaging"].arn}',
];
const TRIAGE_WRITE = [
  'TriageWrite: s3:PutObject on ${aws_s3_bucket.this["triage"].arn}/*',
  'TriageKeyEncrypt: kms:GenerateDataKey on ${aws_kms_key.this["triage"].arn}',
];
/** The import bucket (import.tf): a job's inputs (read), its state (read and write, the import key), listing. */
const IMPORT_INPUTS_READ = ['ImportInputsRead: s3:GetObject on ${aws_s3_bucket.this["import"].arn}/inputs/*'];
const IMPORT_JOB_STATE = [
  'ImportJobState: s3:GetObject, s3:PutObject on ${aws_s3_bucket.this["import"].arn}/import-jobs/*',
  'ImportKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["import"].arn}',
];
const IMPORT_LIST = ['ImportList: s3:ListBucket on ${aws_s3_bucket.this["import"].arn}'];
const GLUE = 'arn:${local.partition}:glue:${local.region}:${local.account_id}';

interface RoleExpectation {
  /** The role is <prefix>-<name> (changing it replaces the role); its own policy is called <name>. */
  name: string;
  description: string;
  /** The trust policy document. */
  assume: string;
  /** Every policy attached to the role, by policy name: its statements, in order. */
  policies: Record<string, string[]>;
}

/**
 * Each function's role exactly as its own blocks declared it before the roles came from local.function_roles:
 * the per-role test compares every statement of every policy attached to the role with this, so a role can gain
 * nothing (an action, a resource, a statement, a policy) and lose nothing without failing it.
 */
const ROLES: Record<string, RoleExpectation> = {
  // the commit protocol's scheduled recovery (docs/commit-protocol.md): writes like ingest, cannot read identities
  recovery: {
    name: 'recovery',
    description: 'Tributary commit recovery: completes or rolls back in-flight writes (docs/commit-protocol.md). Cannot read the identity store.',
    assume: 'lambda_assume',
    policies: { recovery: [logsStatement('recovery'), ...RAW_LAKE_WRITE, ...LANDING, ...AUDIT_APPEND] },
  },
  ingest: {
    name: 'ingest',
    description: 'Tributary ingest: validates, pseudonymises and lands FHIR.',
    assume: 'lambda_assume',
    policies: {
      // and, for $import's kick-off and status (import.tf), the import bucket: inputs exist, the job's state
      ingest: [logsStatement('ingest'), ...RAW_LAKE_WRITE, ...TRIAGE_WRITE, ...LANDING, ...AUDIT_APPEND, ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...IMPORT_LIST],
    },
  },
  triage: {
    name: 'triage',
    description: 'Tributary triage recheck: re-ingests held submissions.',
    assume: 'lambda_assume',
    policies: {
      triage: [
        logsStatement('triage'),
        'TriageObjects: s3:GetObject, s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["triage"].arn}/*',
        'TriageList: s3:ListBucket on ${aws_s3_bucket.this["triage"].arn}',
        'TriageKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["triage"].arn}',
        ...RAW_LAKE_WRITE,
        ...LANDING,
        ...AUDIT_APPEND,
      ],
    },
  },
  etl: {
    name: 'etl',
    description: 'Tributary ETL: raw lake to marts. No identity store access.',
    assume: 'lambda_assume',
    policies: {
      etl: [
        logsStatement('etl'),
        'ConsumeQueue: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes on ${aws_sqs_queue.etl.arn}',
        'QueueKey: kms:Decrypt on ${aws_kms_key.this["messaging"].arn}',
        'RawLakeRead: s3:GetObject on ${aws_s3_bucket.this["lake"].arn}/*',
        'RawLakeList: s3:ListBucket on ${aws_s3_bucket.this["lake"].arn}',
        'RawLakeKeyDecrypt: kms:Decrypt on ${aws_kms_key.this["lake"].arn}',
        'MartsObjects: s3:GetObject, s3:PutObject, s3:DeleteObject, s3:AbortMultipartUpload, s3:ListMultipartUploadParts on ${aws_s3_bucket.this["marts"].arn}/*',
        'MartsList: s3:ListBucket, s3:ListBucketMultipartUploads on ${aws_s3_bucket.this["marts"].arn}',
        'MartsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["marts"].arn}',
        `GlueCatalog: glue:GetDatabase, glue:GetTable, glue:GetTables, glue:CreateTable, glue:UpdateTable, glue:GetPartition, glue:GetPartitions, glue:BatchGetPartition, glue:CreatePartition, glue:BatchCreatePartition, glue:UpdatePartition on ${GLUE}:catalog, ${GLUE}:database/\${aws_glue_catalog_database.lake.name}, ${GLUE}:table/\${aws_glue_catalog_database.lake.name}/*`,
        'JobRecordsWrite: dynamodb:GetItem, dynamodb:PutItem on ${aws_dynamodb_table.jobs.arn}',
      ],
    },
  },
  ops: {
    name: 'ops',
    description: 'Tributary ops API (/ops/*): job records, audit verify, triage recheck, ETL retry.',
    assume: 'lambda_assume',
    // the console's API (issue 16): reads job records and the DLQ depth, rechecks triage items (re-ingests like the
    // triage role), re-publishes a failed job's event, and audits every request
    policies: {
      ops: [
        logsStatement('ops'),
        'JobRecordsRead: dynamodb:GetItem, dynamodb:Scan on ${aws_dynamodb_table.jobs.arn}',
        'DeadLetterDepth: sqs:GetQueueAttributes on ${aws_sqs_queue.etl_dlq.arn}',
        'TriageObjects: s3:GetObject, s3:PutObject, s3:DeleteObject on ${aws_s3_bucket.this["triage"].arn}/*',
        'TriageList: s3:ListBucket on ${aws_s3_bucket.this["triage"].arn}',
        'TriageKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["triage"].arn}',
        ...RAW_LAKE_WRITE,
        ...LANDING,
        ...AUDIT_APPEND,
      ],
    },
  },
  metadata: {
    name: 'metadata',
    description: 'Tributary CapabilityStatement: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { metadata: [logsStatement('metadata')], 'audit-append': AUDIT_APPEND },
  },
  validate: {
    name: 'validate',
    description: 'Tributary $validate (nothing stored): its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { validate: [logsStatement('validate')], 'audit-append': AUDIT_APPEND },
  },
  notAllowed: {
    name: 'not-allowed',
    description: 'Tributary refusals of unsupported methods and paths: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { 'not-allowed': [logsStatement('notAllowed')], 'audit-append': AUDIT_APPEND },
  },
  authorizer: {
    name: 'authorizer',
    description: 'Tributary JWT authorizer: its logs and audit append only.',
    assume: 'lambda_assume',
    policies: { authorizer: [logsStatement('authorizer')], 'audit-append': AUDIT_APPEND },
  },
  analysis: {
    name: 'analysis',
    description: 'Tributary safe analysis (POST /ops/analyses/{id}/run): approved analyses through the study workgroups.',
    assume: 'lambda_assume',
    // New with the safe-analysis path (no former blocks); the tables and folders the for expressions range over are
    // evaluated for the default studies, and checked against the registry, in test/unit/analysis-terraform.test.ts.
    policies: {
      analysis: [
        logsStatement('analysis'),
        'StudyWorkgroups: athena:StartQueryExecution, athena:GetQueryExecution, athena:GetQueryResults, athena:StopQueryExecution, athena:GetWorkGroup on ${[for w in aws_athena_workgroup.study : w.arn]}',
        `MartsDatabase: glue:GetDatabase on ${GLUE}:catalog, ${GLUE}:database/\${aws_glue_catalog_database.lake.name}`,
        `ApprovedMartsCatalog: glue:GetTable, glue:GetPartition, glue:GetPartitions, glue:BatchGetPartition on \${[for t in local.analysis_glue_tables : "${GLUE}:table/\${aws_glue_catalog_database.lake.name}/\${t}"]}`,
        'ApprovedMartsRead: s3:GetObject on ${[for f in local.analysis_mart_folders : "${aws_s3_bucket.this["marts"].arn}/marts/${f}/*"]}',
        'ApprovedMartsList: s3:ListBucket on ${aws_s3_bucket.this["marts"].arn} if StringLike s3:prefix ${concat([for f in local.analysis_mart_folders : "marts/${f}/*"], ["analysis-results/*"])}',
        'StudyResultsBucket: s3:GetBucketLocation on ${aws_s3_bucket.this["marts"].arn}',
        'StudyResults: s3:GetObject, s3:PutObject, s3:AbortMultipartUpload, s3:ListMultipartUploadParts on ${aws_s3_bucket.this["marts"].arn}/analysis-results/*',
        'Releases: s3:PutObject on ${aws_s3_bucket.this["marts"].arn}/releases/*',
        'MartsKey: kms:GenerateDataKey, kms:Decrypt on ${aws_kms_key.this["marts"].arn}',
        'StudyKey: kms:GenerateMac on ${aws_kms_key.this["study"].arn}',
        ...AUDIT_APPEND,
      ],
    },
  },
  // the steps of the bulk import state machine (import.tf), new with the AWS import path (no former blocks)
  importPlan: {
    name: 'import-plan',
    description: "Tributary bulk import plan step: reads a job's inputs and writes its chunk plan (import bucket only).",
    assume: 'lambda_assume',
    policies: { 'import-plan': [logsStatement('importPlan'), ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...IMPORT_LIST] },
  },
  importChunk: {
    name: 'import-chunk',
    description: 'Tributary bulk import chunk step: imports one chunk of an input through the ingest write path.',
    assume: 'lambda_assume',
    // its input's byte range and the job's state, then exactly ingest's write path (no listing of the import bucket)
    policies: { 'import-chunk': [logsStatement('importChunk'), ...IMPORT_INPUTS_READ, ...IMPORT_JOB_STATE, ...RAW_LAKE_WRITE, ...TRIAGE_WRITE, ...LANDING, ...AUDIT_APPEND] },
  },
  importFinish: {
    name: 'import-finish',
    description: "Tributary bulk import finish step: a job's error output, final state and audit record.",
    assume: 'lambda_assume',
    policies: { 'import-finish': [logsStatement('importFinish'), ...IMPORT_JOB_STATE, ...IMPORT_LIST, ...AUDIT_APPEND] },
  },
  reidentify: {
    name: 'reidentify',
    description: 'Tributary re-identification: the only principal that can decrypt the identity store.',
    assume: 'reidentify_assume',
    policies: {
      reidentify: [
        logsStatement('reidentify'),
        'IdentityStoreRead: s3:GetObject on ${aws_s3_bucket.this["identity"].arn}/*',
        'IdentityStoreList: s3:ListBucket on ${aws_s3_bucket.this["identity"].arn}',
        'IdentityKeyDecrypt: kms:Decrypt on ${aws_kms_key.this["identity"].arn}',
        ...AUDIT_APPEND,
      ],
    },
  },
};

/** The policies attached to a role, by policy name: each statement on one line (see statementLine). */
async function rolePolicies(cfg: TfConfig, role: string): Promise<{ policies: Record<string, string[]>; findings: string[] }> {
  const policies: Record<string, string[]> = {};
  const findings: string[] = [];
  for (const [name, body] of Object.entries(cfg.resource.aws_iam_role_policy ?? {})) {
    if (!anyRefersTo(body.role, `aws_iam_role.${role}`)) continue;
    const r = await policyStatements(cfg, body.policy, `aws_iam_role_policy.${name}`);
    findings.push(...r.findings);
    if (String(body.name) in policies) findings.push(`aws_iam_role.${role}: two policies named ${String(body.name)}`);
    policies[String(body.name)] = r.statements.map(statementLine);
  }
  for (const type of ['aws_iam_role_policy_attachment', 'aws_iam_policy_attachment']) {
    for (const [name, body] of Object.entries(cfg.resource[type] ?? {})) {
      if (anyRefersTo(body.role ?? body.roles, `aws_iam_role.${role}`)) findings.push(`${type}.${name}: attaches a managed policy to aws_iam_role.${role}`);
    }
  }
  return { policies, findings };
}

/**
 * Where every address of the module before its buckets, KMS keys and function roles came from maps lives now (the
 * moved blocks of moved.tf). Written out from the former blocks: lake, marts, identity, triage and audit buckets
 * (Object Lock: audit only), eight keys and aliases, eight roles with their policies, four audit-append policies, and
 * the API's access log group (now one of the service log groups).
 */
const FORMER_BUCKETS = ['lake', 'marts', 'identity', 'triage', 'audit'];
const FORMER_KEYS = ['lake', 'marts', 'triage', 'audit', 'versions', 'identity', 'logs', 'messaging'];
const FORMER_ROLES: Record<string, string> = {
  ingest: 'ingest',
  triage: 'triage',
  etl: 'etl',
  metadata: 'metadata',
  validate: 'validate',
  not_allowed: 'notAllowed',
  authorizer: 'authorizer',
  reidentify: 'reidentify',
};
const FORMER_ADDRESSES: [string, string][] = [
  ...BUCKET_TYPES.filter((t) => t !== 'aws_s3_bucket_object_lock_configuration').flatMap((type) =>
    FORMER_BUCKETS.map((b): [string, string] => [`${type}.${b}`, `${type}.this["${b}"]`]),
  ),
  ['aws_s3_bucket_object_lock_configuration.audit', 'aws_s3_bucket_object_lock_configuration.this["audit"]'],
  // the API's access log group, now an instance of the service log groups (logs.tf)
  ['aws_cloudwatch_log_group.api_access', 'aws_cloudwatch_log_group.service["api_access"]'],
  ...['aws_kms_key', 'aws_kms_alias'].flatMap((type) => FORMER_KEYS.map((k): [string, string] => [`${type}.${k}`, `${type}.this["${k}"]`])),
  ...Object.entries(FORMER_ROLES).flatMap(([old, fn]): [string, string][] => [
    [`aws_iam_role.${old}`, `aws_iam_role.function["${fn}"]`],
    [`aws_iam_role_policy.${old}`, `aws_iam_role_policy.function["${fn}"]`],
  ]),
  ...['metadata', 'validate', 'not_allowed', 'authorizer'].map((old): [string, string] => [`aws_iam_role_policy.${old}_audit`, `aws_iam_role_policy.audit_append["${FORMER_ROLES[old]}"]`]),
];

/**
 * Instances of the maps that joined them after the maps were made, and so never existed at a former address: the
 * safe-analysis path's study key and the analysis function's role (first deployed with the maps: no moved block).
 */
const ADDED_INSTANCES = [
  'aws_kms_key.this["study"]',
  'aws_kms_alias.this["study"]',
  'aws_iam_role.function["analysis"]',
  'aws_iam_role.function["ops"]',
  'aws_iam_role_policy.function["analysis"]',
  'aws_iam_role.function["recovery"]',
  'aws_iam_role_policy.function["recovery"]',
  'aws_iam_role_policy.function["ops"]',
  // the AWS bulk import path (import.tf): its bucket and key, the roles of its three steps, the state machine's log group
  ...BUCKET_TYPES.filter((t) => t !== 'aws_s3_bucket_object_lock_configuration').map((type) => `${type}.this["import"]`),
  'aws_kms_key.this["import"]',
  'aws_kms_alias.this["import"]',
  ...['importPlan', 'importChunk', 'importFinish'].flatMap((fn) => [`aws_iam_role.function["${fn}"]`, `aws_iam_role_policy.function["${fn}"]`]),
  'aws_cloudwatch_log_group.service["import_state_machine"]',
];

/** The module as written (for_each blocks), and expanded into its instances (what most checks look at). */
let modSource: TfConfig;
let mod: TfConfig;
let root: TfConfig;
let bootstrap: TfConfig;

beforeAll(async () => {
  modSource = await loadConfig(MODULE_DIR);
  mod = await expandConfig(modSource);
  root = await loadConfig(TF_DIR);
  bootstrap = await loadConfig(BOOTSTRAP_DIR);
});

describe('terraform files parse', () => {
  const files = listFiles(TF_DIR, ['.tf', '.tfvars', '.hcl']);

  test('the expected layout exists', () => {
    const rel = files.map((f) => path.relative(TF_DIR, f));
    for (const f of ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'backend.tf', 'bootstrap/main.tf']) expect(rel).toContain(f);
    for (const env of ['dev', 'staging', 'prod']) {
      expect(rel).toContain(`env/${env}.tfvars`);
      expect(rel).toContain(`env/${env}.backend.hcl`);
    }
    expect(rel.filter((f) => f.startsWith('modules/tributary/')).length).toBeGreaterThanOrEqual(5);
  });

  test.each(files.map((f) => [path.relative(TF_DIR, f), f]))('%s parses as HCL', async (_rel, file) => {
    const j = await parseFile(file);
    expect(Object.keys(j).length).toBeGreaterThan(0);
  });

  test('the parser rejects broken HCL (so the parse checks above can fail)', async () => {
    await expect(parse('broken.tf', 'resource "aws_s3_bucket" "x" {\n  bucket =\n}\n')).rejects.toThrow();
  });
});

describe('root module, backend and environments', () => {
  test('aws provider ~> 5 and terraform >= 1.5 are pinned in the root and the module', () => {
    for (const cfg of [root, mod, bootstrap]) {
      const tf = cfg.terraform.find((t) => blocks(t, 'required_providers').length > 0);
      expect(tf).toBeDefined();
      const aws = blocks(tf, 'required_providers')[0].aws;
      expect(isObj(aws) && aws.source).toBe('hashicorp/aws');
      expect(isObj(aws) && aws.version).toBe('~> 5.0');
      expect(String(tf?.required_version)).toMatch(/>=\s*1\.5/);
    }
  });

  test('the backend is a partial S3 configuration and each environment has a backend file with a lock table', async () => {
    const backend = root.terraform.flatMap((t) => blocks(t, 'backend'));
    expect(backend).toHaveLength(1);
    expect(blocks(backend[0], 's3')).toEqual([{}]);
    for (const env of ['dev', 'staging', 'prod']) {
      const b = await parseFile(path.join(TF_DIR, 'env', `${env}.backend.hcl`));
      expect(Object.keys(b).sort()).toEqual(['bucket', 'dynamodb_table', 'encrypt', 'key', 'kms_key_id', 'region']);
      expect(b.encrypt).toBe(true);
    }
  });

  test('each tfvars sets its own environment and only variables the root declares', async () => {
    for (const env of ['dev', 'staging', 'prod']) {
      const vars = await parseFile(path.join(TF_DIR, 'env', `${env}.tfvars`));
      expect(vars.environment).toBe(env);
      for (const k of Object.keys(vars)) expect(Object.keys(root.variable)).toContain(k);
      for (const [k, v] of Object.entries(root.variable)) {
        if (!('default' in v)) expect(Object.keys(vars)).toContain(k);
      }
    }
  });

  test('the root passes every variable it declares into the module, and the module declares them', () => {
    const call = root.module.tributary;
    expect(call.source).toBe('./modules/tributary');
    for (const [k, v] of Object.entries(call)) {
      if (k === 'source') continue;
      expect(Object.keys(mod.variable)).toContain(k);
      expect(v).toBe(`\${var.${k}}`);
    }
    const local = new Set(['aws_region', 'allowed_account_ids', 'tags']);
    for (const k of Object.keys(root.variable)) if (!local.has(k)) expect(Object.keys(call)).toContain(k);
  });

  test('planning requires the workspace named after the environment', () => {
    const pre = blocks(blocks(root.data.aws_caller_identity?.current, 'lifecycle')[0], 'precondition');
    expect(JSON.stringify(pre)).toContain('terraform.workspace == var.environment');
  });
});

describe('S3 buckets', () => {
  test('the module creates the data buckets from one map (local.buckets): every bucket resource iterates over it', () => {
    // plus the console's static assets bucket (console.tf), outside the data buckets' map
    expect(Object.keys(mod.resource.aws_s3_bucket).filter((b) => b !== 'console').sort()).toEqual(Object.keys(BUCKETS).map(bucketOf).sort());
    expect(Object.keys(modSource.locals.buckets as Obj).sort()).toEqual(Object.keys(BUCKETS).sort());
    for (const type of BUCKET_TYPES) {
      const forEach = type === 'aws_s3_bucket_object_lock_configuration' ? '${{ for name, bucket in local.buckets : name => bucket if bucket.object_lock_enabled == true }}' : '${local.buckets}';
      // (the console's static assets bucket, console.tf, is a block of its own outside the data buckets' map)
      const blocksOf = Object.keys(modSource.resource[type]).filter((b) => b !== 'console');
      expect({ type, blocks: blocksOf, forEach: modSource.resource[type].this?.for_each }).toEqual({ type, blocks: ['this'], forEach });
    }
  });

  test.each(Object.keys(BUCKETS))('bucket %s keeps every property it had as blocks of its own', (b) => {
    const e = BUCKETS[b];
    const name = bucketOf(b);
    const ref = (attr: string): string => `\${aws_s3_bucket.${name}.${attr}}`;
    const bucket = mod.resource.aws_s3_bucket[name];
    expect(bucket).toEqual({ bucket: expect.any(String), force_destroy: e.forceDestroy, ...(e.objectLockDays ? { object_lock_enabled: true } : {}) });
    expect(concrete(mod, String(bucket.bucket), 'dev')).toBe(e.name);
    expect(mod.resource.aws_s3_bucket_ownership_controls[name]).toEqual({ bucket: ref('id'), rule: [{ object_ownership: 'BucketOwnerEnforced' }] });
    expect(mod.resource.aws_s3_bucket_public_access_block[name]).toEqual({
      bucket: ref('id'),
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(mod.resource.aws_s3_bucket_versioning[name]).toEqual({ bucket: ref('id'), versioning_configuration: [{ status: 'Enabled' }] });
    expect(mod.resource.aws_s3_bucket_server_side_encryption_configuration[name]).toEqual({
      bucket: ref('id'),
      rule: [{ bucket_key_enabled: e.bucketKey, apply_server_side_encryption_by_default: [{ sse_algorithm: 'aws:kms', kms_master_key_id: `\${aws_kms_key.${keyOf(b)}.arn}` }] }],
    });
    const doc = `bucket[${JSON.stringify(b)}]`;
    expect(mod.resource.aws_s3_bucket_policy[name]).toEqual({
      bucket: ref('id'),
      policy: `\${data.aws_iam_policy_document.${doc}.json}`,
      depends_on: ['${aws_s3_bucket_public_access_block.this}'],
    });
    expect(mod.data.aws_iam_policy_document[doc]).toEqual({ statement: [...tlsOnly(ref('arn')), ...e.extraPolicy] });
    expect(mod.resource.aws_s3_bucket_lifecycle_configuration[name]).toEqual({ bucket: ref('id'), rule: e.lifecycle, depends_on: ['${aws_s3_bucket_versioning.this}'] });
    expect(mod.resource.aws_s3_bucket_object_lock_configuration[name]).toEqual(
      e.objectLockDays === undefined
        ? undefined
        : { bucket: ref('id'), rule: [{ default_retention: [{ mode: 'COMPLIANCE', days: e.objectLockDays }] }], depends_on: ['${aws_s3_bucket_versioning.this}'] },
    );
  });

  test('every bucket (module and bootstrap) has SSE-KMS under its own customer key, a full public access block, versioning and lifecycle', () => {
    // The identity store deliberately has no S3 Bucket Key (per-object KMS CloudTrail events; see s3.tf).
    expect(checkBucketEncryptionAndAccess(mod, [bucketOf('identity')])).toEqual([]);
    expect(checkBucketEncryptionAndAccess(bootstrap)).toEqual([]);
  });

  test('every bucket has a TLS-only bucket policy', async () => {
    expect(await checkBucketTlsPolicies(mod)).toEqual([]);
    expect(await checkBucketTlsPolicies(bootstrap)).toEqual([]);
  });

  test('the audit bucket has Object Lock in COMPLIANCE mode with the retention variable', () => {
    expect(checkObjectLock(mod, bucketOf('audit'))).toEqual([]);
    const lock = Object.values(mod.resource.aws_s3_bucket_object_lock_configuration)[0];
    expect(JSON.stringify(lock)).toContain('${var.audit_retention_days}');
  });

  test('the identity bucket denies reads to everyone but the reidentify role', async () => {
    const { statements } = await policyStatements(mod, mod.resource.aws_s3_bucket_policy[bucketOf('identity')].policy, 'identity');
    const deny = statements.find((s) => s.effect === 'Deny' && s.actions.includes('s3:GetObject'));
    expect(deny?.conditions).toEqual([{ test: 'StringNotEquals', variable: 'aws:PrincipalArn', values: ['${aws_iam_role.function["reidentify"].arn}'] }]);
  });

  describe('the checks flag a bucket that loses a property', () => {
    test('dropped SSE configuration', () => {
      const m = clone(mod);
      delete m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('lake')];
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual(['aws_s3_bucket.this["lake"]: expected 1 SSE configuration, found 0']);
    });

    test('AES256 instead of aws:kms, and the AWS-managed key', () => {
      const m = clone(mod);
      const def = blocks(blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('marts')], 'rule')[0], 'apply_server_side_encryption_by_default')[0];
      def.sse_algorithm = 'AES256';
      def.kms_master_key_id = 'alias/aws/s3';
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["marts"]: sse_algorithm is AES256, not aws:kms');
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["marts"]: kms_master_key_id must reference'))).toBe(true);
    });

    test('two buckets sharing one key', () => {
      const m = clone(mod);
      const def = blocks(blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('identity')], 'rule')[0], 'apply_server_side_encryption_by_default')[0];
      def.kms_master_key_id = '${aws_kms_key.this["lake"].arn}';
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')]).join('\n')).toMatch(/shares aws_kms_key\.this\["lake"\]/);
    });

    test('bucket key disabled (or enabled on the identity store)', () => {
      const m = clone(mod);
      blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('triage')], 'rule')[0].bucket_key_enabled = false;
      blocks(m.resource.aws_s3_bucket_server_side_encryption_configuration[bucketOf('identity')], 'rule')[0].bucket_key_enabled = true;
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual([
        'aws_s3_bucket.this["identity"]: bucket_key_enabled is not false',
        'aws_s3_bucket.this["triage"]: bucket_key_enabled is not true',
      ]);
    });

    test('a public access flag turned off, or the block removed', () => {
      const m = clone(mod);
      m.resource.aws_s3_bucket_public_access_block[bucketOf('audit')].restrict_public_buckets = false;
      delete m.resource.aws_s3_bucket_public_access_block[bucketOf('identity')];
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["audit"]: public access block restrict_public_buckets is not true');
      expect(f).toContain('aws_s3_bucket.this["identity"]: expected 1 public access block, found 0');
    });

    test('versioning suspended and lifecycle removed', () => {
      const m = clone(mod);
      blocks(m.resource.aws_s3_bucket_versioning[bucketOf('lake')], 'versioning_configuration')[0].status = 'Suspended';
      delete m.resource.aws_s3_bucket_lifecycle_configuration[bucketOf('marts')];
      const f = checkBucketEncryptionAndAccess(m, [bucketOf('identity')]);
      expect(f).toContain('aws_s3_bucket.this["lake"]: versioning is not Enabled');
      expect(f).toContain('aws_s3_bucket.this["marts"]: no enabled lifecycle rule');
    });

    test('TLS deny removed or inverted', async () => {
      const m = clone(mod);
      const doc = m.data.aws_iam_policy_document['bucket["lake"]'];
      doc.statement = blocks(doc, 'statement').filter((s) => s.sid !== 'DenyInsecureTransport');
      const cond = blocks(blocks(m.data.aws_iam_policy_document['bucket["marts"]'], 'statement')[0], 'condition')[0];
      cond.values = ['true'];
      delete m.resource.aws_s3_bucket_policy[bucketOf('audit')];
      const f = await checkBucketTlsPolicies(m);
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["lake"]: bucket policy has no Deny'))).toBe(true);
      expect(f.some((x) => x.startsWith('aws_s3_bucket.this["marts"]: bucket policy has no Deny'))).toBe(true);
      expect(f).toContain('aws_s3_bucket.this["audit"]: expected 1 bucket policy, found 0');
      expect(f).toHaveLength(3);
    });

    test('object lock in GOVERNANCE mode, or not enabled', () => {
      const m = clone(mod);
      const lock = Object.values(m.resource.aws_s3_bucket_object_lock_configuration)[0];
      blocks(blocks(lock, 'rule')[0], 'default_retention')[0].mode = 'GOVERNANCE';
      m.resource.aws_s3_bucket[bucketOf('audit')].object_lock_enabled = false;
      expect(checkObjectLock(m, bucketOf('audit'))).toEqual([
        'aws_s3_bucket.this["audit"]: object_lock_enabled is not true',
        'aws_s3_bucket.this["audit"]: object lock mode is GOVERNANCE, not COMPLIANCE',
      ]);
    });

    test('a setting changed in local.buckets shows in that bucket\'s instances only', async () => {
      const src = clone(modSource);
      const buckets = src.locals.buckets as Record<string, Obj>;
      buckets.identity.bucket_key_enabled = true;
      buckets.audit.object_lock_enabled = null;
      const m = await expandConfig(src);
      expect(checkBucketEncryptionAndAccess(m, [bucketOf('identity')])).toEqual(['aws_s3_bucket.this["identity"]: bucket_key_enabled is not false']);
      expect(checkObjectLock(m, bucketOf('audit'))).toEqual(['aws_s3_bucket.this["audit"]: object_lock_enabled is not true', 'aws_s3_bucket.this["audit"]: no object lock default retention']);
      expect(Object.keys(m.resource.aws_s3_bucket_object_lock_configuration)).toEqual([]);
    });
  });
});

describe('KMS keys', () => {
  test('every store has its own key; symmetric keys rotate; every key has a policy', () => {
    expect(Object.keys(mod.resource.aws_kms_key).sort()).toEqual(['hmac', ...Object.keys(KEYS).map(keyOf)].sort());
    expect(checkKmsKeys(mod)).toEqual([]);
    expect(checkKmsKeys(bootstrap)).toEqual([]);
  });

  test('the keys and their aliases come from one map (local.kms_keys)', () => {
    expect(Object.keys(modSource.locals.kms_keys as Obj).sort()).toEqual(Object.keys(KEYS).sort());
    for (const type of ['aws_kms_key', 'aws_kms_alias']) {
      expect({ type, blocks: Object.keys(modSource.resource[type]).sort(), forEach: modSource.resource[type].this.for_each }).toEqual({ type, blocks: ['hmac', 'this'], forEach: '${local.kms_keys}' });
    }
  });

  test.each(Object.keys(KEYS))('KMS key %s keeps its description, spec, rotation, deletion window, policy and alias', (k) => {
    const hmac = KEYS[k].spec === 'HMAC_256';
    expect(mod.resource.aws_kms_key[keyOf(k)]).toEqual({
      description: `\${local.prefix} ${KEYS[k].description}`,
      customer_master_key_spec: KEYS[k].spec,
      key_usage: hmac ? 'GENERATE_VERIFY_MAC' : 'ENCRYPT_DECRYPT',
      // KMS rotates symmetric keys; it cannot rotate HMAC keys.
      enable_key_rotation: !hmac,
      deletion_window_in_days: '${var.kms_deletion_window_days}',
      policy: `\${data.aws_iam_policy_document.${KEYS[k].policy}.json}`,
    });
    expect(mod.resource.aws_kms_alias[keyOf(k)]).toEqual({ name: `alias/\${local.prefix}-${k}`, target_key_id: `\${aws_kms_key.${keyOf(k)}.key_id}` });
  });

  test('the pseudonym key is HMAC_256 / GENERATE_VERIFY_MAC, per generation, with an alias on the active one', () => {
    const hmac = mod.resource.aws_kms_key.hmac;
    expect(hmac.customer_master_key_spec).toBe('HMAC_256');
    expect(hmac.key_usage).toBe('GENERATE_VERIFY_MAC');
    expect(hmac.for_each).toBe('${toset(var.hmac_key_versions)}');
    expect(mod.resource.aws_kms_alias.hmac.target_key_id).toBe('${aws_kms_key.hmac[var.hmac_active_key_version].key_id}');
  });

  test('only the roles that land resources (ingest, triage, recovery, ops, the import chunk step) may GenerateMac with the pseudonym key', async () => {
    const { statements } = await policyStatements(mod, mod.resource.aws_kms_key.hmac.policy, 'hmac');
    const mac = statements.filter((s) => statementAllows(s, 'kms:GenerateMac'));
    expect(mac.flatMap((s) => s.principals.flatMap((p) => p.identifiers)).sort()).toEqual([
      '${aws_iam_role.function["importChunk"].arn}',
      '${aws_iam_role.function["ingest"].arn}',
      '${aws_iam_role.function["ops"].arn}',
      '${aws_iam_role.function["recovery"].arn}',
      '${aws_iam_role.function["triage"].arn}',
    ]);
    for (const fn of ['ingest', 'triage', 'recovery', 'ops', 'importChunk']) {
      const r = await rolePolicyStatements(mod, roleOf(fn));
      expect(r.statements.some((s) => statementAllows(s, 'kms:GenerateMac') && s.resources.some((x) => refersTo(x, 'aws_kms_key.hmac')))).toBe(true);
    }
    for (const fn of ['etl', 'metadata', 'validate', 'notAllowed', 'authorizer', 'reidentify', 'importPlan', 'importFinish']) {
      const r = await rolePolicyStatements(mod, roleOf(fn));
      expect(r.statements.some((s) => statementAllows(s, 'kms:GenerateMac'))).toBe(false);
    }
  });

  test('only the analysis function may GenerateMac with the study key; it cannot use the pseudonym key, nor anyone else the study key', async () => {
    const { statements, findings } = await policyStatements(mod, mod.resource.aws_kms_key[keyOf('study')].policy, 'study');
    expect(findings).toEqual([]);
    const use = statements.filter((s) => s.effect === 'Allow' && s.actions.some((a) => !asList(resolveLocal(mod, mod.locals.kms_restricted_admin_actions)).includes(a)));
    expect(use.map(statementLine)).toEqual(['StudyPseudonymsOnly: kms:GenerateMac on * (with NotAction/NotResource/Principal)']);
    expect(use[0].principals).toEqual([{ type: 'AWS', identifiers: [`\${aws_iam_role.${roleOf('analysis')}.arn}`] }]);
    // Administration without use, and without kms:Create* (CreateGrant could hand GenerateMac out).
    expect(statements.find((s) => s.sid === 'KeyAdministrationWithoutUse')?.actions).toEqual(asList(resolveLocal(mod, mod.locals.kms_restricted_admin_actions)));
    const onStudy = async (fn: string): Promise<string[]> =>
      (await rolePolicyStatements(mod, roleOf(fn))).statements.filter((s) => s.resources.some((r) => r === '*' || refersTo(r, `aws_kms_key.${keyOf('study')}`))).map(statementLine);
    expect(await onStudy('analysis')).toEqual(['StudyKey: kms:GenerateMac on ${aws_kms_key.this["study"].arn}']);
    for (const fn of FUNCTIONS.filter((f) => f !== 'analysis')) expect({ fn, grants: await onStudy(fn) }).toEqual({ fn, grants: [] });
    const analysis = await rolePolicyStatements(mod, roleOf('analysis'));
    expect(analysis.statements.some((s) => s.resources.some((r) => refersTo(r, 'aws_kms_key.hmac')))).toBe(false);
  });

  test('the checker flags a symmetric key without rotation and an HMAC key claiming rotation', () => {
    const m = clone(mod);
    m.resource.aws_kms_key[keyOf('lake')].enable_key_rotation = false;
    delete m.resource.aws_kms_key[keyOf('audit')].enable_key_rotation;
    m.resource.aws_kms_key.hmac.enable_key_rotation = true;
    delete m.resource.aws_kms_key[keyOf('logs')].policy;
    expect(checkKmsKeys(m).sort()).toEqual(
      [
        'aws_kms_key.this["audit"]: symmetric key without enable_key_rotation = true',
        'aws_kms_key.hmac: HMAC_256 keys cannot rotate automatically',
        'aws_kms_key.this["lake"]: symmetric key without enable_key_rotation = true',
        'aws_kms_key.this["logs"]: no key policy (the default grants kms:* to the account)',
      ].sort(),
    );
  });
});

describe('IAM least privilege', () => {
  test('one role per function, the analyst role (people), the account-level API Gateway CloudWatch role, and the import state machine\'s and start rule\'s roles', () => {
    const importRoles = ['import["state_machine"]', 'import["events"]'];
    expect(Object.keys(mod.resource.aws_iam_role).sort()).toEqual([...FUNCTIONS.map(roleOf), 'analyst', 'api_gateway_cloudwatch', ...importRoles].sort());
    expect(Object.keys(mod.resource.aws_iam_role_policy).sort()).toEqual(
      [...FUNCTIONS.map(roleOf), ...AUDIT_ONLY_FUNCTIONS.map((fn) => `audit_append[${JSON.stringify(fn)}]`), 'analyst', 'api_gateway_cloudwatch', ...importRoles].sort(),
    );
  });

  test('the function roles, their policies and policy documents come from one map (local.function_roles), keyed like local.functions', () => {
    expect(Object.keys(modSource.locals.function_roles as Obj).sort()).toEqual([...FUNCTIONS].sort());
    expect(Object.keys(modSource.locals.function_statements as Obj).sort()).toEqual([...FUNCTIONS].sort());
    expect(Object.keys(modSource.resource.aws_iam_role).sort()).toEqual(['analyst', 'api_gateway_cloudwatch', 'function', 'import']);
    expect(Object.keys(modSource.resource.aws_iam_role_policy).sort()).toEqual(['analyst', 'api_gateway_cloudwatch', 'audit_append', 'function', 'import']);
    for (const r of [modSource.resource.aws_iam_role.function, modSource.resource.aws_iam_role_policy.function, modSource.data.aws_iam_policy_document.function]) {
      expect(r.for_each).toBe('${local.function_roles}');
    }
    expect(modSource.resource.aws_iam_role_policy.audit_append.for_each).toBe('${{ for name, role in local.function_roles : name => role if role.audit_append_policy }}');
  });

  test.each(FUNCTIONS)('the role of %s: its name, description, trust, and exactly the statements it had, no more', async (fn) => {
    const e = ROLES[fn];
    expect(mod.resource.aws_iam_role[roleOf(fn)]).toEqual({
      name: `\${local.prefix}-${e.name}`,
      description: e.description,
      assume_role_policy: `\${data.aws_iam_policy_document.${e.assume}.json}`,
      permissions_boundary: '${var.permissions_boundary_arn}',
      // Before: set on reidentify only; 3600 is the AWS default the other roles had.
      max_session_duration: 3600,
    });
    const { policies, findings } = await rolePolicies(mod, roleOf(fn));
    expect(findings).toEqual([]);
    expect(policies).toEqual(e.policies);
  });

  test('the per-role expectations fail when a role gains or loses a statement, an action or a resource', async () => {
    const m = clone(mod);
    const etl = m.data.aws_iam_policy_document[roleOf('etl')];
    const statements = blocks(etl, 'statement');
    statements[1].actions = [...(statements[1].actions as string[]), 'sqs:SendMessage'];
    statements[3].resources = ['${aws_s3_bucket.this["marts"].arn}/*'];
    etl.statement = statements.filter((s) => s.sid !== 'QueueKey');
    const { policies } = await rolePolicies(m, roleOf('etl'));
    const expected = ROLES.etl.policies.etl;
    expect(policies.etl.filter((x) => !expected.includes(x))).toEqual([
      'ConsumeQueue: sqs:ReceiveMessage, sqs:DeleteMessage, sqs:ChangeMessageVisibility, sqs:GetQueueAttributes, sqs:SendMessage on ${aws_sqs_queue.etl.arn}',
      'RawLakeRead: s3:GetObject on ${aws_s3_bucket.this["marts"].arn}/*',
    ]);
    expect(expected.filter((x) => !policies.etl.includes(x)).map((x) => x.split(':')[0])).toEqual(['ConsumeQueue', 'QueueKey', 'RawLakeRead']);
    const n = clone(mod);
    n.resource.aws_iam_role_policy.extra = { name: 'extra', role: `\${aws_iam_role.${roleOf('validate')}.id}`, policy: `\${data.aws_iam_policy_document.${roleOf('etl')}.json}` };
    expect(Object.keys((await rolePolicies(n, roleOf('validate'))).policies).sort()).toEqual(['audit-append', 'extra', 'validate']);
  });

  test('a statement changed in the source map reaches every role that lists it (the expansion follows local.*_statements)', async () => {
    const src = clone(modSource);
    const landing = src.locals.landing_statements as Obj[];
    landing[0].actions = ['s3:PutObject', 's3:GetObject'];
    const m = await expandConfig(src);
    expect(await checkIdentityAccessByRole(m)).toEqual(
      ['ingest', 'triage', 'recovery', 'ops', 'importChunk'].map((fn) => `aws_iam_role.${roleOf(fn)}: may read the identity bucket`).sort(),
    );
    for (const fn of ['ingest', 'triage']) {
      const { policies } = await rolePolicies(m, roleOf(fn));
      expect(policies[fn]).toContain('IdentityStoreWriteOnly: s3:PutObject, s3:GetObject on ${aws_s3_bucket.this["identity"].arn}/*');
      expect(policies).not.toEqual(ROLES[fn].policies);
    }
  });

  test('no policy grants "*", s3:* or kms:* (or any service wildcard), and every policy is analysable', async () => {
    expect(await checkNoWildcardActions(mod)).toEqual([]);
    expect(await checkNoWildcardActions(bootstrap)).toEqual([]);
  });

  test('role policies never allow Resource "*" (but for the import state machine\'s log delivery, which AWS authorises on "*" only)', async () => {
    // CloudWatch Logs' vended log delivery actions (CreateLogDelivery, PutResourcePolicy...) have no resource-level
    // permissions: Step Functions' execution logging needs them on "*" (import.tf; the statement's actions are
    // checked exactly in test/unit/import-terraform.test.ts).
    const logDelivery = 'data.aws_iam_policy_document.import["state_machine"][LogDelivery]';
    expect(await checkRoleResourcesScoped(mod, [logDelivery])).toEqual([]);
    expect(await checkRoleResourcesScoped(mod)).toEqual([`aws_iam_role.import["state_machine"] ${logDelivery}: Allow on Resource "*"`]);
  });

  test('the identity key policy: decrypt for reidentify only; writers encrypt only; root administers without decrypt', async () => {
    expect(await checkIdentityKeyPolicy(mod)).toEqual([]);
  });

  test('only the reidentify role can decrypt the identity key or read the identity bucket', async () => {
    expect(await checkIdentityAccessByRole(mod)).toEqual([]);
  });

  test('ingest, recovery and the import chunk step can write the identity store and delete a rolled-back record (PutObject, DeleteObject, GenerateDataKey/Encrypt) but nothing more', async () => {
    for (const fn of ['ingest', 'recovery', 'importChunk']) {
      const { statements } = await rolePolicyStatements(mod, roleOf(fn));
      const onIdentity = statements.filter((s) => s.resources.some((r) => /identity/.test(r)));
      expect(onIdentity.flatMap((s) => s.actions).sort()).toEqual(['kms:Encrypt', 'kms:GenerateDataKey', 's3:DeleteObject', 's3:PutObject']);
    }
  });

  test('the ETL policy does not mention the identity store at all', async () => {
    expect(await checkEtlIsolation(mod)).toEqual([]);
  });

  test('no role can delete or unlock audit records', async () => {
    expect(await checkAuditAppendOnly(mod)).toEqual([]);
    const m = clone(mod);
    const d = m.data.aws_iam_policy_document[roleOf('ingest')];
    d.statement = [...blocks(d, 'statement'), { sid: 'Tidy', actions: ['s3:Delete*'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] }];
    expect(await checkAuditAppendOnly(m)).toEqual([
      'aws_iam_role.function["ingest"] data.aws_iam_policy_document.function["ingest"][Tidy]: s3:DeleteObject, s3:DeleteObjectVersion, s3:DeleteBucket on the audit bucket',
    ]);
  });

  test('ingest\'s audit grants: append (PutObject), read and list the chain, the audit key; nothing else', async () => {
    expect(await auditGrants(mod, roleOf('ingest'))).toEqual(
      [
        's3:PutObject ${aws_s3_bucket.this["audit"].arn}/*',
        's3:GetObject ${aws_s3_bucket.this["audit"].arn}/*',
        's3:ListBucket ${aws_s3_bucket.this["audit"].arn}',
        'kms:GenerateDataKey ${aws_kms_key.this["audit"].arn}',
        'kms:Decrypt ${aws_kms_key.this["audit"].arn}',
      ].sort(),
    );
  });

  test('metadata, validate, notAllowed and authorizer: their own logs and exactly ingest\'s audit grants, nothing else', async () => {
    expect(await checkAuditAppendRoles(mod, AUDIT_ONLY_FUNCTIONS)).toEqual([]);
    for (const fn of AUDIT_ONLY_FUNCTIONS) expect(await auditGrants(mod, roleOf(fn))).toEqual(await auditGrants(mod, roleOf('ingest')));
  });

  test('the audit-only roles touch no lake, identity, triage or marts bucket, and no other key', async () => {
    const others = ['lake', 'identity', 'triage', 'marts'].flatMap((x) => [`aws_s3_bucket.${bucketOf(x)}`, `aws_kms_key.${keyOf(x)}`]);
    others.push('aws_kms_key.hmac', 'aws_kms_key.this["versions"]', 'aws_kms_key.this["messaging"]', 'aws_dynamodb_table.versions', 'aws_sns_topic.ingest');
    for (const fn of AUDIT_ONLY_FUNCTIONS) {
      const { statements, findings } = await rolePolicyStatements(mod, roleOf(fn));
      expect(findings).toEqual([]);
      expect(statements.length).toBeGreaterThan(0);
      const hits = statements.flatMap((s) => s.resources.filter((r) => r === '*' || others.some((o) => refersTo(r, o))));
      expect({ fn, hits }).toEqual({ fn, hits: [] });
    }
  });

  describe('the checks flag a policy that loses a property', () => {
    const addStatement = (m: TfConfig, doc: string, statement: Obj): void => {
      const d = m.data.aws_iam_policy_document[doc];
      d.statement = [...blocks(d, 'statement'), statement];
    };

    test('s3:*, kms:* and * in Allow statements', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('ingest'), { sid: 'Oops', actions: ['s3:*'], resources: ['${aws_s3_bucket.this["lake"].arn}/*'] });
      addStatement(m, roleOf('etl'), { sid: 'Oops2', actions: ['*'], resources: ['${aws_s3_bucket.this["marts"].arn}'] });
      addStatement(m, 'kms_identity', {
        sid: 'Oops3',
        actions: ['kms:*'],
        resources: ['*'],
        principals: [{ type: 'AWS', identifiers: ['${local.root_arn}'] }],
      });
      expect((await checkNoWildcardActions(m)).sort()).toEqual(
        [
          'data.aws_iam_policy_document.function["etl"][Oops2]: action "*"',
          'data.aws_iam_policy_document.function["ingest"][Oops]: Allow of service wildcard s3:*',
          'data.aws_iam_policy_document.kms_identity[Oops3]: Allow of service wildcard kms:*',
        ].sort(),
      );
    });

    test('an inline jsonencode policy is analysed too', async () => {
      const m = clone(mod);
      m.resource.aws_iam_role_policy[roleOf('etl')].policy =
        '${jsonencode({\n    Version = "2012-10-17"\n    Statement = [{\n      Effect   = "Allow"\n      Action   = ["s3:*"]\n      Resource = "${aws_s3_bucket.this["identity"].arn}/*"\n    }]\n  })}';
      expect(await checkNoWildcardActions(m)).toEqual(['aws_iam_role_policy.function["etl"].policy[0]: Allow of service wildcard s3:*']);
      expect(await checkEtlIsolation(m)).toEqual(['aws_iam_role.function["etl"] aws_iam_role_policy.function["etl"][0]: mentions the identity store or everything (${aws_s3_bucket.this["identity"].arn}/*)']);
      expect(await checkIdentityAccessByRole(m)).toEqual(['aws_iam_role.function["etl"]: may read the identity bucket']);
    });

    test('an unanalysable policy (heredoc JSON) is reported', async () => {
      const m = clone(mod);
      m.resource.aws_iam_role_policy[roleOf('metadata')].policy = '{"Version":"2012-10-17","Statement":[]}';
      expect(await checkNoWildcardActions(m)).toEqual([
        'aws_iam_role_policy.function["metadata"].policy: policy is neither an aws_iam_policy_document nor jsonencode({...})',
      ]);
    });

    test('Resource "*" in a role policy', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('metadata'), { sid: 'Wide', actions: ['logs:PutLogEvents'], resources: ['*'] });
      const logDelivery = 'data.aws_iam_policy_document.import["state_machine"][LogDelivery]';
      expect(await checkRoleResourcesScoped(m, [logDelivery])).toEqual(['aws_iam_role.function["metadata"] data.aws_iam_policy_document.function["metadata"][Wide]: Allow on Resource "*"']);
    });

    test('root (admin) given kms:Decrypt on the identity key', async () => {
      const m = clone(mod);
      const admin = blocks(m.data.aws_iam_policy_document.kms_identity, 'statement')[0];
      admin.actions = [...asList(resolveLocal(m, admin.actions)), 'kms:Decrypt'];
      expect(await checkIdentityKeyPolicy(m)).toEqual([
        'data.aws_iam_policy_document.kms_identity[KeyAdministrationWithoutUse]: allows decrypt/re-encrypt/grants to ${local.root_arn} (only the reidentify role may decrypt)',
      ]);
    });

    test('the identity key admin list widened to kms:Create* (CreateGrant)', async () => {
      const m = clone(mod);
      m.locals.kms_restricted_admin_actions = ['kms:Create*', 'kms:Describe*'];
      expect(await checkIdentityKeyPolicy(m)).toHaveLength(1);
    });

    test('ingest added to the decrypt statement, or writers given more than encrypt', async () => {
      const m = clone(mod);
      const st = blocks(m.data.aws_iam_policy_document.kms_identity, 'statement');
      blocks(st[2], 'principals')[0].identifiers = ['${aws_iam_role.function["reidentify"].arn}', '${aws_iam_role.function["ingest"].arn}'];
      st[1].actions = ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:DescribeKey'];
      const f = await checkIdentityKeyPolicy(m);
      expect(f).toContain(
        'data.aws_iam_policy_document.kms_identity[ReidentifyDecrypt]: allows decrypt/re-encrypt/grants to ${aws_iam_role.function["reidentify"].arn}, ${aws_iam_role.function["ingest"].arn} (only the reidentify role may decrypt)',
      );
      expect(f).toContain('data.aws_iam_policy_document.kms_identity[WritersEncryptOnly]: ingest may only GenerateDataKey/Encrypt, also gets kms:DescribeKey');
      expect(f).toContain('data.aws_iam_policy_document.kms_identity[ReidentifyDecrypt]: ingest may only GenerateDataKey/Encrypt, also gets kms:Decrypt');
      expect(f).toContain('aws_kms_key.this["identity"]: no statement lets the reidentify role decrypt');
    });

    test('ingest role given kms:Decrypt on the identity key; ETL given a wildcard kms resource', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('ingest'), { sid: 'Peek', actions: ['kms:Decrypt'], resources: ['${aws_kms_key.this["identity"].arn}'] });
      addStatement(m, roleOf('etl'), { sid: 'AnyKey', actions: ['kms:Decrypt'], resources: ['*'] });
      expect(await checkIdentityAccessByRole(m)).toEqual([
        'aws_iam_role.function["etl"]: may kms:Decrypt the identity key',
        'aws_iam_role.function["ingest"]: may kms:Decrypt the identity key',
      ]);
    });

    test('reidentify losing its access is flagged too', async () => {
      const m = clone(mod);
      const d = m.data.aws_iam_policy_document[roleOf('reidentify')];
      d.statement = blocks(d, 'statement').filter((s) => s.sid !== 'IdentityKeyDecrypt');
      expect(await checkIdentityAccessByRole(m)).toEqual(['aws_iam_role.function["reidentify"]: cannot kms:Decrypt the identity key']);
    });

    test('the ETL policy mentioning the identity bucket, even in a condition', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('etl'), {
        sid: 'Sneaky',
        actions: ['s3:ListBucket'],
        resources: ['${aws_s3_bucket.this["marts"].arn}'],
        condition: [{ test: 'StringLike', variable: 's3:prefix', values: ['${aws_s3_bucket.this["identity"].bucket}'] }],
      });
      expect(await checkEtlIsolation(m)).toEqual([
        'aws_iam_role.function["etl"] data.aws_iam_policy_document.function["etl"][Sneaky]: mentions the identity store or everything (${aws_s3_bucket.this["identity"].bucket})',
      ]);
    });

    test('an audit-only role given data access, another log group, or a wider audit action', async () => {
      const m = clone(mod);
      addStatement(m, roleOf('authorizer'), { sid: 'Data', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.this["lake"].arn}/*'] });
      blocks(m.data.aws_iam_policy_document[roleOf('validate')], 'statement')[0].resources = ['${aws_cloudwatch_log_group.function["ingest"].arn}:*'];
      addStatement(m, roleOf('notAllowed'), { sid: 'Versions', actions: ['s3:GetObjectVersion'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] });
      expect(await checkAuditAppendRoles(m, AUDIT_ONLY_FUNCTIONS)).toEqual([
        'aws_iam_role.function["validate"] data.aws_iam_policy_document.function["validate"][Logs]: logs beyond its own log group: ${aws_cloudwatch_log_group.function["ingest"].arn}:*',
        'aws_iam_role.function["validate"]: cannot write its log group aws_cloudwatch_log_group.function["validate"]',
        `aws_iam_role.function["notAllowed"] data.aws_iam_policy_document.function["notAllowed"][Versions]: beyond logs and ingest's audit grants: s3:GetObjectVersion \${aws_s3_bucket.this["audit"].arn}/*`,
        `aws_iam_role.function["authorizer"] data.aws_iam_policy_document.function["authorizer"][Data]: beyond logs and ingest's audit grants: s3:GetObject \${aws_s3_bucket.this["lake"].arn}/*`,
      ]);
    });

    test('an audit-only role that cannot append (the audit key statement dropped from the shared document)', async () => {
      const m = clone(mod);
      const d = m.data.aws_iam_policy_document.audit_append;
      d.statement = blocks(d, 'statement').filter((s) => s.sid !== 'AuditKey');
      expect(await checkAuditAppendRoles(m, AUDIT_ONLY_FUNCTIONS)).toEqual(
        AUDIT_ONLY_FUNCTIONS.map(
          (fn) => `aws_iam_role.${roleOf(fn)}: cannot append to the audit trail, missing kms:Decrypt \${aws_kms_key.this["audit"].arn}, kms:GenerateDataKey \${aws_kms_key.this["audit"].arn}`,
        ),
      );
    });

    test('identity access or audit deletion given to the audit-only roles', async () => {
      const m = clone(mod);
      addStatement(m, 'audit_append', { sid: 'Peek', actions: ['kms:Decrypt'], resources: ['${aws_kms_key.this["identity"].arn}'] });
      addStatement(m, roleOf('validate'), { sid: 'Read', actions: ['s3:GetObject'], resources: ['${aws_s3_bucket.this["identity"].arn}/*'] });
      expect((await checkIdentityAccessByRole(m)).sort()).toEqual(
        [
          'aws_iam_role.function["metadata"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["validate"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["validate"]: may read the identity bucket',
          'aws_iam_role.function["notAllowed"]: may kms:Decrypt the identity key',
          'aws_iam_role.function["authorizer"]: may kms:Decrypt the identity key',
        ].sort(),
      );
      const n = clone(mod);
      addStatement(n, 'audit_append', { sid: 'Tidy', actions: ['s3:DeleteObject'], resources: ['${aws_s3_bucket.this["audit"].arn}/*'] });
      expect((await checkAuditAppendOnly(n)).sort()).toEqual(
        AUDIT_ONLY_FUNCTIONS.map((fn) => `aws_iam_role.${roleOf(fn)} data.aws_iam_policy_document.audit_append[Tidy]: s3:DeleteObject on the audit bucket`).sort(),
      );
    });
  });
});

describe('moved blocks: an existing deployment keeps its buckets, keys and roles', () => {
  test('every former address moves to its instance, and every instance of the maps has its former address', () => {
    expect(FORMER_ADDRESSES).toHaveLength(73);
    expect(checkMoves(mod, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual([]);
    // Without the list of added instances, exactly those are flagged (so the list holds nothing else).
    expect(checkMoves(mod, FORMER_ADDRESSES).sort()).toEqual(ADDED_INSTANCES.map((i) => `${i}: no former address moves here`).sort());
  });

  test('the moves are all in moved.tf, written as Terraform reads them', async () => {
    const j = await parseFile(path.join(MODULE_DIR, 'moved.tf'));
    expect(Object.keys(j)).toEqual(['moved']);
    const moves = blocks(j, 'moved').map((m) => `${unwrapAddress(m.from)} → ${unwrapAddress(m.to)}`);
    expect(moves.sort()).toEqual(FORMER_ADDRESSES.map(([from, to]) => `${from} → ${to}`).sort());
  });

  test('the checker flags a missing, a wrong, a duplicated and a stray move, a move onto a new instance, and an instance nothing moves to', () => {
    const m = clone(mod);
    m.moved = m.moved.filter((x) => x.from !== '${aws_s3_bucket.identity}');
    m.moved.find((x) => x.from === '${aws_iam_role.not_allowed}')!.to = '${aws_iam_role.function["authorizer"]}';
    m.moved.push({ from: '${aws_kms_key.lake}', to: '${aws_kms_key.this["lake"]}' });
    m.moved.push({ from: '${aws_s3_bucket.lake_old}', to: '${aws_s3_bucket.this["nowhere"]}' });
    m.moved.push({ from: '${aws_kms_key.study}', to: '${aws_kms_key.this["study"]}' });
    expect(checkMoves(m, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual([
      'aws_s3_bucket.identity: no moved block (a plan would destroy it and create aws_s3_bucket.this["identity"])',
      'aws_kms_key.lake: 2 moved blocks',
      'aws_iam_role.not_allowed: moved to aws_iam_role.function["authorizer"], not aws_iam_role.function["notAllowed"]',
      'aws_iam_role.function["authorizer"]: target of more than one moved block',
      'aws_kms_key.this["lake"]: target of more than one moved block',
      'moved block from aws_s3_bucket.lake_old: not a former address',
      'moved block to aws_s3_bucket.this["nowhere"]: no such instance',
      'moved block from aws_kms_key.study: not a former address',
      'moved block to aws_kms_key.this["study"]: a new instance, which had no former address',
      'aws_s3_bucket.this["identity"]: no former address moves here',
      'aws_iam_role.function["notAllowed"]: no former address moves here',
    ]);
    const n = clone(mod);
    n.resource.aws_kms_key.lake = {};
    expect(checkMoves(n, FORMER_ADDRESSES, ADDED_INSTANCES)).toEqual(['moved block from aws_kms_key.lake: still declared']);
  });
});

describe('no copied blocks', () => {
  test('no two single-instance resources of one type differ only in names, references or descriptions', () => {
    expect(copiedBlocks(modSource)).toEqual([]);
    expect(copiedBlocks(root)).toEqual([]);
    expect(copiedBlocks(bootstrap)).toEqual([]);
  });

  test('the checker flags blocks copied from one another (as the buckets, keys and roles were)', () => {
    const m = clone(modSource);
    m.resource.aws_sqs_queue.etl_dlq_copy = { ...m.resource.aws_sqs_queue.etl_dlq, name: '${local.prefix}-etl-dlq-copy' };
    m.resource.aws_kms_key.lake = { description: '${local.prefix} raw lake', enable_key_rotation: true, policy: '${data.aws_iam_policy_document.kms_default.json}' };
    m.resource.aws_kms_key.marts = { description: '${local.prefix} marts', enable_key_rotation: true, policy: '${data.aws_iam_policy_document.kms_default.json}' };
    expect(copiedBlocks(m)).toEqual(['aws_kms_key: lake, marts are copies of one block', 'aws_sqs_queue: etl_dlq, etl_dlq_copy are copies of one block']);
  });
});

describe('messaging, table, catalog, logs', () => {
  test('the ETL queue has a DLQ redrive, a queue policy for the topic only, and everything is KMS-encrypted', async () => {
    expect(await checkQueues(mod)).toEqual([]);
  });

  test('the checker flags a queue without redrive, or redriving to itself', async () => {
    const m = clone(mod);
    delete m.resource.aws_sqs_queue.etl.redrive_policy;
    expect(await checkQueues(m)).toEqual([
      'aws_sqs_queue.etl: redrive_policy must send to another aws_sqs_queue (dead-letter queue)',
      'aws_sqs_queue.etl: redrive_policy has no maxReceiveCount',
    ]);
    const n = clone(mod);
    n.resource.aws_sqs_queue.etl.redrive_policy = String(n.resource.aws_sqs_queue.etl.redrive_policy).replace('etl_dlq', 'etl');
    expect(await checkQueues(n)).toEqual(['aws_sqs_queue.etl: redrive_policy must send to another aws_sqs_queue (dead-letter queue)']);
    const o = clone(mod);
    delete o.resource.aws_sqs_queue_policy.etl;
    delete o.resource.aws_sns_topic.ingest.kms_master_key_id;
    expect(await checkQueues(o)).toEqual([
      'aws_sqs_queue.etl: no queue policy letting only the SNS topic (aws:SourceArn) send',
      'aws_sns_topic.ingest: not encrypted with a customer key',
    ]);
  });

  test('the versions table: pk string key, SSE with a customer key, point-in-time recovery', () => {
    const t = mod.resource.aws_dynamodb_table.versions;
    expect(t.hash_key).toBe('pk');
    // the sparse index recovery queries (docs/dynamodb-version-index.md) and TTL on settled transaction items
    expect(blocks(t, 'attribute')).toEqual([
      { name: 'pk', type: 'S' },
      { name: 'gk', type: 'S' },
      { name: 'pa', type: 'N' },
    ]);
    expect(blocks(t, 'global_secondary_index')).toEqual([{ name: 'pending', hash_key: 'gk', range_key: 'pa', projection_type: 'ALL' }]);
    expect(blocks(t, 'ttl')).toEqual([{ attribute_name: 'xt', enabled: true }]);
    expect(blocks(t, 'server_side_encryption')).toEqual([{ enabled: true, kms_key_arn: '${aws_kms_key.this["versions"].arn}' }]);
    expect(blocks(t, 'point_in_time_recovery')).toEqual([{ enabled: true }]);
  });

  test('the version index grants exactly the DynamoDB actions its adapter sends (TransactWriteItems: its Put items)', () => {
    const src = ['dynamodb-version-index.ts', 'dynamodb-version-items.ts']
      .map((f) => fs.readFileSync(path.join(__dirname, '../../src/adapters/aws', f), 'utf8'))
      .join('\n');
    const sent = new Set([...src.matchAll(/new (\w+)Command\(/g)].map((m) => m[1]!));
    const inTransactions = new Set([...src.matchAll(/TransactItems:[\s\S]*?\(\{\s*(Put|Update|Delete|ConditionCheck):/g)].map((m) => m[1]!));
    expect([...inTransactions]).toEqual(['Put']);
    const actions = new Set([...sent].flatMap((c) => (c === 'TransactWriteItems' ? [...inTransactions].map((i) => `${i}Item`) : [c])));
    const granted = LANDING.filter((l) => l.startsWith('VersionIndex:') || l.startsWith('VersionIndexRecovery:'));
    const byStatement = granted.map((l) => [...l.matchAll(/dynamodb:(\w+)/g)].map((m) => m[1]!));
    expect([...actions].filter((a) => a !== 'Query').sort()).toEqual([...byStatement[0]!].sort());
    expect(actions.has('Query') ? ['Query'] : []).toEqual(byStatement[1]);
  });

  test('Glue database and an Athena workgroup writing encrypted results to the marts bucket', () => {
    expect(mod.resource.aws_glue_catalog_database.lake.name).toBeDefined();
    const wg = blocks(mod.resource.aws_athena_workgroup.analytics, 'configuration')[0];
    expect(wg.enforce_workgroup_configuration).toBe(true);
    const rc = blocks(wg, 'result_configuration')[0];
    expect(String(rc.output_location)).toContain('${aws_s3_bucket.this["marts"].bucket}');
    expect(blocks(rc, 'encryption_configuration')).toEqual([{ encryption_option: 'SSE_KMS', kms_key_arn: '${aws_kms_key.this["marts"].arn}' }]);
  });

  test('one log group per function, with retention and the logs key, named as Serverless names functions', () => {
    expect(mod.locals.functions).toBe(`\${toset(${JSON.stringify(FUNCTIONS).replace(/,/g, ', ')})}`);
    const lg = modSource.resource.aws_cloudwatch_log_group.function;
    expect(lg.for_each).toBe('${local.functions}');
    expect(lg.name).toBe('/aws/lambda/${local.prefix}-${each.key}');
    expect(lg.retention_in_days).toBe('${var.log_retention_days}');
    expect(lg.kms_key_id).toBe('${aws_kms_key.this["logs"].arn}');
    expect(mod.locals.prefix).toBe('${var.service_name}-${var.environment}');
    for (const fn of FUNCTIONS) expect(mod.resource.aws_cloudwatch_log_group[`function[${JSON.stringify(fn)}]`]?.name).toBe(`/aws/lambda/\${local.prefix}-${fn}`);
  });

  test('the API access log group: the name Serverless logs to, with retention and the logs key', async () => {
    expect(await checkApiAccessLogGroup(mod)).toEqual([]);
    const lg = mod.resource.aws_cloudwatch_log_group['service["api_access"]'];
    expect(lg.name).toBe('/aws/api-gateway/${local.prefix}');
    expect(lg.retention_in_days).toBe('${var.log_retention_days}');
    expect(lg.kms_key_id).toBe('${aws_kms_key.this["logs"].arn}');
  });

  test('the checker flags an access log group without KMS or retention, or under another name', async () => {
    const m = clone(mod);
    const access = 'service["api_access"]';
    delete m.resource.aws_cloudwatch_log_group[access].kms_key_id;
    delete m.resource.aws_cloudwatch_log_group[access].retention_in_days;
    expect(await checkApiAccessLogGroup(m)).toEqual([
      'aws_cloudwatch_log_group.service["api_access"]: retention_in_days is undefined, not var.log_retention_days',
      'aws_cloudwatch_log_group.service["api_access"]: kms_key_id is undefined, not the logs key',
    ]);
    const n = clone(mod);
    n.resource.aws_cloudwatch_log_group[access].name = '/aws/apigateway/${local.prefix}-access';
    n.resource.aws_cloudwatch_log_group[access].kms_key_id = '${aws_kms_key.this["audit"].arn}';
    expect(await checkApiAccessLogGroup(n)).toEqual([
      ...['dev', 'staging', 'prod'].map((e) => `aws_cloudwatch_log_group.service["api_access"]: name for ${e} is /aws/apigateway/tributary-${e}-access, not Serverless's /aws/api-gateway/tributary-${e}`),
      'aws_cloudwatch_log_group.service["api_access"]: kms_key_id is ${aws_kms_key.this["audit"].arn}, not the logs key',
    ]);
  });

  test('the account-level API Gateway CloudWatch role: trusted by API Gateway only, CloudWatch push rights only', async () => {
    expect(await checkApiGatewayCloudWatchRole(mod)).toEqual([]);
    expect(mod.resource.aws_api_gateway_account.this.cloudwatch_role_arn).toBe('${aws_iam_role.api_gateway_cloudwatch[0].arn}');
    // Optional, for accounts where another environment or the landing zone already sets the role.
    for (const r of [mod.resource.aws_api_gateway_account.this, mod.resource.aws_iam_role.api_gateway_cloudwatch, mod.resource.aws_iam_role_policy.api_gateway_cloudwatch]) {
      expect(r.count).toBe('${var.manage_api_gateway_account ? 1 : 0}');
    }
    expect(mod.variable.manage_api_gateway_account.default).toBe(true);
    const { statements } = await rolePolicyStatements(mod, 'api_gateway_cloudwatch');
    expect([...new Set(statements.flatMap((s) => s.actions))].sort()).toEqual([...API_GATEWAY_LOG_ACTIONS].sort());
  });

  test('the checker flags the managed policy, wider actions or resources, and another trusted principal', async () => {
    const m = clone(mod);
    m.resource.aws_iam_role_policy_attachment = {
      api_gateway_cloudwatch: { role: '${aws_iam_role.api_gateway_cloudwatch[0].name}', policy_arn: 'arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs' },
    };
    const doc = m.data.aws_iam_policy_document.api_gateway_cloudwatch;
    doc.statement = [
      ...blocks(doc, 'statement'),
      { sid: 'Wider', actions: ['logs:CreateLogGroup', 'logs:GetLogEvents'], resources: ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/api-gateway/x'] },
      { sid: 'Anywhere', actions: ['logs:PutLogEvents'], resources: ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*'] },
    ];
    const trust = blocks(m.data.aws_iam_policy_document.api_gateway_assume, 'statement')[0];
    blocks(trust, 'principals')[0].identifiers = ['apigateway.amazonaws.com', 'lambda.amazonaws.com'];
    expect(await checkApiGatewayCloudWatchRole(m)).toEqual([
      'data.aws_iam_policy_document.api_gateway_assume[ApiGatewayAssumesRole]: trust must be sts:AssumeRole by apigateway.amazonaws.com only (got sts:AssumeRole by Service:apigateway.amazonaws.com,lambda.amazonaws.com)',
      'aws_iam_role_policy_attachment.api_gateway_cloudwatch: managed policy arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs cannot be checked',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Wider]: beyond the CloudWatch push rights: logs:CreateLogGroup, logs:GetLogEvents',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Anywhere]: logs:PutLogEvents on arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*, not only API Gateway access log groups',
      'data.aws_iam_policy_document.api_gateway_cloudwatch[Anywhere]: may write the function log groups (arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*)',
    ]);
    const n = clone(mod);
    delete n.resource.aws_api_gateway_account;
    blocks(n.data.aws_iam_policy_document.api_gateway_cloudwatch, 'statement')[0].resources = ['arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/api-gateway/other-*'];
    expect(await checkApiGatewayCloudWatchRole(n)).toEqual([
      'expected 1 aws_api_gateway_account, found 0',
      ...['dev', 'staging', 'prod'].flatMap((e) => ['logs:CreateLogStream', 'logs:PutLogEvents'].map((a) => `aws_iam_role.api_gateway_cloudwatch: no ${a} on /aws/api-gateway/tributary-${e}`)),
    ]);
  });

  test('the private API endpoint exists only when private_api is true', () => {
    expect(mod.resource.aws_vpc_endpoint.execute_api.count).toBe('${var.private_api ? 1 : 0}');
    expect(mod.resource.aws_vpc_endpoint.execute_api.vpc_endpoint_type).toBe('Interface');
    expect(String(mod.resource.aws_vpc_endpoint.execute_api.service_name)).toMatch(/execute-api$/);
  });
});

describe('outputs and SSM parameters for serverless.yml', () => {
  test('every name serverless.yml needs is an SSM String parameter under /tributary/<environment>/', () => {
    const core = mod.locals.ssm_core;
    expect(isObj(core)).toBe(true);
    for (const name of REQUIRED_SSM) expect(Object.keys(core as Obj)).toContain(name);
    const p = modSource.resource.aws_ssm_parameter.config;
    expect(p.type).toBe('String');
    expect(p.for_each).toBe('${local.ssm_core}');
    expect(p.name).toBe('${local.ssm_prefix}/${each.key}');
    expect(mod.locals.ssm_prefix).toBe('/${var.service_name}/${var.environment}');
    expect(mod.variable.service_name.default).toBe('tributary');
  });

  test('the private API option: endpoint type always published, VPC endpoint ids as a StringList only when private_api', () => {
    expect((mod.locals.ssm_core as Obj).api_endpoint_type).toBe('${var.private_api ? "PRIVATE" : "REGIONAL"}');
    expect(mod.variable.private_api.default).toBe(false);
    const ids = mod.resource.aws_ssm_parameter.api_vpc_endpoint_ids;
    expect(ids.count).toBe('${var.private_api ? 1 : 0}');
    expect(ids.type).toBe('StringList');
    expect(ids.name).toBe('${local.ssm_prefix}/api_vpc_endpoint_ids');
    expect(ids.value).toBe('${join(",", aws_vpc_endpoint.execute_api[*].id)}');
  });

  test('the SSM parameters of the function roles and the study key point at their instances of the maps', () => {
    const core = mod.locals.ssm_core as Obj;
    const snake = (fn: string): string => fn.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    for (const fn of FUNCTIONS) {
      if (fn === 'analysis' || `${snake(fn)}_role_arn` in core) expect({ fn, value: core[`${snake(fn)}_role_arn`] }).toEqual({ fn, value: `\${aws_iam_role.${roleOf(fn)}.arn}` });
    }
    expect(core.study_kms_key_arn).toBe(`\${aws_kms_key.${keyOf('study')}.arn}`);
    expect(concrete(mod, String(mod.locals.analysis_workgroup_prefix), 'dev')).toBe('tributary-dev-study-');
    expect(mod.output.analysis_role_arn.value).toBe(core.analysis_role_arn);
    expect(mod.output.study_kms_key_arn.value).toBe(core.study_kms_key_arn);
  });

  test('every SSM name is also an output of the module and of the root', () => {
    for (const name of REQUIRED_SSM) {
      expect(Object.keys(mod.output)).toContain(name);
      expect(root.output[name]?.value).toBe(`\${module.tributary.${name}}`);
    }
  });
});

describe('terraform fmt layout', () => {
  const files = listFiles(TF_DIR, ['.tf', '.tfvars', '.hcl']);

  test.each(files.map((f) => [path.relative(TF_DIR, f), f]))('%s is canonically formatted', (rel, file) => {
    expect(formatFindings(rel, fs.readFileSync(file, 'utf8'))).toEqual([]);
  });

  test('accepts known terraform fmt output', () => {
    // From the Terraform style guide and the hcl2json README (both fmt-formatted).
    const ok = [
      'resource "aws_instance" "example" {',
      '  ami           = "abc123"',
      '  instance_type = "t2.micro"',
      '',
      '  network_interface {',
      '    # ...',
      '  }',
      '}',
      '',
      'variable "name" {',
      '  description = "Name to be used on all the resources as identifier"',
      '  type        = string',
      '  default     = ""',
      '}',
      '',
      'locals {',
      '  a = 1',
      '  tags = merge(var.tags, {',
      '    Name = "x"',
      '  })',
      '  list = [',
      '    "a",',
      '  ]',
      '  m = { for k, v in var.m : k => v if v != "" }',
      '  s = "${var.a}-${var.b}"',
      '}',
      '',
    ].join('\n');
    expect(formatFindings('ok.tf', ok)).toEqual([]);
  });

  test('flags misaligned, over-aligned and unaligned "="', () => {
    const bad = ['locals {', '  a = 1', '  bbb = 2', '}', ''].join('\n');
    expect(formatFindings('bad.tf', bad)).toEqual(['bad.tf:2: "=" at column 5, expected 7']);
    // A blank line ends the group: aligning across it is not what terraform fmt does.
    const over = ['locals {', '  a   = 1', '', '  bbb = 2', '}', ''].join('\n');
    expect(formatFindings('over.tf', over)).toEqual(['over.tf:2: "=" at column 7, expected 5']);
    const twoSpaces = ['locals {', '  a =  1', '}', ''].join('\n');
    expect(formatFindings('spaces.tf', twoSpaces)).toEqual(['spaces.tf:2: expected exactly one space after "="']);
  });

  test('flags wrong indentation, tabs, trailing whitespace, CRLF and block header spacing', () => {
    expect(formatFindings('i.tf', 'locals {\n   a = 1\n}\n')).toEqual(['i.tf:2: indented 3 spaces, expected 2']);
    expect(formatFindings('n.tf', 'a = {\n  b = {\n    c = 1\n  }\n  }\n')).toEqual(['n.tf:5: indented 2 spaces, expected 0']);
    expect(formatFindings('t.tf', 'locals {\n\ta = 1\n}\n')).toEqual(['t.tf:2: tab character', 't.tf:2: indented 0 spaces, expected 2']);
    expect(formatFindings('w.tf', 'locals {\n  a = 1 \n}\n')).toEqual(['w.tf:2: trailing whitespace']);
    expect(formatFindings('c.tf', 'locals {\r\n  a = 1\r\n}\r\n')).toEqual(['c.tf: CR characters (use LF line endings)']);
    expect(formatFindings('h.tf', 'resource  "a" "b" {\n}\n')).toEqual(['h.tf:1: block header spacing (expected single spaces: type "label" {)']);
    expect(formatFindings('e.tf', 'locals {\n  a = 1\n}')).toEqual(['e.tf: no final newline']);
  });

  test('flags the expression rewrites terraform fmt makes: interpolation-only strings, quoted type names', () => {
    expect(formatFindings('i.tf', 'locals {\n  a = "${var.x}"\n}\n')).toEqual(['i.tf:2: interpolation-only string (terraform fmt unwraps "${x}" to x)']);
    expect(formatFindings('ok.tf', 'locals {\n  a = "${var.x}-${var.y}"\n  b = "${var.x}/*"\n  c = "p/${var.x}"\n}\n')).toEqual([]);
    expect(formatFindings('t.tf', 'variable "a" {\n  type = "string"\n}\n')).toEqual(['t.tf:2: quoted type name (terraform fmt unquotes it)']);
  });

  test('aligns trailing comments of consecutive lines', () => {
    expect(formatFindings('ok.tf', 'locals {\n  a   = 1 # one\n  bcd = 2 # two\n}\n')).toEqual([]);
    expect(formatFindings('bad.tf', 'locals {\n  a   = 1 # one\n  bcd = 22 # two\n}\n')).toEqual(['bad.tf:2: comment at column 11, expected 12']);
  });

  test('"=" inside strings, comparisons and for expressions is not an attribute "="', () => {
    expect(formatFindings('ok.tf', 'locals {\n  x = "a=b"\n  yy = var.a == "=" ? 1 : 2\n}\n')).toEqual(['ok.tf:2: "=" at column 5, expected 6']);
  });
});

describe('operations console (console.tf)', () => {
  test('assets in a private bucket read by CloudFront only (origin access control), TLS only; /ops/* goes to the API', () => {
    const b = mod.resource.aws_s3_bucket.console;
    expect(b).toBeDefined();
    const pab = mod.resource.aws_s3_bucket_public_access_block.console;
    expect(pab).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    const sse = blocks(mod.resource.aws_s3_bucket_server_side_encryption_configuration.console, 'rule')[0];
    expect(blocks(sse, 'apply_server_side_encryption_by_default')[0]?.sse_algorithm).toBe('AES256');
    const cf = mod.resource.aws_cloudfront_distribution.console;
    const origins = blocks(cf, 'origin');
    expect(origins[0]).toMatchObject({ origin_id: 'console-assets', origin_access_control_id: '${aws_cloudfront_origin_access_control.console.id}' });
    expect(blocks(cf, 'default_cache_behavior')[0]).toMatchObject({ target_origin_id: 'console-assets', viewer_protocol_policy: 'redirect-to-https', allowed_methods: ['GET', 'HEAD'] });
    expect(mod.resource.aws_cloudfront_origin_access_control.console).toMatchObject({ origin_access_control_origin_type: 's3', signing_behavior: 'always' });
    const policy = mod.data.aws_iam_policy_document.console_bucket;
    const st = blocks(policy, 'statement');
    const read = st.find((x) => x.sid === 'CloudFrontReadsAssets')!;
    expect(read.actions).toEqual(['s3:GetObject']);
    expect(blocks(read, 'principals')[0]).toMatchObject({ type: 'Service', identifiers: ['cloudfront.amazonaws.com'] });
    expect(blocks(read, 'condition')[0]).toMatchObject({ variable: 'AWS:SourceArn', values: ['${aws_cloudfront_distribution.console.arn}'] });
    expect(st.find((x) => x.sid === 'DenyInsecureTransport')).toMatchObject({ effect: 'Deny' });
    // the ops API behind the same origin (no CORS): an ordered behaviour /ops/* to the API origin, never cached
    const src = fs.readFileSync(path.join(TF_DIR, 'modules/tributary/console.tf'), 'utf8');
    expect(src).toMatch(/path_pattern\s+= "\/ops\/\*"/);
    expect(src).toMatch(/target_origin_id\s+= "ops-api"/);
    expect(src).toMatch(/cache_policy_id\s+= local\.cf_caching_disabled/);
  });

  test('the job records table: key id, TTL, encryption, point-in-time recovery; published to serverless.yml through SSM', () => {
    const t = mod.resource.aws_dynamodb_table.jobs;
    expect(t).toMatchObject({ hash_key: 'id', billing_mode: 'PAY_PER_REQUEST' });
    expect(blocks(t, 'ttl')[0]).toMatchObject({ attribute_name: 'expiresAt', enabled: true });
    expect(blocks(t, 'server_side_encryption')[0]).toMatchObject({ enabled: true });
    expect(blocks(t, 'point_in_time_recovery')[0]).toMatchObject({ enabled: true });
    expect(mod.locals.ssm_core).toMatchObject({ jobs_table: '${aws_dynamodb_table.jobs.name}', ops_role_arn: '${aws_iam_role.function["ops"].arn}' });
  });
});
