/**
 * Business rules of the HL7 Java reference validator that are not FHIRPath invariants in the R4
 * StructureDefinitions, checked at the `strict` level:
 * - Bundle: `fullUrl` must be absolute; the link relations self/first/previous/next/last occur at most
 *   once; a reference to an entry must not be ambiguous (several entries match) and a versioned reference
 *   to a resource that is in the Bundle must match one of its versions (not for history/searchset Bundles).
 * - CapabilityStatement: a `searchParam` with a core `definition` must have that definition's type.
 * - SearchParameter: `derivedFrom` a core parameter keeps its type and base; `composite` needs 2+ components.
 * - StructureDefinition (constraint on a core type): every element path must exist in the base type.
 * - Parameters (option `referenceResolution: 'local'`): relative references must resolve inside it.
 *
 * @see https://hl7.org/fhir/R4/validation.html and, for the Bundle rules, https://hl7.org/fhir/R4/bundle.html#references
 */
import type { Ctx, ValidatorInternals } from './context';
import type { ModelRt, StructRt } from './model';

type Obj = Record<string, unknown>;
const isObj = (x: unknown): x is Obj => x !== null && typeof x === 'object' && !Array.isArray(x);
const arr = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);

/** Runs `fn` with `segs` pushed on the path stack. */
function at(c: Ctx, segs: (string | number)[], fn: () => void): void {
  c.seg.push(...segs);
  try {
    fn();
  } finally {
    c.seg.length -= segs.length;
  }
}

/** Finds the path of the first `reference` equal to `ref` inside `obj` (for issue expressions). */
function findReference(obj: unknown, ref: string, path: (string | number)[] = []): (string | number)[] | undefined {
  if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      const r = findReference(obj[i], ref, [...path, i]);
      if (r) return r;
    }
  } else if (isObj(obj)) {
    if (obj.reference === ref) return path;
    for (const k in obj) {
      if (k === 'reference') continue;
      const r = findReference(obj[k], ref, [...path, k]);
      if (r) return r;
    }
  }
  return undefined;
}

const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const REL_REF = /^(?:(.*)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/([A-Za-z0-9\-.]{1,64}))?$/;
const UNIQUE_LINKS = new Set(['self', 'first', 'previous', 'prev', 'next', 'last']);

/** Bundle rules (see the module comment). */
export function checkBundle(v: ValidatorInternals, b: Obj, c: Ctx): void {
  const entries = arr(b.entry);
  entries.forEach((e, i) => {
    if (!isObj(e)) return;
    if (typeof e.fullUrl === 'string' && !ABSOLUTE.test(e.fullUrl)) {
      at(c, ['entry', i], () => v.issue(c, 'error', 'invalid', `The fullUrl must be an absolute URL (not '${(e.fullUrl as string).slice(0, 100)}')`));
    }
  });
  const seenLinks = new Set<string>();
  arr(b.link).forEach((l, i) => {
    if (!isObj(l) || typeof l.relation !== 'string' || !UNIQUE_LINKS.has(l.relation)) return;
    if (seenLinks.has(l.relation)) {
      at(c, ['link', i], () => v.issue(c, 'error', 'invalid', `The link relationship type '${l.relation as string}' can only occur once`));
    }
    seenLinks.add(l.relation as string);
  });
  const refs = c.bundleRefs;
  if (!refs || !refs.length || b.type === 'history' || b.type === 'searchset') return;
  interface Target {
    idx: number;
    version?: string;
  }
  const byTypeId = new Map<string, Target[]>();
  const byFullUrl = new Map<string, Target[]>();
  entries.forEach((e, idx) => {
    if (!isObj(e) || !isObj(e.resource)) return;
    const r = e.resource;
    const version = isObj(r.meta) && typeof r.meta.versionId === 'string' ? r.meta.versionId : undefined;
    const t: Target = { idx, version };
    if (typeof r.resourceType === 'string' && typeof r.id === 'string') {
      const k = `${r.resourceType}/${r.id}`;
      if (!byTypeId.has(k)) byTypeId.set(k, []);
      byTypeId.get(k)!.push(t);
    }
    if (typeof e.fullUrl === 'string') {
      if (!byFullUrl.has(e.fullUrl)) byFullUrl.set(e.fullUrl, []);
      byFullUrl.get(e.fullUrl)!.push(t);
    }
  });
  const reported = new Set<string>();
  for (const [ref, entryIdx] of refs) {
    if (entryIdx < 0 || reported.has(`${entryIdx}|${ref}`)) continue;
    let candidates: Target[] | undefined;
    let version: string | undefined;
    const m = REL_REF.exec(ref);
    if (ref.startsWith('urn:')) candidates = byFullUrl.get(ref);
    else if (m) {
      version = m[4];
      const unversioned = version ? ref.slice(0, ref.indexOf('/_history/')) : ref;
      candidates = m[1] !== undefined && ABSOLUTE.test(ref) ? byFullUrl.get(unversioned) : byTypeId.get(`${m[2]}/${m[3]}`);
    }
    if (!candidates || candidates.length === 0) continue;
    let msg: string | undefined;
    if (version !== undefined) {
      const hits = candidates.filter((t) => t.version === version);
      if (hits.length === 0) msg = `Can't find '${ref}' in the bundle (no entry has version ${version}; ${candidates.length} resource(s) in the bundle have this identity)`;
      else if (hits.length > 1) msg = `Found ${hits.length} matches for '${ref}' in the bundle`;
    } else if (candidates.length > 1) {
      msg = `Multiple matches in bundle for reference ${ref} (${candidates.length} entries)`;
    }
    if (!msg) continue;
    reported.add(`${entryIdx}|${ref}`);
    const inner = findReference((entries[entryIdx] as Obj).resource, ref) ?? [];
    at(c, ['entry', entryIdx, 'resource', ...inner], () => v.issue(c, 'error', 'invalid', msg!));
  }
}

/** CapabilityStatement: searchParam types must match the core SearchParameter they cite. */
export function checkCapabilityStatement(v: ValidatorInternals, cs: Obj, c: Ctx, sps: ModelRt['searchParams']): void {
  arr(cs.rest).forEach((rest, i) => {
    if (!isObj(rest)) return;
    arr(rest.resource).forEach((res, j) => {
      if (!isObj(res)) return;
      arr(res.searchParam).forEach((sp, k) => {
        if (!isObj(sp) || typeof sp.definition !== 'string') return;
        const def = sps[sp.definition.split('|')[0]];
        if (def && typeof sp.type === 'string' && def.t !== sp.type) {
          at(c, ['rest', i, 'resource', j, 'searchParam', k], () =>
            v.issue(c, 'error', 'invalid', `Type mismatch - SearchParameter '${sp.definition as string}' type is ${def.t}, but type here is ${sp.type as string}`),
          );
        }
      });
    });
  });
}

/** SearchParameter: derivedFrom consistency and composite components. */
export function checkSearchParameter(v: ValidatorInternals, sp: Obj, c: Ctx, sps: ModelRt['searchParams']): void {
  if (typeof sp.derivedFrom === 'string') {
    const def = sps[sp.derivedFrom.split('|')[0]];
    if (def) {
      if (typeof sp.type === 'string' && sp.type !== def.t) {
        v.issue(c, 'error', 'business-rule', `The type ${sp.type} is different to the type ${def.t} in the derivedFrom SearchParameter ${sp.derivedFrom}`, 'type');
      }
      for (const b of arr(sp.base)) {
        if (typeof b === 'string' && !def.b.includes(b) && !def.b.includes('Resource') && !(def.b.includes('DomainResource') && b !== 'Binary' && b !== 'Bundle' && b !== 'Parameters')) {
          v.issue(c, 'error', 'business-rule', `The resource type ${b} is not listed as a base in the SearchParameter this is derived from (${sp.derivedFrom})`, 'base');
        }
      }
    }
  }
  if (sp.type === 'composite' && arr(sp.component).length < 2) {
    v.issue(c, 'error', 'business-rule', "When the SearchParameter has a type of 'composite', then the SearchParameter must define two or more components");
  }
}

/** Resolves one path segment of an ElementDefinition path from a set of structs; '*' = anything goes. */
function stepPath(m: ModelRt, from: (StructRt | '*' | 'prim')[], seg: string): (StructRt | '*' | 'prim')[] {
  const out: (StructRt | '*' | 'prim')[] = [];
  const element = m.types.get('Element')!;
  for (const st of from) {
    if (st === '*') return ['*'];
    const s = st === 'prim' ? element : st;
    if (st === 'prim' && seg === 'value') {
      out.push('prim');
      continue;
    }
    const base = seg.endsWith('[x]') ? seg.slice(0, -3) : undefined;
    for (const el of s.byKey.values()) {
      const hit = base !== undefined ? el.choice === base : el.n === seg || (el.choice === undefined && el.name === seg);
      if (!hit) continue;
      if (el.isResource) return ['*'];
      out.push(el.struct ?? 'prim');
    }
  }
  return out;
}

/** StructureDefinition: element paths of a constraint on a core type must exist in that type. */
export function checkStructureDefinition(v: ValidatorInternals, sd: Obj, c: Ctx, m: ModelRt): void {
  if (sd.derivation !== 'constraint' || typeof sd.type !== 'string') return;
  const base = m.types.get(sd.type);
  if (!base || base.kind === 'backbone') return;
  for (const part of ['differential', 'snapshot'] as const) {
    const p = sd[part];
    if (!isObj(p)) continue;
    arr(p.element).forEach((e, i) => {
      if (!isObj(e) || typeof e.path !== 'string') return;
      const segs = e.path.split('.');
      let ok = segs[0] === sd.type;
      let cur: (StructRt | '*' | 'prim')[] = [base];
      for (const s of segs.slice(1)) {
        if (!ok) break;
        cur = stepPath(m, cur, s);
        if (cur.length === 0) ok = false;
        if (cur[0] === '*') break;
      }
      if (!ok) {
        at(c, [part, 'element', i], () =>
          v.issue(c, 'error', 'invalid', `Invalid element path '${(e.path as string).slice(0, 120)}': it does not exist in the base type ${sd.type as string}`, 'path'),
        );
      }
    });
  }
}

/** Parameters: relative references in its resources must resolve to a resource in the same Parameters. */
export function checkParametersReferences(v: ValidatorInternals, params: Obj, c: Ctx): void {
  const found: [unknown, (string | number)[]][] = [];
  const collect = (list: unknown, path: (string | number)[]): void => {
    arr(list).forEach((p, i) => {
      if (!isObj(p)) return;
      if (isObj(p.resource)) found.push([p.resource, [...path, i, 'resource']]);
      if (p.part) collect(p.part, [...path, i, 'part']);
    });
  };
  collect(params.parameter, ['parameter']);
  const ids = new Set<string>();
  for (const [r] of found) {
    const o = r as Obj;
    if (typeof o.resourceType === 'string' && typeof o.id === 'string') ids.add(`${o.resourceType}/${o.id}`);
  }
  const scan = (x: unknown, path: (string | number)[]): void => {
    if (Array.isArray(x)) x.forEach((y, i) => scan(y, [...path, i]));
    else if (isObj(x)) {
      for (const k in x) {
        const val = x[k];
        if (k === 'reference' && typeof val === 'string') {
          const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/.*)?$/.exec(val);
          if (m && !ids.has(`${m[1]}/${m[2]}`)) {
            at(c, path, () => v.issue(c, 'error', 'structure', `Unable to resolve resource with reference '${val.slice(0, 100)}'`));
          }
        } else if (k !== 'contained') scan(val, [...path, k]);
      }
    }
  };
  for (const [r, path] of found) scan(r, path);
}
