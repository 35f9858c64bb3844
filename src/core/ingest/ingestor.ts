/**
 * The ingestion use case: FHIR create, update, batch and transaction (https://hl7.org/fhir/R4/http.html)
 * into the raw lake. Pure orchestration over ports; no AWS SDK, no environment.
 *
 * Flow per request: read entries (`./request`) → check method/url/id/type → authorise each entry → validate →
 * look up versions (update, If-Match, source ownership) (`./checks`) → assign ids and versions → rewrite `urn:uuid`
 * references (transaction) → lake transform (pseudonymisation) → the commit protocol (`./commit`: outbox, staged
 * objects and pending identity records, the version index as the one commit point, then the outbox rolled forward)
 * → response (`./responses`). Nothing is written before every check of the request has passed (transaction) or for
 * a failed entry (batch). With an `Idempotency-Key`, a retry of a committed request answers its first response and
 * writes nothing (same key, other request: 422).
 */
import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4';
import { badRequest, getStatus, outcomeWithIssues, type FhirResponse } from '../../fhir/outcomes';
import { ClientError, ServerFault, ValidationError } from '../../fhir/errors';
import { parseFhirJson, stringifyFhirJson } from '../../fhir/json';
import { rewriteReferences } from '../../fhir/bundle';
import { commitManifestKey, outboxKey } from '../lake-layout';
import type { AuditLog, Clock, EventBus, IdentityVault, ObjectStore, VersionIndex, VersionRecord } from '../ports';
import { authorise, failTransactionIfAny, resolveVersions, validateEntries, type ResourceValidator } from './checks';
import { assignVersions, commitEntries, DuplicateRequestError, stampVersion, type CommitContext, type Committed, type LakeTransform } from './commit';
import { readOutbox, type CommitRecord, type ReplayEntry, type WriteInteraction } from './commit-record';
import type { IndexKeys } from './index-keys';
import { readBundleEntries, readSingleEntry, readWriteBody, type Entry, type WriteRequest } from './request';
import { bundleResponse, singleResponse } from './responses';
import { isIdentifierRace, type IdentifierHasher } from './conditional';
import { refuseDuplicateFullUrls } from './links';
import { resolveConditions, type Resolution } from './resolve';

/** Collaborators of {@link Ingestor}. */
export interface IngestDeps {
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  clock: Clock;
  validate: ResourceValidator;
  transform?: LakeTransform;
  identity?: IdentityVault;
  /** The audit log: a committed request's audit record is written by its commit (outbox), not by the handler. */
  audit?: AuditLog;
  /** Keyed hashes of the version index (src/core/ingest/index-keys.ts). */
  indexKeys: IndexKeys;
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

/** The request-wide context of a commit (the Idempotency-Key's commit entry), before the request is read. */
type RequestContext = Omit<CommitContext, 'interaction' | 'replay' | 'status'>;

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
  /** The commit wrote (or left to recovery) the request's audit record: the handler writes none. */
  audited?: boolean;
  /** The first response of a request with this Idempotency-Key, answered again; nothing was written. */
  replayed?: boolean;
}

/** Longest Idempotency-Key accepted (printable ASCII). */
const MAX_IDEMPOTENCY_KEY = 255;

/** The response entries of a request as first given (for a retry with the same Idempotency-Key). */
function replayEntries(entries: Entry[]): ReplayEntry[] {
  return entries.map((e) =>
    e.error
      ? { status: getStatus(e.error), outcome: e.error }
      : e.match
        ? { status: 200, versionId: e.match.versionId, id: e.match.id }
        : { status: e.previous !== undefined ? 200 : 201, versionId: e.versionId, ...(e.method === 'POST' ? { id: e.id } : {}) },
  );
}

/**
 * Points references to entries of a transaction (their `fullUrl`, e.g. `urn:uuid:…`) at the ids the server
 * assigned them (https://hl7.org/fhir/R4/http.html#transaction, "resolving references in transactions").
 */
function rewriteTransactionReferences(entries: Entry[]): void {
  const map = new Map<string, string>();
  for (const e of entries) if (e.fullUrl) map.set(e.fullUrl, `${e.type}/${e.id}`);
  for (const e of entries) rewriteReferences(e.resource, map);
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
   *   ClientError for any other refusal (including 409 on a concurrent change, 422 for an Idempotency-Key reused
   *   with another request); a store's error as is (only ever before the commit point).
   */
  async write(req: WriteRequest): Promise<WriteResult> {
    const body = readWriteBody(req);
    const keys = await this.deps.indexKeys.init();
    const idem = req.idempotencyKey;
    if (idem !== undefined && (idem.length === 0 || idem.length > MAX_IDEMPOTENCY_KEY || !/^[\x21-\x7e]+$/.test(idem))) {
      throw new ClientError(badRequest(`Idempotency-Key must be 1-${MAX_IDEMPOTENCY_KEY} printable ASCII characters`));
    }
    const requestKey = keys.request(req.principal.source, req.requestId, idem);
    // the digest is compared only for a retry with the same Idempotency-Key: not computed without one
    const digest = idem !== undefined ? keys.digest(req) : '';
    let prior: VersionRecord | undefined;
    if (idem !== undefined) {
      prior = (await this.deps.versions.get([requestKey])).get(requestKey);
      if (prior && !prior.aborted) return this.replay(req, prior, digest);
    }
    const ctx: RequestContext = { keys, requestKey, requestExpected: prior?.versionId, digest };
    for (let attempt = 1, current = body; ; attempt++) {
      const a: Attempt = {};
      try {
        return current.kind === 'bundle' ? await this.bundle(req, current.bundle, ctx, a) : await this.single(req, current.resource, ctx, a);
      } catch (err) {
        if (err instanceof DuplicateRequestError) {
          // a concurrent request with this Idempotency-Key committed first: answer its response
          const winner = (await this.deps.versions.get([requestKey])).get(requestKey);
          if (!winner || winner.aborted) throw err;
          return this.replay(req, winner, digest);
        }
        // a concurrent request created one of our identifiers first: nothing of ours was written (rolled back); run
        // again, the conditional creates now match the winner (https://hl7.org/fhir/R4/http.html#ccreate)
        if (a.snapshot === undefined || attempt >= MAX_ATTEMPTS || !isIdentifierRace(err)) throw err;
        req = { ...req, body: parseFhirJson(a.snapshot) };
        current = readWriteBody(req);
      }
    }
  }

  /** The conditional steps of a request (conditional creates, then conditional references): `./resolve`. */
  private conditions(req: WriteRequest, c: RequestContext, entries: Entry[]): Promise<Resolution> {
    const deps = { versions: this.deps.versions, identifiers: this.deps.identifiers, resourceKey: (t: string, id: string) => c.keys.resource(t, id) };
    return resolveConditions(deps, req.principal.source, entries);
  }

  /** Create or update of one resource: every check must pass, then it is committed. */
  private async single(req: WriteRequest, resource: Resource, c: RequestContext, a: Attempt): Promise<WriteResult> {
    const e = readSingleEntry(req, resource);
    authorise(req.principal, e);
    if (e.error) throw new ClientError(e.error);
    validateEntries(this.deps.validate, [e], req.validationLevel);
    if (e.error) throw new ValidationError(e.error);
    await resolveVersions(this.deps.versions, c.keys, req.principal, [e]);
    if (e.error) throw new ClientError(e.error);
    const res = await this.conditions(req, c, [e]);
    if (e.error) throw new ClientError(e.error);
    if (e.match) return { response: singleResponse(e), objectKeys: [], counts: {}, interaction: 'create' };
    if (res.indexes) a.snapshot = stringifyFhirJson(req.body);
    const now = this.deps.clock.now();
    assignVersions([e], now, this.newId);
    res.link([e], true);
    if (e.error) throw new ClientError(e.error);
    const interaction = req.method === 'PUT' ? 'update' : 'create';
    const response = singleResponse(e);
    const extraIndex = res.indexEntries([e], now.toISOString());
    const stored = await commitEntries(this.deps, req, [e], { ...c, interaction, replay: replayEntries([e]), status: getStatus(response[0]), extraIndex });
    return { response, objectKeys: stored.objectKeys, counts: stored.counts, interaction, audited: stored.audited };
  }

  /**
   * A batch (each entry on its own: the good ones are committed together, the others answered with their error)
   * or a transaction (all or nothing, https://hl7.org/fhir/R4/http.html#transaction: any failed entry fails the
   * whole request before anything is written).
   */
  private async bundle(req: WriteRequest, bundle: Bundle, c: RequestContext, a: Attempt): Promise<WriteResult> {
    const isTx = bundle.type === 'transaction';
    const entries = readBundleEntries(bundle);
    refuseDuplicateFullUrls(entries);
    for (const e of entries) if (!e.error) authorise(req.principal, e);
    validateEntries(this.deps.validate, entries.filter((e) => !e.error), req.validationLevel);
    if (isTx) failTransactionIfAny(entries);
    await resolveVersions(this.deps.versions, c.keys, req.principal, entries.filter((e) => !e.error));
    if (isTx) failTransactionIfAny(entries);
    // conditional creates first, then references (https://hl7.org/fhir/R4/http.html#trules)
    const res = await this.conditions(req, c, entries);
    if (isTx) failTransactionIfAny(entries);
    if (res.indexes) a.snapshot = stringifyFhirJson(req.body);
    const now = this.deps.clock.now();
    assignVersions(res.toAssign(entries), now, this.newId);
    res.link(entries, isTx);
    if (isTx) failTransactionIfAny(entries);

    const ok = entries.filter((e) => !e.error && !e.match);
    const interaction: WriteInteraction = isTx ? 'transaction' : 'batch';
    const response = bundleResponse(req.requestId, isTx, entries, ok.length);
    const extraIndex = res.indexEntries(ok, now.toISOString());
    const stored: Committed =
      ok.length > 0
        ? await commitEntries(this.deps, req, ok, { ...c, interaction, replay: replayEntries(entries), status: 200, extraIndex })
        : { objectKeys: [], counts: {}, audited: false };
    const validationFailures = entries
      .filter((e) => e.invalid && e.error)
      .map((e) => ({ index: e.index, method: e.method, type: e.type, id: e.id, resource: e.resource, outcome: e.error! }));
    return {
      response,
      objectKeys: stored.objectKeys,
      counts: stored.counts,
      interaction,
      audited: stored.audited,
      ...(validationFailures.length > 0 ? { validationFailures } : {}),
    };
  }

  /** The commit record of a committed request: its manifest once done, its outbox until then. */
  private async commitRecord(r: VersionRecord): Promise<CommitRecord | undefined> {
    const { lake } = this.deps;
    const body = (await lake.get(commitManifestKey(r.lastUpdated.slice(0, 10), r.requestId!))) ?? (await lake.get(outboxKey(r.requestId!)));
    return body ? readOutbox(body) : undefined;
  }

  /**
   * A retry with an Idempotency-Key that already committed: the same request gets the first response again
   * (rebuilt from the retried body and the commit record's ids and versions) and nothing is written; another
   * request under the same key is refused (422).
   */
  private async replay(req: WriteRequest, prior: VersionRecord, digest: string): Promise<WriteResult> {
    // a request committed with the digest of its serialised body (before callers could give their text's hash)
    const same = prior.digest === digest || (req.bodyDigest !== undefined && prior.digest === (await this.deps.indexKeys.init()).digest({ ...req, bodyDigest: undefined }));
    if (!same) {
      throw new ClientError(
        outcomeWithIssues(422, [{ severity: 'error', code: 'business-rule', diagnostics: 'Idempotency-Key was already used with a different request', expression: ['Idempotency-Key'] }]),
      );
    }
    const rec = await this.commitRecord(prior);
    if (!rec) throw new ServerFault('commit record of an idempotent request not found');
    const body = readWriteBody(req);
    const apply = (e: Entry, r: ReplayEntry | undefined): void => {
      if (!r) return;
      if (r.outcome) {
        e.error = r.outcome;
        return;
      }
      if (r.id) e.id = r.id;
      e.previous = r.status === 200 ? String(Number(r.versionId) - 1) : undefined;
      stampVersion(e, r.versionId!, rec.replay.lastUpdated);
    };
    const base = { objectKeys: [], counts: {}, interaction: rec.interaction, replayed: true };
    if (body.kind === 'resource') {
      const e = readSingleEntry(req, body.resource);
      apply(e, rec.replay.entries[0]);
      return { ...base, response: singleResponse(e) };
    }
    const isTx = body.bundle.type === 'transaction';
    const entries = readBundleEntries(body.bundle);
    entries.forEach((e, i) => apply(e, rec.replay.entries[i]));
    const ok = entries.filter((e) => !e.error);
    if (isTx) rewriteTransactionReferences(ok);
    return { ...base, response: bundleResponse(rec.requestId, isTx, entries, ok.length) };
  }
}
