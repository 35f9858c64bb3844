/**
 * The per-request audit record: every request, accepted or refused, writes exactly one AuditEvent
 * (https://hl7.org/fhir/R4/auditevent.html) to the hash-chained audit log, sharing the request id (correlation id)
 * with the response header and the log line. Fail closed: a request whose record cannot be written is a fault.
 */
import { buildAuditEvent, type AuditInteraction } from '../audit';
import type { AuditLog, Clock } from '../ports';
import { ServerFault } from '../../fhir/errors';

/** Raised when the audit record of a request cannot be written: the request is answered 500 (fail closed). */
export class AuditUnavailableError extends ServerFault {
  override readonly name = 'AuditUnavailableError';
}

/** What is recorded of one request: ids, counts, keys and statuses only (never payload values). */
export interface RequestRecord {
  requestId: string;
  principal?: { source?: string; clientId?: string };
  interaction: AuditInteraction;
  counts?: Record<string, number>;
  objectKeys?: string[];
  status: number;
  /** The first OperationOutcome issue code of a refusal. */
  outcomeCode?: string;
  sourceIp?: string;
  /**
   * Appended again after a crash (a committed request's record, by its roll-forward and by recovery): keyed by the
   * request id, so the request has exactly one record however often it is appended.
   */
  once?: boolean;
}

/** Appends the request's one audit record; throws {@link AuditUnavailableError} when it cannot be written. */
export async function recordRequest(audit: AuditLog, clock: Clock, r: RequestRecord): Promise<void> {
  try {
    await audit.append(
      buildAuditEvent({
        time: clock.now(),
        requestId: r.requestId,
        source: r.principal?.source,
        clientId: r.principal?.clientId,
        interaction: r.interaction,
        resourceTypes: r.counts,
        objectKeys: r.objectKeys,
        outcomeStatus: r.status,
        outcomeCode: r.outcomeCode,
        sourceIp: r.sourceIp,
      }),
      r.once ? { key: r.requestId } : undefined,
    );
  } catch (err) {
    throw new AuditUnavailableError(`audit append failed: ${(err as Error)?.name ?? 'error'}`, { cause: err });
  }
}
