/**
 * The ingestion use case: FHIR create, update, batch and transaction (https://hl7.org/fhir/R4/http.html)
 * into the raw lake. Pure orchestration over ports; no AWS SDK, no environment.
 *
 * Flow per request: read entries (`./request`) → check method/url/id/type → authorise each entry → validate →
 * look up versions (update, If-Match, source ownership) (`./checks`) → assign ids and versions → rewrite `urn:uuid`
 * references (transaction) → lake transform (pseudonymisation) → stage NDJSON per type → commit (copy to `raw/`,
 * version index, manifest) → publish one event per committed object (`./commit`) → response (`./responses`).
 * Nothing is written before every check of the request has passed (transaction) or for a failed entry (batch).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import type { FhirResponse } from '../../fhir/outcomes';
import { ClientError, ValidationError } from '../../fhir/errors';
import { parseFhirJson, stringifyFhirJson } from '../../fhir/json';
import type { Clock, EventBus, IdentityVault, ObjectStore, VersionIndex } from '../ports';
import { authorise, failTransactionIfAny, resolveVersions, validateEntries, type ResourceValidator } from './checks';
import { assignVersions, commitEntries, type Committed, type LakeTransform } from './commit';
import { readBundleEntries, readSingleEntry, readWriteBody, type Entry, type WriteRequest } from './request';
import { bundleResponse, singleResponse } from './responses';
import { isIdentifierRace, type IdentifierHasher } from './conditional';
import { refuseDuplicateFullUrls } from './links';
import { resolveConditions } from './resolve';

/** Collaborators of {@link Ingestor}. */
export interface IngestDeps {
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  clock: Clock;
  validate: ResourceValidator;
  transform?: LakeTransform;
  identity?: IdentityVault;
  newId?: () => string;
  /** Keyed hashing for the identifier index (conditional create, conditional references); absent: both refused. */
  identifiers?: IdentifierHasher;
}

/** Runs of a request that lost a race on an identifier-index key (a concurrent create of the same identifier). */
const MAX_ATTEMPTS = 5;

/** The request's body as first received, kept (lossless JSON) before anything rewrites it, for a re-run. */
interface Attempt {
  snapshot?: string;
}

/** What a successful write produced, for the handler's headers and the audit trail. */
export interface WriteResult {
  response: FhirResponse;
  /** Lake object keys committed by this request. */
  objectKeys: string[];
  /** Resource counts by type that were committed. */
  counts: Record<string, number>;
  interaction: 'create' | 'update' | 'batch' | 'transaction';
  /** Batch entries refused by validation (for the triage area). */
  validationFailures?: { index: number; method: 'POST' | 'PUT'; type: string; id?: string; resource: Resource; outcome: OperationOutcome }[];
}

/** The write path. One instance per cold start; `write` per request. */
export class Ingestor {
  private readonly newId: () => string;

  constructor(private readonly deps: IngestDeps) {
    this.newId = deps.newId ?? randomUUID;
  }

  /**
   * Handles `POST /{type}` (https://hl7.org/fhir/R4/http.html#create), `PUT /{type}/{id}`
   * (https://hl7.org/fhir/R4/http.html#update, with `If-Match`: https://hl7.org/fhir/R4/http.html#concurrency)
   * and `POST /` with a batch or transaction Bundle (https://hl7.org/fhir/R4/http.html#transaction).
   * @throws ValidationError when a single resource (or every failed entry of a transaction) is invalid;
   *   ClientError for any other refusal (including 409 on a concurrent change); a store's error as is.
   */
  async write(req: WriteRequest): Promise<WriteResult> {
    for (let attempt = 1; ; attempt++) {
      const body = readWriteBody(req);
      const a: Attempt = {};
      try {
        return body.kind === 'bundle' ? await this.bundle(req, body.bundle, a) : await this.single(req, body.resource, a);
      } catch (err) {
        // a concurrent request created one of our identifiers first: nothing of ours was written; run again, the
        // conditional creates now match the winner (https://hl7.org/fhir/R4/http.html#ccreate)
        if (a.snapshot === undefined || attempt >= MAX_ATTEMPTS || !isIdentifierRace(err)) throw err;
        req = { ...req, body: parseFhirJson(a.snapshot) };
      }
    }
  }

  /** Create or update of one resource: every check must pass, then it is committed. */
  private async single(req: WriteRequest, resource: Resource, a: Attempt): Promise<WriteResult> {
    const e = readSingleEntry(req, resource);
    authorise(req.principal, e);
    if (e.error) throw new ClientError(e.error);
    validateEntries(this.deps.validate, [e], req.validationLevel);
    if (e.error) throw new ValidationError(e.error);
    await resolveVersions(this.deps.versions, req.principal, [e]);
    if (e.error) throw new ClientError(e.error);
    const res = await resolveConditions(this.deps, req.principal.source, [e]);
    if (e.error) throw new ClientError(e.error);
    if (e.match) return { response: singleResponse(e), objectKeys: [], counts: {}, interaction: 'create' };
    if (res.indexes) a.snapshot = stringifyFhirJson(req.body);
    const now = this.deps.clock.now();
    assignVersions([e], now, this.newId);
    res.link([e], true);
    if (e.error) throw new ClientError(e.error);
    const stored = await commitEntries(this.deps, req, [e], res.indexEntries([e], now.toISOString()));
    return {
      response: singleResponse(e),
      objectKeys: stored.objectKeys,
      counts: stored.counts,
      interaction: req.method === 'PUT' ? 'update' : 'create',
    };
  }

  /**
   * A batch (each entry on its own: the good ones are committed together, the others answered with their error)
   * or a transaction (all or nothing, https://hl7.org/fhir/R4/http.html#transaction: any failed entry fails the
   * whole request before anything is written).
   */
  private async bundle(req: WriteRequest, bundle: Bundle, a: Attempt): Promise<WriteResult> {
    const isTx = bundle.type === 'transaction';
    const entries = readBundleEntries(bundle);
    refuseDuplicateFullUrls(entries);
    for (const e of entries) if (!e.error) authorise(req.principal, e);
    validateEntries(this.deps.validate, entries.filter((e) => !e.error), req.validationLevel);
    if (isTx) failTransactionIfAny(entries);
    await resolveVersions(this.deps.versions, req.principal, entries.filter((e) => !e.error));
    if (isTx) failTransactionIfAny(entries);
    // conditional creates first, then references (https://hl7.org/fhir/R4/http.html#trules)
    const res = await resolveConditions(this.deps, req.principal.source, entries);
    if (isTx) failTransactionIfAny(entries);
    if (res.indexes) a.snapshot = stringifyFhirJson(req.body);
    const now = this.deps.clock.now();
    assignVersions(res.toAssign(entries), now, this.newId);
    res.link(entries, isTx);
    if (isTx) failTransactionIfAny(entries);

    const ok = entries.filter((e) => !e.error && !e.match);
    const index = res.indexEntries(ok, now.toISOString());
    const stored: Committed = ok.length > 0 ? await commitEntries(this.deps, req, ok, index) : { objectKeys: [], counts: {} };
    const validationFailures = entries
      .filter((e) => e.invalid && e.error)
      .map((e) => ({ index: e.index, method: e.method, type: e.type, id: e.id, resource: e.resource, outcome: e.error! }));
    return {
      response: bundleResponse(req.requestId, isTx, entries, ok.length),
      objectKeys: stored.objectKeys,
      counts: stored.counts,
      interaction: isTx ? 'transaction' : 'batch',
      ...(validationFailures.length > 0 ? { validationFailures } : {}),
    };
  }
}
