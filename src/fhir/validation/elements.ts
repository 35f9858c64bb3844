/**
 * The structure walk of the profile validator (https://hl7.org/fhir/R4/validation.html): one pass over the JSON
 * (https://hl7.org/fhir/R4/json.html) against the linked model: unknown elements, cardinality (incl. max 0), JSON
 * array-ness, choice types (`value[x]`), primitive formats and their `_primitive` extension shapes, nested types,
 * backbone elements and `contentReference`, contained resources and Bundle entries (each validated as its own
 * type); at `strict` it calls the datatype, extension, invariant and business-rule checks where they apply.
 *
 * This is the hot path (tens of thousands of resources a second): no allocation per element beyond the path
 * stack, and each check is a plain function called with the walker as its first argument.
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { checkBundle, checkCapabilityStatement, checkParametersReferences, checkSearchParameter, checkStructureDefinition } from './business';
import { formatPath, type Ctx, type FastPathHook, type ValidatorState } from './context';
import { checkAttachment, checkBinding, checkNarrativeDiv, checkReference } from './datatypes';
import { checkExtension } from './extensions';
import type { FhirPathRunner } from './fastpath';
import { runInvariants, runUserRules } from './invariants';
import type { ElementRt, ModelRt, StructRt } from './model';
import type { PrimitiveChecker } from './primitives';
import type { UserRule } from './rules';
import type { ValidationLevel } from './types';

const EXAMPLE_URL = /(?:^|[/.@])(?:example\.org|example\.com|acme\.com)(?:[/:?#]|$)/i;
const HTML_TAG_IN_MARKDOWN = /<[A-Za-z!/?]/;

/** What the walker works with: the linked model, compiled checkers and rules, and the options. */
export interface WalkerSettings {
  m: ModelRt;
  prims: Map<string, PrimitiveChecker>;
  fp: FhirPathRunner;
  /** User rules by resource type. */
  rules: Map<string, UserRule[]>;
  allowExampleUrls: boolean;
  /** HTML tags allowed in markdown. */
  htmlInMarkdown: boolean;
  validateContained: boolean;
  /** Relative references inside a Parameters must resolve in it. */
  localRefs: boolean;
  maxIssues: number;
  onFastPath?: FastPathHook;
}

/** The walker: construct once (with the linked model), then {@link StructureWalker.validate} per resource. */
export class StructureWalker implements ValidatorState {
  readonly m: ModelRt;
  readonly fp: FhirPathRunner;
  readonly validateContained: boolean;
  readonly onFastPath?: FastPathHook;
  private readonly prims: Map<string, PrimitiveChecker>;
  private readonly rules: Map<string, UserRule[]>;
  private readonly allowExampleUrls: boolean;
  private readonly htmlInMarkdown: boolean;
  private readonly localRefs: boolean;
  private readonly maxIssues: number;

  constructor(s: WalkerSettings) {
    this.m = s.m;
    this.fp = s.fp;
    this.validateContained = s.validateContained;
    this.onFastPath = s.onFastPath;
    this.prims = s.prims;
    this.rules = s.rules;
    this.allowExampleUrls = s.allowExampleUrls;
    this.htmlInMarkdown = s.htmlInMarkdown;
    this.localRefs = s.localRefs;
    this.maxIssues = s.maxIssues;
  }

  /**
   * Validates one resource at a level (see `ProfileValidator.validate`).
   * @returns the issues
   */
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

  /** A JSON object with a known resourceType: its struct, else an issue. */
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
  /** Validates a resource (root, contained, Bundle entry or nested in a Parameters) as its own type. */
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
      if (rules) runUserRules(this, rules, r, c);
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

  // ------------------------------------------------------------------------------------------
  // Structure walk
  // ------------------------------------------------------------------------------------------
  /** Walks one JSON object of a struct: its keys against the elements, then cardinality, ele-1, extension, invariants. */
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
          const ext = el.prim !== undefined ? obj[el.extKey] : undefined;
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
      if (obj[el.n] === undefined && (el.prim === undefined || obj[el.extKey] === undefined)) {
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
    if (st.isExtension) checkExtension(this, obj, c);
    if (c.strict) {
      if (st.inv.length) runInvariants(this, st.inv, obj, c);
      if (st.isAttachment) checkAttachment(this, obj, c);
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

  /** One value of an element: a primitive's format and strict checks, a resource, or a struct walked in turn. */
  private value(el: ElementRt, v: unknown, c: Ctx, parent: Record<string, unknown>): void {
    if (el.prim !== undefined) {
      const msg = this.prims.get(el.prim)!(v);
      if (msg !== undefined) {
        this.issue(c, 'error', 'invalid', msg);
        return;
      }
      switch (el.prim) {
        case 'xhtml':
          checkNarrativeDiv(this, v as string, c);
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
      if (c.strict && el.inv) runInvariants(this, el.inv, v, c);
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
    if (el.vs !== undefined) checkBinding(this, el, o, c);
    if (el.inv) runInvariants(this, el.inv, o, c);
    if (st.isReference) checkReference(this, el, o, c);
  }
}
