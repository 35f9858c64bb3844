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
 *
 * The work is split by what it checks: `elements.ts` (the structure walk), `datatypes.ts` (bindings, references,
 * attachments, narrative), `extensions.ts`, `invariants.ts` (and user rules), `business.ts`; `context.ts` holds
 * what they share. This module is the public face: options, the validator interface and its factory.
 *
 * @see https://hl7.org/fhir/R4/validation.html
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import type { FastPathHook } from './context';
import { StructureWalker } from './elements';
import { FhirPathRunner } from './fastpath';
import { skippedInvariants } from './invariants';
import { linkModel, type InvariantRt, type RawModel } from './model';
import { compilePrimitiveCheckers } from './primitives';
import { loadUserRules, RulesConfigError, type UserRule, type UserRuleSpec } from './rules';
import type { ValidationLevel } from './types';

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
  onFastPath?: FastPathHook;
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

/** The validator: the structure walk plus what the public interface reports. */
class ProfileValidatorImpl extends StructureWalker implements ProfileValidator {
  readonly resourceTypes: ReadonlySet<string>;
  readonly skippedBindings: readonly string[];

  constructor(opts: ProfileValidatorOptions) {
    const m = linkModel(opts.model);
    const rules = new Map<string, UserRule[]>();
    for (const r of opts.userRules ?? []) {
      if (!rules.has(r.resourceType)) rules.set(r.resourceType, []);
      rules.get(r.resourceType)!.push(r);
    }
    super({
      m,
      prims: compilePrimitiveCheckers(m.primitives),
      fp: new FhirPathRunner(),
      rules,
      allowExampleUrls: opts.allowExampleUrls ?? true,
      htmlInMarkdown: (opts.htmlInMarkdown ?? 'allow') === 'allow',
      validateContained: opts.validateContained ?? true,
      localRefs: opts.referenceResolution === 'local',
      maxIssues: opts.maxIssues ?? 500,
      onFastPath: opts.onFastPath,
    });
    this.resourceTypes = m.resourceTypes;
    this.skippedBindings = m.raw.skipped.bindings;
    if (opts.eager) for (const inv of m.invariants) if (!inv.d) this.fp.compile(inv);
  }

  skippedInvariants(): Record<string, string> {
    return skippedInvariants(this.fp);
  }
}

/**
 * Creates a validator (links the generated model: a few ms; the `fhirpath` package itself is loaded on first need,
 * or at construction with `eager`). Implements the resource validation of https://hl7.org/fhir/R4/validation.html
 * against the R4 core StructureDefinitions.
 * @param opts options, with the parsed model; see {@link ProfileValidatorOptions}
 */
export function createProfileValidator(opts: ProfileValidatorOptions): ProfileValidator {
  return new ProfileValidatorImpl(opts);
}
