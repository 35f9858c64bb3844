/**
 * The walk: a resource is copied property by property along its compiled plan (`compile.ts`), each element
 * going through the policy method its rule chooses (`element-actions.ts`), references through the reference
 * rewriting (`references.ts`), extensions through the allow-list. Properties the plan does not know are
 * dropped, so the output holds only what the policy lets through. Top-level resources are labelled
 * (`security-labels.ts`).
 *
 * Hot path (every JSON property of every resource): plain functions over the one run context, so each call
 * site stays monomorphic; keep allocations out of the per-property loop.
 */
import { Cat, Special, type Choice, type ElemPlan, type NodePlan } from './compile';
import { generalize, generalizeBirthDate, hashPrimitive, mapValue, maskAbsent, NARRATIVE_PLACEHOLDER, pseudonymValue, scrub, vault } from './element-actions';
import { logicalReference, requestUrl, rewriteReference } from './references';
import type { Json, RunContext, Unit } from './run-context';
import { ClientError } from '../errors';
import { outcome } from '../outcomes';
import { labelMeta } from './security-labels';

/** Where a resource sits: a request's own resource, one inside a Bundle/Parameters, or a contained one. */
export type ResourceKind = 'top' | 'nested' | 'contained';

/**
 * The pseudonymised copy of resource `r` under lake id `id`: its contained resources renumbered (`c1`, `c2`, …),
 * its elements walked, and (top level) its meta labelled. Vaulted elements go to the identity record of the
 * patient (or, for other resources, of the resource itself).
 * @throws {@link ClientError} (400) for a resource type R4 does not define.
 */
export function walkResource(run: RunContext, r: Json, id: string, kind: ResourceKind, unit?: Unit): Json {
  const rt = r.resourceType as string;
  let node: NodePlan;
  try {
    node = run.compiled.resourcePlan(rt);
  } catch {
    throw new ClientError(outcome(400, 'structure', `Unknown resource type ${rt}`, unit?.expr ?? rt));
  }
  const out: Json = { resourceType: rt, id };
  const prevSubject = run.subject;
  const prevPseudonym = run.currentPseudonym;
  const prevContained = run.containedIds;
  if (rt === 'Patient') {
    const ps = run.patientOf.get(r)!;
    run.currentPseudonym = ps;
    run.subject = { id: ps, resourceType: rt, ...(typeof r.id === 'string' && kind !== 'contained' ? { sourceId: `Patient/${r.id}` } : {}) };
  } else if (kind !== 'contained') {
    run.currentPseudonym = undefined;
    run.subject = { id, resourceType: rt, ...(typeof r.id === 'string' ? { sourceId: `${rt}/${r.id}` } : {}) };
  }
  if (Array.isArray(r.contained) && r.contained.length > 0) {
    const map = new Map<string, string>();
    r.contained.forEach((c: Json, i: number) => {
      if (typeof c?.id === 'string') map.set(c.id, `c${i + 1}`);
    });
    run.containedIds = map;
    const contained: Json[] = [];
    r.contained.forEach((c: Json, i: number) => {
      if (c && typeof c === 'object') contained.push(walkResource(run, c, `c${i + 1}`, 'contained', unit));
    });
    out.contained = contained;
  }
  walkNode(run, r, node, out);
  if (kind === 'top') out.meta = labelMeta(out.meta ?? {}, run.engine.policyVersion, run.engine.keyVersion);
  run.subject = prevSubject;
  run.currentPseudonym = prevPseudonym;
  run.containedIds = prevContained;
  return out;
}

/** Copies the properties of `src` the plan `node` lets through into `out`. */
function walkNode(run: RunContext, src: Json, node: NodePlan, out: Json): Json {
  const props = node.props;
  for (const key in src) {
    const v = src[key];
    if (v === undefined || v === null) continue;
    let el = props.get(key);
    if (el === undefined) {
      if (key.charCodeAt(0) === 95 && src[key.slice(1)] === undefined) {
        el = props.get(key.slice(1));
        if (el !== undefined && el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE) orphanPrimitiveExt(run, key, v, el, node, out);
      } else if (key !== 'resourceType') {
        run.stats.removedElements++;
      }
      continue;
    }
    if (el.copy) {
      out[key] = Array.isArray(v) ? v.slice() : v;
      const ext = src[el.extKey];
      if (ext !== undefined && ext !== null) primitiveExt(run, ext, node, out, el.extKey);
      continue;
    }
    switch (el.special) {
      case Special.ROOT_ID:
      case Special.CONTAINED:
        continue;
      case Special.EXTENSION:
        extensions(run, key, v, el, node, out);
        continue;
      case Special.REF_STRING:
        if (typeof v === 'string') rewriteReference(run, v, out, key);
        continue;
      case Special.FULL_URL:
        if (typeof v === 'string') {
          const lake = run.fullUrls.get(v);
          out[key] = `urn:uuid:${run.hasher.uuidFor(run.source, lake ?? v)}`;
        }
        continue;
      case Special.REQUEST_URL:
        if (typeof v === 'string') requestUrl(run, v, out, key);
        continue;
    }
    element(run, src, key, v, el, node, out);
    if (el.required && out[key] === undefined) maskAbsent(key, v, el, out);
  }
  return out;
}

/** The rule that applies to `item` (by its Identifier system when the element's rules name systems). */
function pickChoice(el: ElemPlan, item: unknown): Choice | undefined {
  if (!el.bySystem) return el.choices[0];
  const system = (item as Json)?.system;
  for (const c of el.choices) if (c.systems === undefined || (typeof system === 'string' && c.systems.has(system))) return c;
  return undefined;
}

/** One element (single or array) under its rule into `out[key]`, with its `_key` sibling when kept. */
function element(run: RunContext, src: Json, key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
  if (el.bySystem && Array.isArray(v)) {
    // The method depends on each item's system: split by choice, keeping order.
    const kept: unknown[] = [];
    for (const item of v) {
      const r = one(run, item, el, node, pickChoice(el, item));
      if (r !== undefined) kept.push(r);
    }
    if (kept.length) out[key] = kept;
    return;
  }
  const choice = pickChoice(el, v);
  const method = choice?.method;
  if (method === 'vault') {
    vault(run, el.path, v, src[el.extKey]);
    if (choice!.then === 'generalize') {
      const g = mapValue(v, (x) => generalize(run, x, el));
      if (g !== undefined) out[key] = g;
    } else if (choice!.then === 'pseudonym') {
      const ps = pseudonymValue(run, el, Array.isArray(v));
      if (ps !== undefined) out[key] = ps;
    }
    return;
  }
  if (method === 'redact') {
    run.stats.removedElements++;
    if (el.type === 'Narrative' && run.params.narrative === 'placeholder' && !Array.isArray(v)) {
      out[key] = { status: 'empty', div: NARRATIVE_PLACEHOLDER };
    }
    return;
  }
  if (method === 'pseudonym') {
    const ps = pseudonymValue(run, el, Array.isArray(v));
    if (ps !== undefined) out[key] = ps;
    return;
  }
  if (Array.isArray(v)) {
    const ext = el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE ? src[el.extKey] : undefined;
    const kept: unknown[] = [];
    let keptExt: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = one(run, v[i], el, node, choice);
      if (r !== undefined) {
        if (run.keptAt && typeof r === 'string' && (el.cat === Cat.TEXT || el.cat === Cat.XHTML)) run.keptAt.push([kept, kept.length]);
        kept.push(r);
        if (Array.isArray(ext)) (keptExt ??= []).push(ext[i] ?? null);
      }
    }
    if (kept.length) {
      out[key] = kept;
      if (keptExt && keptExt.some((x) => x !== null)) {
        out[`_${key}`] = keptExt.map((x) => (x === null ? null : walkNode(run, x as Json, run.compiled.elementPlan(node.ctx.extFilter), {})));
      }
    }
    return;
  }
  const r = one(run, v, el, node, choice);
  if (r !== undefined) {
    out[key] = r;
    if (run.keptAt && typeof r === 'string' && (el.cat === Cat.TEXT || el.cat === Cat.XHTML)) run.keptAt.push([out, key]);
    if (el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE) {
      const ext = src[el.extKey];
      if (ext && typeof ext === 'object' && !Array.isArray(ext) && method !== 'generalize') primitiveExt(run, ext, node, out, el.extKey);
    }
  }
}

/** One value (array item or single) under `choice`; undefined to drop it. */
function one(run: RunContext, x: unknown, el: ElemPlan, node: NodePlan, choice: Choice | undefined): unknown {
  const method = choice?.method;
  switch (method) {
    case 'vault':
      vault(run, el.path, x, undefined);
      if (choice!.then === 'generalize') return generalize(run, x, el);
      if (choice!.then === 'pseudonym') return pseudonymValue(run, el, false);
      return undefined;
    case 'redact':
      run.stats.removedElements++;
      return undefined;
    case 'pseudonym':
      return pseudonymValue(run, el, false);
    case 'hash':
      return el.type === 'Identifier' ? hashIdentifier(run, x, el) : hashPrimitive(run, x, el);
    case 'generalize':
      return generalize(run, x, el);
    default:
      break;
  }
  const keep = method === 'keep';
  const p = run.params;
  switch (el.cat) {
    case Cat.TEXT:
      if (typeof x !== 'string') return undefined;
      if (keep || node.ctx.keepStrings || p.defaultString === 'keep') return scrub(run, x);
      run.stats.removedElements++;
      return undefined;
    case Cat.DATE:
      if (run.birthDates !== undefined && typeof x === 'string' && run.birthDates.has(x)) return generalizeBirthDate(run, x);
      return x;
    case Cat.B64:
      if (keep || p.defaultBase64Binary === 'keep') return x;
      run.stats.removedElements++;
      return undefined;
    case Cat.XHTML:
      return typeof x === 'string' ? scrub(run, x) : undefined;
    case Cat.PRIM:
      return x;
    case Cat.RESOURCE:
      if (!x || typeof x !== 'object') return undefined;
      return walkResource(run, x as Json, run.nestedIds.get(x) ?? run.hasher.hashId(run.source, String((x as Json).resourceType), String((x as Json).id)), 'nested');
    case Cat.COMPLEX: {
      if (!x || typeof x !== 'object') return undefined;
      const child = keep && !el.child!.keepStrings ? keepNodeOf(run, el) : nodeOf(run, el);
      const o: Json = {};
      if (el.special === Special.REFERENCE) logicalReference(run, x as Json, o);
      walkNode(run, x as Json, child, o);
      for (const _ in o) return o;
      return undefined;
    }
  }
  return x;
}

/** `hash` of an Identifier: its value keyed-hashed within its system, its other parts walked as usual. */
function hashIdentifier(run: RunContext, x: unknown, el: ElemPlan): unknown {
  if (!x || typeof x !== 'object') return undefined;
  const id = x as Json;
  const o: Json = {};
  walkNode(run, id, nodeOf(run, el), o);
  if (typeof id.value === 'string') o.value = run.hasher.hashIdentifier(run.source, typeof id.system === 'string' ? id.system : undefined, id.value);
  else delete o.value;
  for (const _ in o) return o;
  return undefined;
}

/** The plan of a complex element's children (compiled once, cached on the element plan). */
function nodeOf(run: RunContext, el: ElemPlan): NodePlan {
  const cache = el as ElemPlan & { _node?: NodePlan };
  return (cache._node ??= run.compiled.node(el.child!));
}

/** The plan of a `keep` element's children: strings kept, extensions not filtered (cached on the element plan). */
function keepNodeOf(run: RunContext, el: ElemPlan): NodePlan {
  const cache = el as ElemPlan & { _keepNode?: NodePlan };
  return (cache._keepNode ??= run.compiled.node({ ...el.child!, keepStrings: true, extFilter: false }));
}

/** extension / modifierExtension: only allowed URLs (when the node filters), each walked. */
function extensions(run: RunContext, key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
  if (!Array.isArray(v)) return;
  const allowed = run.compiled.allowedExtensions;
  const kept: Json[] = [];
  for (const x of v) {
    if (!x || typeof x !== 'object') continue;
    if (node.ctx.extFilter && !allowed.has((x as Json).url)) {
      run.stats.removedExtensions++;
      continue;
    }
    const o = walkNode(run, x as Json, nodeOf(run, el), {});
    if (typeof o.url === 'string' && Object.keys(o).length > 1) kept.push(o);
  }
  if (kept.length) out[key] = kept;
}

/** The `_x` sibling of a kept primitive `x` (single or array): ids and allowed extensions, into `out[extKey]`. */
function primitiveExt(run: RunContext, ext: unknown, node: NodePlan, out: Json, extKey: string): void {
  const plan = run.compiled.elementPlan(node.ctx.extFilter);
  if (Array.isArray(ext)) {
    const items = ext.map((x) => (x && typeof x === 'object' ? walkNode(run, x as Json, plan, {}) : null));
    if (items.some((x) => x && Object.keys(x).length)) out[extKey] = items.map((x) => (x && Object.keys(x).length ? x : null));
  } else if (ext && typeof ext === 'object') {
    const o = walkNode(run, ext as Json, plan, {});
    if (Object.keys(o).length) out[extKey] = o;
  }
}

/** `_x` without `x`: the primitive carries only extensions (e.g. data-absent-reason), unless its rule removes it. */
function orphanPrimitiveExt(run: RunContext, key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
  const method = el.choices[0]?.method;
  if (method === 'redact' || method === 'vault' || method === 'pseudonym') return;
  primitiveExt(run, v, node, out, key);
}
