/**
 * Compiles a validated {@link Policy} into direct accessors: for every element the engine meets, a plan built
 * once (lazily, then cached) that says what to do with that JSON property, so pseudonymising a resource is a
 * single walk over its own properties with map look-ups and no FHIRPath evaluation.
 */
import type { Policy, PolicyMethod, PolicyRule } from './policy';
import {
  canonicalChild,
  childrenOf,
  choiceBaseOf,
  defPathFor,
  isComplexDataType,
  isResourceType,
  resolveRulePath,
  typeChain,
} from './model';
import required from './r4-required.json';

const REQUIRED: ReadonlySet<string> = new Set(required.paths);

/** Element category, from its FHIR type. */
export const enum Cat {
  /** string, markdown */
  TEXT,
  /** date, dateTime */
  DATE,
  /** base64Binary */
  B64,
  /** xhtml (Narrative.div) */
  XHTML,
  /** any other primitive (code, uri, id, boolean, number, instant, time, System.String) */
  PRIM,
  /** complex data type or backbone element */
  COMPLEX,
  /** a nested resource (contained, Bundle.entry.resource, Parameters.parameter.resource) */
  RESOURCE,
}

/** Elements the engine handles itself, whatever the rules. */
export const enum Special {
  NONE,
  /** Resource.id at a resource root */
  ROOT_ID,
  /** DomainResource.contained at a resource root */
  CONTAINED,
  /** extension / modifierExtension */
  EXTENSION,
  /** a Reference (its `reference` is rewritten) */
  REFERENCE,
  /** Bundle.entry.fullUrl */
  FULL_URL,
  /** Bundle.entry.request.url */
  REQUEST_URL,
  /** Reference.reference (inside a Reference node) */
  REF_STRING,
}

/** One candidate rule for an element, in precedence order. */
export interface Choice {
  method: PolicyMethod;
  then: 'generalize' | 'pseudonym' | undefined;
  /** Identifier systems the rule is limited to (undefined: all). */
  systems: Set<string> | undefined;
  ruleIndex: number;
}

/** What to do with one JSON property of a node. */
export interface ElemPlan {
  key: string;
  /** Canonical path (`Patient.name`, `HumanName.family` when detached from a resource), for vault records. */
  path: string;
  type: string;
  cat: Cat;
  special: Special;
  /** Candidate rules, best first; empty: default behaviour for the category. */
  choices: Choice[];
  /** True when some candidate has `systems` (the choice depends on each identifier's system). */
  bySystem: boolean;
  /** True for Address.postalCode. */
  postalCode: boolean;
  /** `_key`: the JSON name of the primitive's extension sibling. */
  extKey: string;
  /** Copied as is (a primitive no rule names and the engine does not rewrite). */
  copy: boolean;
  /** Minimum cardinality 1 in R4: when the policy empties it, a data-absent-reason `masked` takes its place. */
  required: boolean;
  /** Child context for complex / backbone elements. */
  child: NodeCtx | undefined;
}

/** Context a node plan is compiled for. */
export interface NodeCtx {
  /** Canonical path of the node, rooted at its resource type ('' when no resource path rule reaches below). */
  rulePath: string;
  /** Definition path for its children (`Patient.contact`, `HumanName`, `Element`). */
  defPath: string;
  /** FHIR type of the node (resource type, data type, `BackboneElement`). */
  type: string;
  /** Strings not named by any rule are kept (inside a `keep` subtree or an allowed extension). */
  keepStrings: boolean;
  /** Extensions are filtered by the allow-list. */
  extFilter: boolean;
}

/** A compiled node: the plan of each of its properties. */
export interface NodePlan {
  ctx: NodeCtx;
  props: Map<string, ElemPlan>;
}

/** The compiled policy. */
export class CompiledPolicy {
  private readonly byPath = new Map<string, (PolicyRule & { index: number })[]>();
  private readonly byType = new Map<string, (PolicyRule & { index: number })[]>();
  private readonly byTypeElement = new Map<string, (PolicyRule & { index: number })[]>();
  private readonly resourceKeep = new Set<string>();
  /** Canonical path prefixes under which some path rule applies. */
  private readonly pathPrefixes = new Set<string>();
  private readonly plans = new Map<string, NodePlan>();
  /** Extension URLs that are kept. */
  readonly allowedExtensions: Set<string>;

  constructor(readonly policy: Policy) {
    this.allowedExtensions = new Set(policy.extensions.allow);
    policy.rules.forEach((rule, index) => {
      const r = { ...rule, index };
      const at = resolveRulePath(rule.path);
      const push = (m: Map<string, (PolicyRule & { index: number })[]>, k: string) => {
        const list = m.get(k);
        if (list) list.push(r);
        else m.set(k, [r]);
      };
      switch (at.kind) {
        case 'resource':
          this.resourceKeep.add(at.root);
          break;
        case 'type':
          push(this.byType, at.root);
          break;
        case 'typeElement':
          push(this.byTypeElement, at.canonical);
          break;
        case 'path': {
          const canonical = at.canonical.startsWith('DomainResource.') ? 'Resource' + at.canonical.slice(14) : at.canonical;
          push(this.byPath, canonical);
          const segs = canonical.split('.');
          for (let i = 1; i < segs.length; i++) this.pathPrefixes.add(segs.slice(0, i).join('.'));
          break;
        }
      }
    });
  }

  /** Root plan of a resource type. @throws Error for an unknown resource type. */
  resourcePlan(resourceType: string): NodePlan {
    const hit = this.plans.get(resourceType);
    if (hit) return hit;
    if (!isResourceType(resourceType) || resourceType === 'Resource' || resourceType === 'DomainResource') {
      throw new Error(`unknown resource type ${resourceType}`);
    }
    const keep = this.resourceKeep.has(resourceType);
    const plan = this.build({ rulePath: resourceType, defPath: resourceType, type: resourceType, keepStrings: keep, extFilter: !keep }, true);
    this.plans.set(resourceType, plan);
    return plan;
  }

  /** Plan of the Element behind a primitive's `_x` sibling (id + extension). */
  elementPlan(extFilter: boolean): NodePlan {
    const i = extFilter ? 1 : 0;
    return (this.elementPlans[i] ??= this.node({ rulePath: '', defPath: 'Element', type: 'Element', keepStrings: false, extFilter }));
  }
  private readonly elementPlans: (NodePlan | undefined)[] = [undefined, undefined];

  /** Plan of a node in `ctx` (cached). */
  node(ctx: NodeCtx): NodePlan {
    const key = `${ctx.rulePath}|${ctx.defPath}|${ctx.type}|${ctx.keepStrings ? 1 : 0}${ctx.extFilter ? 1 : 0}`;
    const hit = this.plans.get(key);
    if (hit) return hit;
    const plan = this.build(ctx, false);
    this.plans.set(key, plan);
    return plan;
  }

  private build(ctx: NodeCtx, root: boolean): NodePlan {
    const props = new Map<string, ElemPlan>();
    let kids = childrenOf(ctx.defPath);
    if (kids.size === 0 && isComplexDataType(ctx.type)) kids = childrenOf(ctx.type);
    for (const [name, type] of kids) props.set(name, this.elem(ctx, name, type, root));
    return { ctx, props };
  }

  private elem(ctx: NodeCtx, name: string, type: string, root: boolean): ElemPlan {
    const canonical = ctx.rulePath ? canonicalChild(ctx.rulePath, ctx.defPath, name, type) : '';
    const choices = this.candidates(ctx, name, type, canonical, root);
    let cat: Cat;
    // Element ids ("id" below the root, System.String) are free text too: kept only where strings are kept.
    const elementId = !root && name === 'id' && type === 'System.String';
    switch (elementId ? 'string' : type) {
      case 'string':
      case 'markdown':
        cat = Cat.TEXT;
        break;
      case 'date':
      case 'dateTime':
        cat = Cat.DATE;
        break;
      case 'base64Binary':
        cat = Cat.B64;
        break;
      case 'xhtml':
        cat = Cat.XHTML;
        break;
      case 'Resource':
        cat = Cat.RESOURCE;
        break;
      default:
        cat = /^[a-z]|^System\./.test(type) ? Cat.PRIM : Cat.COMPLEX;
    }
    let special = Special.NONE;
    if (root && name === 'id') special = Special.ROOT_ID;
    else if (root && name === 'contained') special = Special.CONTAINED;
    else if ((name === 'extension' || name === 'modifierExtension') && type === 'Extension') special = Special.EXTENSION;
    else if (type === 'Reference') special = Special.REFERENCE;
    else if (ctx.type === 'Reference' && name === 'reference') special = Special.REF_STRING;
    else if (ctx.defPath === 'Bundle.entry' && name === 'fullUrl') special = Special.FULL_URL;
    else if (ctx.defPath === 'Bundle.entry.request' && name === 'url') special = Special.REQUEST_URL;

    const first = choices[0];
    let child: NodeCtx | undefined;
    if (cat === Cat.COMPLEX) {
      const defPath = defPathFor(`${ctx.defPath}.${name}`, type) ?? type;
      // Keep following the resource path only while some path rule lies below it.
      const generic = canonical ? 'Resource' + canonical.slice(canonical.indexOf('.')) : '';
      const rulePath = canonical && (this.pathPrefixes.has(canonical) || this.pathPrefixes.has(generic)) ? canonical : '';
      const keep = first !== undefined && first.systems === undefined && first.method === 'keep';
      child = {
        rulePath,
        defPath,
        type,
        keepStrings: ctx.keepStrings || keep,
        extFilter: ctx.extFilter && !keep,
      };
      if (type === 'Extension') child = { ...child, keepStrings: true, extFilter: false };
    }
    return {
      key: name,
      path: canonical || `${ctx.type}.${name}`,
      type,
      cat,
      special,
      choices,
      bySystem: choices.some((c) => c.systems !== undefined),
      postalCode: name === 'postalCode' && typeChain(ctx.type).includes('Address'),
      required: REQUIRED.has(`${ctx.defPath}.${name}`),
      extKey: `_${name}`,
      copy: cat === Cat.PRIM && special === Special.NONE && choices.length === 0,
      child,
    };
  }

  /**
   * Candidate rules for child `name` of a node, most specific first: resource paths (`Patient.name`), then
   * elements of data types (`Reference.identifier`), then whole data types (`Identifier`); file order within each.
   */
  private candidates(ctx: NodeCtx, name: string, type: string, canonical: string, root: boolean): Choice[] {
    const pathHits: (PolicyRule & { index: number })[] = [];
    const elemHits: (PolicyRule & { index: number })[] = [];
    const typeHits: (PolicyRule & { index: number })[] = [];
    const base = choiceBaseOf(`${ctx.defPath}.${name}`);
    const baseName = base ? base.slice(base.lastIndexOf('.') + 1) : undefined;
    if (canonical) {
      const dot = canonical.lastIndexOf('.');
      const parent = canonical.slice(0, dot);
      const keys = [canonical];
      if (baseName) keys.push(`${parent}.${baseName}`);
      // `Resource.x` rules apply to every resource type.
      const first = canonical.indexOf('.');
      const generic = 'Resource' + canonical.slice(first);
      if (generic !== canonical) {
        keys.push(generic);
        if (baseName) keys.push('Resource' + parent.slice(first) + '.' + baseName);
      }
      for (const k of keys) pathHits.push(...(this.byPath.get(k) ?? []));
    }
    // Elements of data types (Coding.display), for the node's type and its ancestors (Age → Quantity).
    if (!root && isComplexDataType(ctx.defPath.split('.')[0]!)) {
      const inner = ctx.defPath.includes('.') ? ctx.defPath.slice(ctx.defPath.indexOf('.')) : '';
      for (const t of typeChain(ctx.defPath.split('.')[0]!)) {
        elemHits.push(...(this.byTypeElement.get(`${t}${inner}.${name}`) ?? []));
        if (baseName) elemHits.push(...(this.byTypeElement.get(`${t}${inner}.${baseName}`) ?? []));
      }
    }
    for (const t of typeChain(type)) typeHits.push(...(this.byType.get(t) ?? []));
    pathHits.sort((a, b) => a.index - b.index);
    elemHits.sort((a, b) => a.index - b.index);
    typeHits.sort((a, b) => a.index - b.index);
    const out: Choice[] = [];
    for (const r of [...pathHits, ...elemHits, ...typeHits]) {
      if (out.some((c) => c.ruleIndex === r.index)) continue;
      out.push({ method: r.method, then: r.keep, systems: r.systems ? new Set(r.systems) : undefined, ruleIndex: r.index });
      if (!r.systems) break;
    }
    return out;
  }
}
