/**
 * Fast FHIR R4 validator generated from the official StructureDefinitions (issue 6).
 *
 * `scripts/gen-profile-validator.mjs` compiles the R4 snapshots once, at build time, into
 * `generated/profile-model.json`; {@link createProfileValidator} links it (a few ms) and validation is a
 * single walk of the JSON over pre-computed maps: unknown elements, cardinality (incl. max 0), JSON
 * array-ness, choice types (`value[x]`), primitive formats (R4 regexes, base64, 1 MB limit), `_primitive`
 * extension shapes, nested types, backbone elements and `contentReference`, contained resources and
 * Bundle entries (each validated as its own type), required bindings, the core invariants (`ele-1`,
 * `dom-2..6`, `ref-1`, `per-1`, `txt-1/2` implemented directly; all others through a fast JSON evaluator
 * with the HL7 `fhirpath` package, expressions compiled once, as fallback), a few business rules of the
 * HL7 reference validator (see `business.ts`) and user rules (`rules/rules.yaml`).
 *
 * Levels follow AWS HealthLake: `strict` (everything), `structure-only` (structure, cardinality, types,
 * formats; no bindings, invariants or rules), `minimal` (a JSON object with a known resourceType).
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { linkModel, type ElementRt, type InvariantRt, type ModelRt, type RawModel, type StructRt } from './model';
import { compilePrimitiveCheckers, dateLessOrEqual, base64DecodedLength, isBase64, type PrimitiveChecker } from './primitives';
import { checkXhtml } from './xhtml';
import { evalIr, FhirPathRunner, UNKNOWN, type IrEnv } from './fastpath';
import { loadUserRules, RulesConfigError, type UserRule, type UserRuleSpec } from './rules';
import type { ValidationLevel } from './types';
import { checkBundle, checkCapabilityStatement, checkParametersReferences, checkSearchParameter, checkStructureDefinition } from './business';

export { loadUserRules, RulesConfigError };
export type { UserRule, UserRuleSpec };
export type { InvariantRt };
export type { ValidationLevel };

/** Options of {@link createProfileValidator}. */
export interface ProfileValidatorOptions {
  /** The generated model (`generated/profile-model.json`, parsed: `readProfileModel()` in `src/paths.ts`). */
  model: RawModel;
  /**
   * Compile every fhirpath-evaluated invariant at construction (about 200 ms more) instead of on first
   * use. Either way each expression is compiled once per validator.
   */
  eager?: boolean;
  /** User rules (from {@link loadUserRules}), applied at `strict`. */
  userRules?: UserRule[];
  /** Accept example URLs (example.org, example.com, acme.com) in uri/url/canonical values (default true). */
  allowExampleUrls?: boolean;
  /** Markdown that contains HTML tags: `'allow'` (default) or `'error'`. */
  htmlInMarkdown?: 'allow' | 'error';
  /** Validate contained resources (default true); false only checks that they name a resource type. */
  validateContained?: boolean;
  /**
   * `'local'`: relative references inside a Parameters resource must resolve to a resource in the same
   * Parameters (the reference validator's CHECK_EXISTS policy); default `'none'`.
   */
  referenceResolution?: 'none' | 'local';
  /** Stop collecting after this many issues (default 500). */
  maxIssues?: number;
  /**
   * Test hook: called whenever the fast JSON evaluator decided an invariant (`ok` = not violated), so a
   * test can compare with the fhirpath package on the same node. Not for production use.
   */
  onFastPath?: (inv: InvariantRt, node: unknown, ok: boolean, env: { resource: unknown; rootResource: unknown }) => void;
}

/** A validator instance: construct once (cold start), call {@link ProfileValidator.validate} per resource. */
export interface ProfileValidator {
  /**
   * Validates one resource (a Bundle's entries are validated too, each as its own type).
   * @param resource the parsed JSON
   * @param level `strict` (default), `structure-only` or `minimal`
   * @param root FHIRPath of the resource in the request, used as the prefix of every expression
   *   (default: its resourceType, e.g. `Patient`)
   * @returns the issues (errors and warnings); the resource is valid when none has severity `error`
   */
  validate(resource: unknown, level?: ValidationLevel, root?: string): OperationOutcomeIssue[];
  /** The concrete R4 resource types. */
  readonly resourceTypes: ReadonlySet<string>;
  /**
   * Invariants that are not evaluated, with the reason: the model's expressions the fhirpath package
   * could not compile or evaluate so far (all of them after construction with `eager`), plus the
   * invariants known to need functions it lacks (implemented directly here instead).
   */
  skippedInvariants(): Record<string, string>;
  /** Required bindings that are not checked (value set not enumerable from the R4 packages). */
  readonly skippedBindings: readonly string[];
}

/**
 * One-line summary of the invariants not evaluated (for documentation and reports): the model has no
 * invariant that is skipped outright; `txt-1`/`txt-2` (`htmlChecks()`, not in fhirpath) and `dom-3`,
 * `ele-1`, `ext-1`, `dom-2/4/5/6`, `ref-1`, `per-1` are implemented directly. Any expression the
 * fhirpath package cannot evaluate at run time is skipped and listed by `skippedInvariants()`.
 */
export const SKIPPED_INVARIANTS_SUMMARY =
  'Skipped: eld-16/eld-19/eld-20 (regexes invalid in JS unicode mode) and ctm-1 (resolve() is async-only in fhirpath.js); ' +
  'txt-1/txt-2 (htmlChecks(), not in fhirpath) are implemented directly, as are ele-1, ext-1, dom-2..6, ref-1, per-1, bdl-7 for speed.';

/** Invariants the fhirpath package is known not to evaluate (found on the R4 examples). */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  'eld-16': 'regex in matches() is not valid in JavaScript unicode mode (Invalid escape)',
  'eld-19': 'regex in matches() is not valid in JavaScript unicode mode (Invalid escape)',
  'eld-20': 'regex in matches() is not valid in JavaScript unicode mode (Lone quantifier brackets)',
  'ctm-1': 'resolve() is only available in fhirpath async mode',
};

/**
 * Conformance and terminology resources, which HL7's own tooling publishes with core extensions outside
 * their declared contexts (e.g. `translation` on ValueSet.expansion.contains): the extension context rule
 * is not applied inside them.
 */
const CONFORMANCE = new Set(
  'StructureDefinition ValueSet CodeSystem ConceptMap SearchParameter OperationDefinition CapabilityStatement CompartmentDefinition ImplementationGuide NamingSystem StructureMap GraphDefinition MessageDefinition TerminologyCapabilities'.split(' '),
);
const EXAMPLE_URL = /(?:^|[/.@])(?:example\.org|example\.com|acme\.com)(?:[/:?#]|$)/i;
const HTML_TAG_IN_MARKDOWN = /<[A-Za-z!/?]/;
const REF_TYPE = /^(?:https?:\/\/[^?#\s]*\/)?([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

/** Mutable state of one validate() call. */
export interface Ctx {
  issues: OperationOutcomeIssue[];
  strict: boolean;
  seg: (string | number)[];
  resource: unknown;
  rootResource: unknown;
  /** seg index where the innermost resource starts */
  resStart: number;
  /** nesting depth in contained resources */
  contained: number;
  /** references seen in the current Bundle entry resources: [reference, entry index] */
  bundleRefs?: [string, number][];
  entryIndex: number;
  full: boolean;
}

/** Formats a segment stack as a FHIRPath-style expression (`Patient.name[0].given[1]`). */
export function formatPath(seg: readonly (string | number)[], from = 0): string {
  let s = '';
  for (let i = from; i < seg.length; i++) {
    const p = seg[i];
    if (typeof p === 'number') s += `[${p}]`;
    else s += s.length ? `.${p}` : p;
  }
  return s;
}

class ProfileValidatorImpl implements ProfileValidator {
  readonly resourceTypes: ReadonlySet<string>;
  readonly skippedBindings: readonly string[];
  private readonly m: ModelRt;
  private readonly prims: Map<string, PrimitiveChecker>;
  private readonly fp = new FhirPathRunner();
  private readonly rules = new Map<string, UserRule[]>();
  private readonly allowExampleUrls: boolean;
  private readonly htmlInMarkdown: boolean;
  private readonly validateContained: boolean;
  private readonly localRefs: boolean;
  private readonly maxIssues: number;
  private readonly onFastPath?: ProfileValidatorOptions['onFastPath'];

  constructor(opts: ProfileValidatorOptions) {
    this.m = linkModel(opts.model);
    this.resourceTypes = this.m.resourceTypes;
    this.skippedBindings = this.m.raw.skipped.bindings;
    this.prims = compilePrimitiveCheckers(this.m.primitives);
    for (const r of opts.userRules ?? []) {
      if (!this.rules.has(r.resourceType)) this.rules.set(r.resourceType, []);
      this.rules.get(r.resourceType)!.push(r);
    }
    this.allowExampleUrls = opts.allowExampleUrls ?? true;
    this.htmlInMarkdown = (opts.htmlInMarkdown ?? 'allow') === 'allow';
    this.validateContained = opts.validateContained ?? true;
    this.localRefs = opts.referenceResolution === 'local';
    this.maxIssues = opts.maxIssues ?? 500;
    this.onFastPath = opts.onFastPath;
    if (opts.eager) for (const inv of this.m.invariants) if (!inv.d) this.fp.compile(inv);
  }

  skippedInvariants(): Record<string, string> {
    return {
      'txt-1': 'htmlChecks() is not implemented by fhirpath: checked directly (xhtml.ts)',
      'txt-2': 'htmlChecks() is not implemented by fhirpath: checked directly (xhtml.ts)',
      ...KNOWN_UNSUPPORTED,
      ...Object.fromEntries(this.fp.unsupported),
    };
  }

  validate(resource: unknown, level: ValidationLevel = 'strict', root?: string): OperationOutcomeIssue[] {
    const c: Ctx = {
      issues: [],
      strict: level === 'strict',
      seg: [],
      resource,
      rootResource: resource,
      resStart: 0,
      contained: 0,
      entryIndex: -1,
      full: false,
    };
    const rt = resource !== null && typeof resource === 'object' && !Array.isArray(resource) ? (resource as { resourceType?: unknown }).resourceType : undefined;
    c.seg.push(root ?? (typeof rt === 'string' && rt.length < 80 ? rt : 'Resource'));
    if (level === 'minimal') {
      this.checkResourceType(resource, c);
      return c.issues;
    }
    this.resource(resource, c, 'root');
    return c.issues;
  }

  // ------------------------------------------------------------------------------------------
  // Reporting
  // ------------------------------------------------------------------------------------------
  /** Adds an issue at the current path (plus an optional trailing element name). */
  issue(c: Ctx, severity: 'error' | 'warning', code: OperationOutcomeIssue['code'], diagnostics: string, extra?: string): void {
    if (c.full) return;
    let expr = formatPath(c.seg);
    if (extra) expr += `.${extra}`;
    c.issues.push({ severity, code, diagnostics, expression: [expr] });
    if (c.issues.length >= this.maxIssues) {
      c.full = true;
      c.issues.push({ severity: 'warning', code: 'too-costly', diagnostics: `Stopped after ${this.maxIssues} issues`, expression: [formatPath(c.seg.slice(0, 1))] });
    }
  }

  private checkResourceType(resource: unknown, c: Ctx): StructRt | undefined {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      this.issue(c, 'error', 'structure', 'A resource must be a JSON object');
      return undefined;
    }
    const rt = (resource as { resourceType?: unknown }).resourceType;
    if (typeof rt !== 'string') {
      this.issue(c, 'error', 'structure', 'Missing resourceType', 'resourceType');
      return undefined;
    }
    if (!this.m.resourceTypes.has(rt)) {
      this.issue(c, 'error', 'structure', `Unknown resourceType '${rt.slice(0, 64)}'`, 'resourceType');
      return undefined;
    }
    return this.m.types.get(rt);
  }

  // ------------------------------------------------------------------------------------------
  // Resources
  // ------------------------------------------------------------------------------------------
  private resource(obj: unknown, c: Ctx, kind: 'root' | 'contained' | 'entry' | 'nested'): void {
    const st = this.checkResourceType(obj, c);
    if (!st) return;
    if (kind === 'contained' && !this.validateContained) return;
    const r = obj as Record<string, unknown>;
    const prevRes = c.resource;
    const prevRoot = c.rootResource;
    const prevStart = c.resStart;
    const prevRefs = c.bundleRefs;
    const prevEntry = c.entryIndex;
    c.resource = obj;
    if (kind !== 'contained') c.rootResource = obj;
    if (kind === 'contained') c.contained++;
    c.resStart = c.seg.length - 1;
    const isBundle = st.name === 'Bundle';
    if (isBundle) {
      c.bundleRefs = c.strict ? [] : undefined;
      c.entryIndex = -1;
    }
    this.walk(st, r, c);
    if (c.strict) {
      switch (st.name) {
        case 'Bundle':
          checkBundle(this, r, c);
          break;
        case 'CapabilityStatement':
          checkCapabilityStatement(this, r, c, this.m.searchParams);
          break;
        case 'SearchParameter':
          checkSearchParameter(this, r, c, this.m.searchParams);
          break;
        case 'StructureDefinition':
          checkStructureDefinition(this, r, c, this.m);
          break;
        case 'Parameters':
          if (this.localRefs) checkParametersReferences(this, r, c);
          break;
      }
      const rules = this.rules.get(st.name);
      if (rules) this.userRules(rules, r, c);
    }
    if (kind === 'contained') c.contained--;
    c.resource = prevRes;
    c.rootResource = prevRoot;
    c.resStart = prevStart;
    if (isBundle) {
      c.bundleRefs = prevRefs;
      c.entryIndex = prevEntry;
    }
  }

  private userRules(rules: UserRule[], r: Record<string, unknown>, c: Ctx): void {
    for (const rule of rules) {
      let res: unknown[];
      try {
        res = rule.evaluate(r);
      } catch {
        this.issue(c, 'warning', 'processing', `Rule ${rule.id} could not be evaluated`);
        continue;
      }
      if (res.length === 1 && res[0] === false) {
        this.issue(c, rule.severity, rule.severity === 'error' ? 'business-rule' : 'informational', `Rule failed: ${rule.id}: ${rule.message}`);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Structure walk
  // ------------------------------------------------------------------------------------------
  private walk(st: StructRt, obj: Record<string, unknown>, c: Ctx): void {
    let children = 0;
    let seen: Record<string, string> | undefined;
    const isResource = st.kind === 'resource';
    for (const key in obj) {
      const v = obj[key];
      const el = st.byKey.get(key);
      if (el === undefined) {
        if (isResource && key === 'resourceType') continue;
        if (key.charCodeAt(0) === 95) {
          const pel = st.byKey.get(key.slice(1));
          if (pel !== undefined && pel.prim !== undefined) {
            children++;
            c.seg.push(key);
            this.primitiveExtension(pel, v, obj[pel.n], c);
            c.seg.pop();
            continue;
          }
        }
        c.seg.push(key);
        this.issue(c, 'error', 'structure', `Unrecognized property '${key.length > 64 ? key.slice(0, 64) + '...' : key}'`);
        c.seg.pop();
        continue;
      }
      if (key !== 'id') children++;
      if (el.choice !== undefined) {
        if (seen === undefined) seen = {};
        const other = seen[el.choice];
        if (other !== undefined) {
          c.seg.push(key);
          this.issue(c, 'error', 'structure', `Only one of ${el.choice}[x] is allowed, but both '${other}' and '${key}' are present`);
          c.seg.pop();
        } else seen[el.choice] = key;
      }
      c.seg.push(key);
      if (v === null) {
        this.issue(c, 'error', 'structure', `The property '${key}' cannot be null`);
      } else if (el.array) {
        if (!Array.isArray(v)) {
          this.issue(c, 'error', 'structure', `The property ${key} must be a JSON Array, not ${typeof v === 'object' ? 'an Object' : 'a primitive'}`);
        } else if (v.length === 0) {
          this.issue(c, 'error', 'structure', 'Array cannot be empty - the property should not be present if it has no values');
        } else {
          if (el.max >= 0 && v.length > el.max) {
            this.issue(c, 'error', 'structure', `${st.path}.${el.name}: max allowed = ${el.max}, but found ${v.length}`);
          }
          const ext = el.prim !== undefined ? obj['_' + key] : undefined;
          for (let i = 0; i < v.length; i++) {
            const item = v[i];
            c.seg.push(i);
            if (item === null) {
              if (!(Array.isArray(ext) && ext[i] !== null && ext[i] !== undefined)) {
                this.issue(c, 'error', 'structure', 'Null values are only allowed in a primitive array when the matching _ entry has content');
              }
            } else this.value(el, item, c, obj);
            c.seg.pop();
          }
        }
      } else if (Array.isArray(v)) {
        this.issue(c, 'error', 'structure', `The property ${key} must not be a JSON Array (max cardinality 1)`);
      } else {
        if (el.max === 0) this.issue(c, 'error', 'structure', `${st.path}.${el.name}: max allowed = 0, but found 1`);
        this.value(el, v, c, obj);
      }
      c.seg.pop();
    }
    const req = st.required;
    for (let i = 0; i < req.length; i++) {
      const el = req[i];
      if (obj[el.n] === undefined && (el.prim === undefined || obj['_' + el.n] === undefined)) {
        this.issue(c, 'error', 'structure', `${st.path}.${el.name}: minimum required = ${el.min}, but only found 0`);
      }
    }
    if (st.requiredChoices.length) {
      for (const [group, keys] of st.requiredChoices) {
        if (!keys.some((k) => obj[k] !== undefined || obj['_' + k] !== undefined)) {
          this.issue(c, 'error', 'structure', `${st.path}.${group}[x]: minimum required = 1, but only found 0`);
        }
      }
    }
    if (!isResource && children === 0) {
      this.issue(c, 'error', 'invariant', 'Constraint failed: ele-1: All FHIR elements must have a @value or children');
    }
    if (st.isExtension) this.extensionShape(obj, c);
    if (c.strict) {
      if (st.inv.length) this.invariants(st.inv, obj, c);
      if (st.isAttachment) this.attachment(obj, c);
    }
  }

  /** `_name` values: an Element (id, extension) or an array of them (or null) aligned with the values. */
  private primitiveExtension(el: ElementRt, v: unknown, values: unknown, c: Ctx): void {
    const elementSt = this.m.types.get('Element')!;
    const one = (x: unknown, hasValue: boolean): void => {
      if (x === null || typeof x !== 'object' || Array.isArray(x)) {
        this.issue(c, 'error', 'structure', 'The primitive extension must be a JSON object (with id and/or extension)');
        return;
      }
      const o = x as Record<string, unknown>;
      for (const k in o) {
        if (k !== 'id' && k !== 'extension') {
          c.seg.push(k);
          this.issue(c, 'error', 'structure', `Unrecognized property '${k.slice(0, 64)}'`);
          c.seg.pop();
        }
      }
      if (o.id !== undefined) {
        c.seg.push('id');
        const msg = typeof o.id === 'string' ? this.prims.get('string')!(o.id) : 'The id must be a JSON string';
        if (msg) this.issue(c, 'error', 'invalid', msg);
        c.seg.pop();
      }
      if (o.extension !== undefined) {
        c.seg.push('extension');
        const extEl = elementSt.byKey.get('extension')!;
        if (!Array.isArray(o.extension)) this.issue(c, 'error', 'structure', 'The property extension must be a JSON Array');
        else if (o.extension.length === 0) this.issue(c, 'error', 'structure', 'Array cannot be empty - the property should not be present if it has no values');
        else
          o.extension.forEach((e, i) => {
            c.seg.push(i);
            if (e === null) this.issue(c, 'error', 'structure', 'null is not allowed here');
            else this.value(extEl, e, c, o);
            c.seg.pop();
          });
        c.seg.pop();
      } else if (!hasValue) {
        this.issue(c, 'error', 'invariant', 'Constraint failed: ele-1: All FHIR elements must have a @value or children');
      }
    };
    if (el.array) {
      if (!Array.isArray(v)) {
        this.issue(c, 'error', 'structure', `The property _${el.n} must be a JSON Array`);
        return;
      }
      if (Array.isArray(values) && values.length !== v.length) {
        this.issue(c, 'error', 'structure', `The arrays ${el.n} and _${el.n} must have the same length (${values.length} vs ${v.length})`);
      }
      for (let i = 0; i < v.length; i++) {
        if (v[i] === null) continue;
        c.seg.push(i);
        one(v[i], Array.isArray(values) && values[i] !== null && values[i] !== undefined);
        c.seg.pop();
      }
    } else {
      if (Array.isArray(v)) {
        this.issue(c, 'error', 'structure', `The property _${el.n} must not be a JSON Array`);
        return;
      }
      one(v, values !== undefined && values !== null);
    }
  }

  private value(el: ElementRt, v: unknown, c: Ctx, parent: Record<string, unknown>): void {
    if (el.prim !== undefined) {
      const msg = this.prims.get(el.prim)!(v);
      if (msg !== undefined) {
        this.issue(c, 'error', 'invalid', msg);
        return;
      }
      switch (el.prim) {
        case 'xhtml':
          this.xhtml(v as string, c);
          break;
        case 'uri':
        case 'url':
        case 'canonical':
          if (!this.allowExampleUrls && c.strict && EXAMPLE_URL.test(v as string)) {
            this.issue(c, 'error', 'invalid', `Example URLs are not allowed in this context (${(v as string).slice(0, 200)})`);
          }
          break;
        case 'markdown':
          if (!this.htmlInMarkdown && c.strict) {
            const m = HTML_TAG_IN_MARKDOWN.exec(v as string);
            if (m) {
              this.issue(c, 'error', 'invalid', `The markdown contains content that appears to be an embedded HTML tag starting at '${(v as string).slice(m.index, m.index + 2)}'`);
            }
          }
          break;
      }
      if (c.strict && el.vs !== undefined && typeof v === 'string' && !el.vs.codes.has(v)) {
        this.issue(c, 'error', 'code-invalid', `The value provided ('${v.slice(0, 64)}') is not in the value set '${el.vs.url}' (required binding)`);
      }
      if (c.strict && el.inv) this.invariants(el.inv, v, c);
      return;
    }
    if (el.isResource) {
      const kind = el.n === 'contained' ? 'contained' : 'nested';
      if (el.n === 'resource' && c.seg.length >= 2 && c.seg[c.seg.length - 3] === 'entry') {
        c.entryIndex = c.seg[c.seg.length - 2] as number;
        this.resource(v, c, 'entry');
      } else this.resource(v, c, kind);
      return;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      this.issue(c, 'error', 'structure', `The property ${el.n} must be a JSON Object, not ${Array.isArray(v) ? 'an Array' : 'a primitive'}`);
      return;
    }
    const st = el.struct!;
    const o = v as Record<string, unknown>;
    this.walk(st, o, c);
    if (!c.strict) return;
    if (el.vs !== undefined) this.binding(el, o, c);
    if (el.inv) this.invariants(el.inv, o, c);
    if (st.isReference) this.reference(el, o, c);
  }

  // ------------------------------------------------------------------------------------------
  // Strict checks
  // ------------------------------------------------------------------------------------------
  private binding(el: ElementRt, o: Record<string, unknown>, c: Ctx): void {
    const vs = el.vs!;
    const inVs = (cd: Record<string, unknown>): boolean | undefined => {
      if (typeof cd.code !== 'string') return undefined;
      if (typeof cd.system === 'string') return vs.systemCodes.has(`${cd.system}|${cd.code}`);
      return vs.codes.has(cd.code);
    };
    if (el.typeName === 'Coding') {
      const r = inVs(o);
      if (r === false) {
        this.issue(c, 'error', 'code-invalid', `The Coding provided (${String(o.system ?? '')}#${String(o.code).slice(0, 64)}) is not in the value set '${vs.url}' (required binding)`);
      }
      return;
    }
    // CodeableConcept
    const codings = Array.isArray(o.coding) ? (o.coding as Record<string, unknown>[]) : [];
    let any = false;
    for (const cd of codings) {
      if (cd && typeof cd === 'object' && inVs(cd) === true) return;
      if (cd && typeof cd === 'object' && typeof cd.code === 'string') any = true;
    }
    if (any) {
      this.issue(c, 'error', 'code-invalid', `None of the codings provided are in the value set '${vs.url}' (required binding)`);
    } else {
      this.issue(c, 'error', 'code-invalid', `No code provided, and a code is required from the value set '${vs.url}'`);
    }
  }

  private reference(el: ElementRt, o: Record<string, unknown>, c: Ctx): void {
    const ref = o.reference;
    if (typeof ref !== 'string') return;
    if (ref.charCodeAt(0) === 35) {
      // ref-1: a local reference must point at a contained resource of the root resource
      const id = ref.slice(1);
      const root = c.rootResource as { contained?: { id?: unknown }[] };
      const contained = Array.isArray(root?.contained) ? root.contained : [];
      const ok = id === '' ? contained.length > 0 || c.contained > 0 : contained.some((r) => r && r.id === id);
      if (!ok) {
        this.issue(c, 'error', 'invariant', `Constraint failed: ref-1: SHALL have a contained resource if a local reference is provided ('${ref.slice(0, 70)}')`);
      }
      return;
    }
    if (c.bundleRefs) c.bundleRefs.push([ref, c.entryIndex]);
    if (el.targets && !ref.startsWith('urn:')) {
      const m = REF_TYPE.exec(ref);
      if (m && this.m.resourceTypes.has(m[1]) && !el.targets.has(m[1]) && [...el.targets].every((t) => this.m.resourceTypes.has(t))) {
        this.issue(c, 'error', 'structure', `The type '${m[1]}' implied by the reference URL ${ref.slice(0, 100)} is not a valid Target for this element (must be one of [${[...el.targets].join(', ')}])`);
      }
    }
  }

  private attachment(o: Record<string, unknown>, c: Ctx): void {
    if (typeof o.data === 'string' && typeof o.size === 'number' && isBase64(o.data)) {
      const actual = base64DecodedLength(o.data);
      if (actual !== o.size) {
        this.issue(c, 'error', 'structure', `Stated Attachment Size ${o.size} does not match actual attachment size ${actual}`);
      }
    }
  }

  private xhtml(div: string, c: Ctx): void {
    for (const p of checkXhtml(div)) {
      if (p.rule === 'xhtml') this.issue(c, 'error', 'invalid', p.message);
      else if (c.strict) this.issue(c, 'error', 'invariant', `Constraint failed: ${p.rule}: ${p.message}`);
    }
  }

  /** ext-1 plus, for core extensions, the value type, the context and a version-free URL. */
  private extensionShape(o: Record<string, unknown>, c: Ctx): void {
    let valueKey: string | undefined;
    let valueExtOnly = false;
    for (const k in o) {
      if (k.length > 5 && k.startsWith('value') && k.charCodeAt(5) < 91) valueKey = k;
      else if (k.length > 6 && k.startsWith('_value') && k.charCodeAt(6) < 91) valueExtOnly = true;
    }
    const hasExt = o.extension !== undefined;
    if (hasExt === (valueKey !== undefined || valueExtOnly)) {
      this.issue(c, 'error', 'invariant', 'Constraint failed: ext-1: Must have either extensions or value[x], not both');
    }
    if (!c.strict) return;
    const url = o.url;
    if (typeof url !== 'string') return;
    if (url.includes('|')) {
      this.issue(c, 'error', 'invalid', 'The extension URL must not contain a version', 'url');
      return;
    }
    const def = this.m.extensions.get(url);
    if (!def) return;
    if (valueKey !== undefined) {
      const t = valueKey.slice(5);
      const allowed = [...def.v].map((x) => x.charAt(0).toUpperCase() + x.slice(1));
      if (!allowed.includes(t)) {
        this.issue(
          c,
          'error',
          'structure',
          allowed.length
            ? `The Extension '${url}' definition allows for the types [${[...def.v].join(', ')}] but found type ${t.charAt(0).toLowerCase() + t.slice(1)}`
            : `The Extension '${url}' definition is for a complex extension, so it must not have a value`,
          valueKey,
        );
      }
    }
    if (def.c[0] !== '*' && !CONFORMANCE.has(String((c.resource as { resourceType?: unknown }).resourceType))) this.extensionContext(url, def.c, c);
  }

  /** Checks where a core extension is used against its declared contexts. */
  private extensionContext(url: string, contexts: string[], c: Ctx): void {
    // seg: [..., <holder key>, (index)?, 'extension', index]
    let i = c.seg.length - 1;
    if (typeof c.seg[i] === 'number') i--;
    if (c.seg[i] !== 'extension' && c.seg[i] !== 'modifierExtension') return;
    i--;
    const rt = (c.resource as { resourceType?: unknown }).resourceType;
    const candidates = this.contextCandidates(String(rt), c.seg.slice(c.resStart + 1, i + 1));
    if (!candidates) return;
    if (contexts.some((x) => candidates.has(x))) return;
    this.issue(c, 'error', 'structure', `The extension ${url} is not allowed to be used at this point (allowed contexts: ${contexts.join(', ')})`);
  }

  /** Context names an element at `segs` (from the resource root) satisfies; undefined when unsure. */
  private contextCandidates(resourceType: string, segs: (string | number)[]): Set<string> | undefined {
    const root = this.m.types.get(resourceType);
    if (!root) return undefined;
    const out = new Set<string>(['Element', 'Resource', '*']);
    let st: StructRt | undefined = root;
    let el: ElementRt | undefined;
    let fhirPath = root.name;
    let relPath = root.name; // path relative to the innermost datatype
    let primHolder: string | undefined;
    for (const s of segs) {
      if (typeof s === 'number') continue;
      if (s.charCodeAt(0) === 95) {
        primHolder = s.slice(1);
        el = st?.byKey.get(primHolder);
        if (!el) return undefined;
        fhirPath += `.${el.name}`;
        relPath += `.${el.name}`;
        st = undefined;
        break;
      }
      el = st?.byKey.get(s);
      if (!el) return undefined;
      if (el.isResource) return undefined;
      fhirPath += `.${el.choice ? el.choice + '[x]' : el.name}`;
      relPath += `.${el.choice ? el.choice + '[x]' : el.name}`;
      if (el.struct && el.struct.kind === 'datatype') relPath = el.struct.isQuantity ? 'Quantity' : el.struct.name;
      st = el.struct;
    }
    out.add(fhirPath);
    out.add(fhirPath.replace(/\[x\]$/, ''));
    out.add(relPath);
    if (el === undefined) {
      out.add(root.name);
      if (root.domain) out.add('DomainResource');
    } else if (primHolder !== undefined || el.prim) {
      out.add(el.typeName);
    } else if (el.struct) {
      out.add(el.struct.kind === 'backbone' ? 'BackboneElement' : el.struct.name);
      if (el.struct.isQuantity) out.add('Quantity');
      if (el.struct.kind === 'backbone') out.add(el.struct.path);
      if (el.struct.isExtension) {
        out.add('Extension');
      }
    }
    return out;
  }

  /** Runs a list of invariants on a node. */
  private invariants(list: InvariantRt[], node: unknown, c: Ctx): void {
    for (let i = 0; i < list.length; i++) {
      const inv = list[i];
      let ok: boolean | undefined;
      if (inv.d === 1) {
        ok = this.direct(inv, node, c);
      } else {
        if (inv.ir !== undefined) {
          const r = evalIr(inv.ir, node, c as unknown as IrEnv);
          if (r !== UNKNOWN) {
            ok = !(r.length === 1 && r[0] === false);
            if (this.onFastPath) this.onFastPath(inv, node, ok, { resource: c.resource, rootResource: c.rootResource });
            if (ok) continue;
          }
        }
        if (ok === undefined) {
          if (inv.unsupported) continue;
          ok = this.fp.run(inv, node, c.resource, c.rootResource);
        }
      }
      if (ok === false) {
        this.issue(c, inv.s, 'invariant', `Constraint failed: ${inv.k}: ${inv.h}`);
      }
    }
  }

  /** Directly implemented invariants; undefined = not applicable/handled elsewhere. */
  private direct(inv: InvariantRt, node: unknown, c: Ctx): boolean | undefined {
    const o = node as Record<string, unknown>;
    switch (inv.k) {
      case 'dom-2':
        return !Array.isArray(o.contained) || !o.contained.some((r) => r && typeof r === 'object' && (r as Record<string, unknown>).contained !== undefined);
      case 'dom-3':
        return this.dom3(o, c);
      case 'dom-4':
        return !Array.isArray(o.contained) || !o.contained.some((r) => {
          const meta = (r as { meta?: { versionId?: unknown; lastUpdated?: unknown } } | null)?.meta;
          return meta && typeof meta === 'object' && (meta.versionId !== undefined || meta.lastUpdated !== undefined);
        });
      case 'dom-5':
        return !Array.isArray(o.contained) || !o.contained.some((r) => {
          const meta = (r as { meta?: { security?: unknown } } | null)?.meta;
          return meta && typeof meta === 'object' && meta.security !== undefined;
        });
      case 'dom-6': {
        if (c.contained > 0) return true;
        const text = o.text as { div?: unknown } | undefined;
        return !!text && typeof text === 'object' && text.div !== undefined;
      }
      case 'bdl-7': {
        if (o.type === 'history' || !Array.isArray(o.entry)) return true;
        const seen = new Set<string>();
        for (const e of o.entry as { fullUrl?: unknown; resource?: { meta?: { versionId?: unknown } } }[]) {
          if (!e || typeof e !== 'object' || e.fullUrl === undefined) continue;
          const v = e.resource?.meta?.versionId;
          const key = `${String(e.fullUrl)}\u0000${typeof v === 'string' ? v : ''}`;
          if (seen.has(key)) return false;
          seen.add(key);
        }
        return true;
      }
      case 'per-1': {
        if (typeof o.start !== 'string' || typeof o.end !== 'string') return true;
        return dateLessOrEqual(o.start, o.end) !== false;
      }
      default:
        // ele-1, ext-1, txt-1, txt-2, ref-1: checked in the walk
        return undefined;
    }
  }

  /**
   * dom-3: every contained resource is referenced from elsewhere in the resource (`#id` in a reference,
   * canonical, uri or url), or itself refers to the container (`#`). One scan collects all `#...` strings.
   */
  private dom3(o: Record<string, unknown>, c: Ctx): boolean | undefined {
    const contained = o.contained;
    if (!Array.isArray(contained) || contained.length === 0) return true;
    if (!this.validateContained) return true;
    const scan = (x: unknown, refs: Set<string>): void => {
      if (typeof x === 'string') {
        if (x.charCodeAt(0) === 35) refs.add(x);
      } else if (Array.isArray(x)) {
        for (const y of x) scan(y, refs);
      } else if (x !== null && typeof x === 'object') {
        for (const k in x as Record<string, unknown>) if (k !== 'div') scan((x as Record<string, unknown>)[k], refs);
      }
    };
    // %resource.descendants(): the whole resource, contained resources included
    const refs = new Set<string>();
    scan(o, refs);
    const unmatched: string[] = [];
    for (const r of contained) {
      if (!r || typeof r !== 'object') continue;
      const id = (r as { id?: unknown }).id;
      if (typeof id === 'string' && refs.has(`#${id}`)) continue;
      if (refs.has('#')) {
        const own = new Set<string>();
        scan(r, own);
        if (own.has('#')) continue;
      }
      unmatched.push(typeof id === 'string' ? id.slice(0, 64) : '(no id)');
    }
    if (unmatched.length) {
      this.issue(
        c,
        'error',
        'invariant',
        `Constraint failed: dom-3: If the resource is contained in another resource, it SHALL be referred to from elsewhere in the resource or SHALL refer to the containing resource (not referenced: ${unmatched.join(', ')})`,
      );
      return undefined;
    }
    return true;
  }
}

/** The validator class type, for the business-rule helpers. */
export type ValidatorInternals = Pick<ProfileValidatorImpl, 'issue'>;

/**
 * Creates a validator (links the generated model: a few ms; the `fhirpath` package itself is loaded on first need,
 * or at construction with `eager`). Implements the resource validation of https://hl7.org/fhir/R4/validation.html
 * against the R4 core StructureDefinitions.
 * @param opts options, with the parsed model; see {@link ProfileValidatorOptions}
 */
export function createProfileValidator(opts: ProfileValidatorOptions): ProfileValidator {
  return new ProfileValidatorImpl(opts);
}
