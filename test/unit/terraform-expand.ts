/**
 * The module's buckets, KMS keys and function roles come from maps (for_each over locals, dynamic blocks): this
 * expands a configuration into its instances (`aws_s3_bucket.this["lake"]`, `aws_iam_role.function["etl"]`), with
 * each.key, each.value and the dynamic blocks' iterators evaluated with @cdktf/hcl2json's expression parser, so the
 * checks of the test/unit/terraform-*.test.ts files see each instance as Terraform would plan it.
 */
import { getExpressionAst } from '@cdktf/hcl2json';
import { isObj } from './terraform-config';
import type { Json, Obj, TfConfig } from './terraform-config';

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
export async function expandConfig(cfg: TfConfig): Promise<TfConfig> {
  const ev = new Evaluator(cfg.locals);
  return { ...cfg, resource: await expandBlocks(ev, cfg.resource, cfg.variable), data: await expandBlocks(ev, cfg.data, cfg.variable) };
}
