/**
 * The errors module: every error Tributary throws on purpose is an {@link OperationOutcomeError} (Powertools /
 * Medplum style: a `name`, the `cause` it wraps, and the OperationOutcome it answers with). Anything thrown that is
 * not one of these is a server fault: {@link normalizeError} turns it into a 500 with no internal detail.
 * A server-side error class (an adapter's, the ETL's) extends {@link ServerFault}: its outcome is the generic 500,
 * so its message (for logs, never for clients) can never leak into a response.
 */
import type { OperationOutcome } from 'fhir/r4';
import { getStatus, serverError } from './outcomes';

/** An error that carries its OperationOutcome. */
export class OperationOutcomeError extends Error {
  override readonly name: string = 'OperationOutcomeError';
  constructor(
    readonly outcome: OperationOutcome,
    options?: { cause?: unknown },
  ) {
    super(outcome.issue?.[0]?.diagnostics ?? 'OperationOutcomeError', options);
  }
  /** HTTP status of the carried outcome. */
  get status(): number {
    return getStatus(this.outcome);
  }
}

/** A client sent something we refuse (4xx). */
export class ClientError extends OperationOutcomeError {
  override readonly name: string = 'ClientError';
}

/** Validation failed: the outcome lists every issue with its FHIRPath expression. */
export class ValidationError extends ClientError {
  override readonly name: string = 'ValidationError';
}

/** Authentication or authorisation refused (401/403). */
export class AuthError extends ClientError {
  override readonly name: string = 'AuthError';
}

/**
 * A fault on our side (a store, a configuration, a broken invariant): answers the generic 500 outcome. The message
 * is for operators' logs and must hold no PHI; it is never sent to a client.
 */
export class ServerFault extends OperationOutcomeError {
  override readonly name: string = 'ServerFault';
  constructor(message: string, options?: { cause?: unknown }) {
    super(serverError(), options);
    this.message = message;
  }
}

/** Turns anything thrown into an outcome: client errors keep theirs; everything else is a 500 with no internal detail. */
export function normalizeError(err: unknown): OperationOutcome {
  if (err instanceof OperationOutcomeError && !(err instanceof ServerFault)) return err.outcome;
  return serverError();
}
