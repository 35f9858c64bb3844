/**
 * The write use case behind `POST /fhir/{type}` (create, http.html#create), `PUT /fhir/{type}/{id}` (update,
 * http.html#update) and `POST /fhir` (batch/transaction, http.html#transaction): the {@link Ingestor} does the work;
 * this adds the triage hold (a refused resource of a triage-enabled source is kept, encrypted, for a later recheck).
 */
import { ValidationError } from '../../fhir/errors';
import type { Ingestor, WriteRequest, WriteResult } from '../ingest';
import type { TriageArea } from '../triage';

/** What {@link writeResources} needs. */
export interface WriteDeps {
  ingestor: Pick<Ingestor, 'write'>;
  triage: Pick<TriageArea, 'hold'>;
  /** Is the triage area enabled for this source (`TRIAGE_SOURCES`)? */
  triageEnabled(source: string): boolean;
}

/**
 * Writes a request; a request refused by validation (or a batch's refused entries) from a triage-enabled source is
 * held in the triage area before the refusal is returned. The refusal itself is unchanged: held is not stored.
 */
export async function writeResources(deps: WriteDeps, req: WriteRequest): Promise<WriteResult> {
  const triage = deps.triageEnabled(req.principal.source);
  let result: WriteResult;
  try {
    result = await deps.ingestor.write(req);
  } catch (err) {
    if (triage && err instanceof ValidationError) {
      const held = { method: req.method, type: req.type, id: req.id, body: req.body, ifMatch: req.ifMatch };
      await deps.triage.hold(req.requestId, req.principal, held, err.outcome);
    }
    throw err;
  }
  if (triage && result.validationFailures) {
    for (const f of result.validationFailures) {
      const held = { method: f.method, type: f.type, id: f.id, body: f.resource };
      await deps.triage.hold(`${req.requestId}-${f.index}`, req.principal, held, f.outcome);
    }
  }
  return result;
}
