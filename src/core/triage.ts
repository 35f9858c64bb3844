/**
 * The triage area (after the PLANET data lake): a request from a triage-enabled source whose resources fail
 * validation is still refused with its OperationOutcome, but the rejected payload is kept, envelope-encrypted
 * under the triage key, with the outcome beside it; a `tributary.triage.held` event tells the source.
 * `recheck` re-validates held items against the CURRENT rules and ingests those that now pass, exactly once.
 *
 * Layout in the triage bucket (keys carry ids only):
 * ```
 * items/{id}/summary.json     plaintext: id, source, client, time, resource types, issue count, expressions, state
 * items/{id}/payload.enc      the request (method, type, id, body) and the outcome: AWS Encryption SDK message
 * items/{id}/claimed.json     written (create-only) before a recheck ingests the item
 * items/{id}/ingested.json    the request id and lake keys of the ingestion
 * ```
 * Why the original payload and not a pseudonymised copy: a held item must re-enter the normal write path
 * (validation, pseudonymisation, identity store, version index) once fixed, and pseudonymisation is one-way.
 * The payload is therefore never in clear: it is encrypted client-side under its own key (the triage KMS key in
 * AWS, a local wrapping key file locally) with the item id and source in the encryption context.
 */
import type { OperationOutcome } from 'fhir/r4';
import type { EventBus, ObjectStore } from './ports';
import type { Ingestor, Principal, WriteRequest } from './ingest';
import { getStatus } from '../fhir/outcomes';
import { OperationOutcomeError } from '../fhir/errors';
import { hasRawNumbers, markRawPath, MAX_JSON_DEPTH, parseFhirJson, stringifyFhirJson } from '../fhir/json';

/** Encrypts and decrypts small documents with an encryption context (AWS Encryption SDK in practice). */
export interface Sealer {
  seal(plaintext: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
  open(ciphertext: Uint8Array, context: Record<string, string>): Promise<Uint8Array>;
}

/** What is kept of a refused request. */
export interface HeldRequest {
  method: 'POST' | 'PUT';
  type?: string;
  id?: string;
  body: unknown;
  ifMatch?: string;
}

/** The plaintext summary of a held item (no payload, no diagnostics). */
export interface TriageSummary {
  id: string;
  source: string;
  clientId: string;
  heldAt: string;
  resourceTypes: Record<string, number>;
  issues: number;
  expressions: string[];
  state: 'held' | 'ingested';
  lastCheckedAt?: string;
  lastCheckIssues?: number;
}

const enc = (o: unknown): Uint8Array => Buffer.from(stringifyFhirJson(o), 'utf8');
const dec = <T>(b: Uint8Array): T => JSON.parse(Buffer.from(b).toString('utf8')) as T;
/** A held request read back with its decimals' text (src/fhir/json), so a release stores what was sent. */
const decHeld = <T>(b: Uint8Array): T => parseFhirJson(Buffer.from(b).toString('utf8'), { maxDepth: MAX_JSON_DEPTH + 8 }) as T;
const PURPOSE = 'tributary-triage';

function typesOf(body: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  const b = body as { resourceType?: string; entry?: { resource?: { resourceType?: string } }[] };
  const add = (t?: string) => t && (out[t] = (out[t] ?? 0) + 1);
  if (b?.resourceType === 'Bundle' && Array.isArray(b.entry)) b.entry.forEach((e) => add(e?.resource?.resourceType));
  else add(b?.resourceType);
  return out;
}

/** The triage area over its own bucket, sealer and the event bus. */
export class TriageArea {
  constructor(
    private readonly store: ObjectStore,
    private readonly sealer: Sealer,
    private readonly events: EventBus,
    private readonly clock: { now(): Date } = { now: () => new Date() },
  ) {}

  private context(id: string, source: string): Record<string, string> {
    return { purpose: PURPOSE, item: id, source };
  }

  /** Keeps a refused request (encrypted) with its outcome, and publishes a `tributary.triage.held` event. */
  async hold(id: string, principal: Pick<Principal, 'source' | 'clientId'>, request: HeldRequest, outcome: OperationOutcome): Promise<TriageSummary> {
    const summary: TriageSummary = {
      id,
      source: principal.source,
      clientId: principal.clientId,
      heldAt: this.clock.now().toISOString(),
      resourceTypes: typesOf(request.body),
      issues: outcome.issue.length,
      expressions: [...new Set(outcome.issue.flatMap((i) => i.expression ?? []))].slice(0, 50),
      state: 'held',
    };
    const payload = { request, outcome, principal: { source: principal.source, clientId: principal.clientId } };
    if (hasRawNumbers(request.body)) markRawPath(payload, request); // decimals as sent (src/fhir/json)
    const sealed = await this.sealer.seal(enc(payload), this.context(id, principal.source));
    await this.store.put(`items/${id}/payload.enc`, sealed, { contentType: 'application/octet-stream', metadata: { purpose: PURPOSE } });
    await this.store.put(`items/${id}/summary.json`, JSON.stringify(summary), { contentType: 'application/json' });
    await this.events.publish([
      { type: 'tributary.triage.held', requestId: id, source: principal.source, triageId: id, resourceTypes: summary.resourceTypes, issues: summary.issues },
    ]);
    return summary;
  }

  /** Summaries of every item, oldest first. */
  async list(): Promise<TriageSummary[]> {
    const keys = (await this.store.list('items/')).filter((k) => k.endsWith('/summary.json'));
    const out: TriageSummary[] = [];
    for (const k of keys) {
      const b = await this.store.get(k);
      if (b) out.push(dec<TriageSummary>(b));
    }
    return out.sort((a, b) => a.heldAt.localeCompare(b.heldAt));
  }

  /** One item: its summary and (decrypted) OperationOutcome. The payload itself is not shown. */
  async show(id: string): Promise<{ summary: TriageSummary; outcome: OperationOutcome } | undefined> {
    const s = await this.store.get(`items/${id}/summary.json`);
    if (!s) return undefined;
    const summary = dec<TriageSummary>(s);
    const { outcome } = await this.openPayload(summary);
    return { summary, outcome };
  }

  private async openPayload(summary: TriageSummary): Promise<{ request: HeldRequest; outcome: OperationOutcome; principal: { source: string; clientId: string } }> {
    const body = await this.store.get(`items/${summary.id}/payload.enc`);
    if (!body) throw new Error(`triage item ${summary.id} has no payload`);
    return decHeld(await this.sealer.open(body, this.context(summary.id, summary.source)));
  }

  /**
   * Re-validates held items against the current rules through the normal write path, and ingests those that
   * now pass. An item is ingested at most once: a create-only claim is written before ingesting, and items
   * already claimed or ingested are skipped.
   */
  async recheck(ingestor: Ingestor, ids?: string[]): Promise<{ checked: number; ingested: string[]; stillFailing: string[] }> {
    const items = (await this.list()).filter((s) => s.state === 'held' && (!ids || ids.includes(s.id)));
    const ingested: string[] = [];
    const stillFailing: string[] = [];
    for (const s of items) {
      if ((await this.store.head(`items/${s.id}/claimed.json`)) || (await this.store.head(`items/${s.id}/ingested.json`))) continue;
      const { request, principal } = await this.openPayload(s);
      const requestId = `triage-${s.id}`.slice(0, 64);
      const write: WriteRequest = {
        requestId,
        method: request.method,
        type: request.type,
        id: request.id,
        body: request.body,
        ifMatch: request.ifMatch,
        principal: { source: principal.source, clientId: principal.clientId },
      };
      await this.store.put(`items/${s.id}/claimed.json`, JSON.stringify({ at: this.clock.now().toISOString(), requestId }));
      try {
        const r = await ingestor.write(write);
        if (r.response[1]?.resourceType === 'Bundle') {
          // a batch item: held only when an entry failed; it passes when every entry now succeeds
          const failed = ((r.response[1] as { entry?: { response?: { status?: string } }[] }).entry ?? []).filter((e) => !/^2/.test(e.response?.status ?? ''));
          if (failed.length > 0) throw new Error('batch entries still failing');
        }
        await this.store.put(`items/${s.id}/ingested.json`, JSON.stringify({ at: this.clock.now().toISOString(), requestId, objectKeys: r.objectKeys }));
        await this.store.put(`items/${s.id}/summary.json`, JSON.stringify({ ...s, state: 'ingested', lastCheckedAt: this.clock.now().toISOString(), lastCheckIssues: 0 }));
        ingested.push(s.id);
      } catch (err) {
        await this.store.delete([`items/${s.id}/claimed.json`]);
        if (!(err instanceof OperationOutcomeError) || getStatus(err.outcome) >= 500) {
          if (!(err instanceof Error && err.message === 'batch entries still failing')) throw err;
        }
        const issues = err instanceof OperationOutcomeError ? err.outcome.issue.length : undefined;
        await this.store.put(
          `items/${s.id}/summary.json`,
          JSON.stringify({ ...s, lastCheckedAt: this.clock.now().toISOString(), ...(issues !== undefined ? { lastCheckIssues: issues } : {}) }),
        );
        stillFailing.push(s.id);
      }
    }
    return { checked: items.length, ingested, stillFailing };
  }
}
