/**
 * What the checks of the profile validator share: the mutable state of one `validate()` call ({@link Ctx}, with
 * the path stack that issue expressions are made from), and the validator as the checks see it
 * ({@link ValidatorInternals}: reporting; {@link ValidatorState}: the linked model and the options too).
 * Issues follow OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html), with FHIRPath expressions.
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import type { FhirPathRunner } from './fastpath';
import type { InvariantRt, ModelRt } from './model';

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

/** The validator as the business-rule helpers see it: issue reporting. */
export interface ValidatorInternals {
  /** Adds an issue at the current path (plus an optional trailing element name). */
  issue(c: Ctx, severity: 'error' | 'warning', code: OperationOutcomeIssue['code'], diagnostics: string, extra?: string): void;
}

/** Test hook of the fast invariant evaluator (see `ProfileValidatorOptions.onFastPath`). */
export type FastPathHook = (inv: InvariantRt, node: unknown, ok: boolean, env: { resource: unknown; rootResource: unknown }) => void;

/** The validator as the extension and invariant checks see it: reporting, the linked model, the options they use. */
export interface ValidatorState extends ValidatorInternals {
  /** The linked R4 model. */
  readonly m: ModelRt;
  /** The fhirpath package runner (invariants outside the fast subset). */
  readonly fp: FhirPathRunner;
  /** Validate contained resources (false: they only need a known resourceType). */
  readonly validateContained: boolean;
  readonly onFastPath?: FastPathHook;
}
