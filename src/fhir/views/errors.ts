/**
 * Errors of the ViewDefinition runner. Both carry an OperationOutcome (https://hl7.org/fhir/R4/operationoutcome.html)
 * so that, should a view or its evaluation ever reach a client (e.g. a `$run`-style operation), the handler maps
 * them like any other.
 * Messages name the view, the element (as a FHIRPath-like location such as `select[0].column[2]`) and the
 * expression, never resource content (no PHI).
 */
import { badRequest, processingError } from '../outcomes';
import { OperationOutcomeError } from '../errors';

/** The ViewDefinition itself is invalid: bad structure, a FHIRPath that does not parse, an unknown constant, ... */
export class ViewDefinitionError extends OperationOutcomeError {
  override readonly name: string = 'ViewDefinitionError';
  /**
   * @param message - what is wrong, e.g. `select[0].forEach: must be string`.
   * @param location - where in the ViewDefinition (`select[0].column[1].path`), for the outcome's `expression`.
   */
  constructor(
    message: string,
    readonly location?: string,
    options?: { cause?: unknown },
  ) {
    super(badRequest(message, location), options);
  }
}

/**
 * Evaluating a valid view over a resource failed: a `where` path that is not boolean, a non-collection column
 * that returned several values, or a FHIRPath runtime error.
 */
export class ViewEvaluationError extends OperationOutcomeError {
  override readonly name: string = 'ViewEvaluationError';
  /**
   * @param message - what went wrong (no resource content).
   * @param location - where in the ViewDefinition, e.g. `where[0].path`.
   */
  constructor(
    message: string,
    readonly location?: string,
    options?: { cause?: unknown },
  ) {
    super(processingError(message, location), options);
  }
}
