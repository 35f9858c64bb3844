/**
 * The operations use cases behind the read-only ops API (`/ops/...`) and its three audited actions (retry an ETL
 * job, recheck a triage item, verify the audit chain). Every answer is built from ids, counts, statuses, names of
 * sources/tables/columns/types and FHIRPath expressions: never a resource value, never a client-supplied id.
 * Every ops request (reads too) leaves exactly one AuditEvent (https://hl7.org/fhir/R4/auditevent.html), built by
 * {@link opsAuditEvent} and written by the handler, like every other API request.
 */
import type { Ingestor } from '../ingest';
import type { TriageArea, TriageSummary } from '../triage';
import { TRIBUTARY_FHIR_BASE } from '../audit/event';
import type { AuditEntry, Clock, EventBus } from '../ports';
import { acceptanceTrend, activityBySource, etlFigures, ingestSeries, requestFacts, topExpressions, type RequestFact } from './activity';
import { buildCatalogue, searchCatalogue, type CatalogueInput, type CatalogueTable } from './catalogue';
import { filterJobs, publicJob, type JobFilter, type JobLog, type JobRecord } from './jobs';

/** The scope of operators (same string the safe-analysis path uses). */
export const OPS_SCOPE = 'tributary/operator';

/** True when a raw scope string grants the operator role. Write scopes (`system/*.cu`) never do. */
export function canOperate(scope: string | undefined): boolean {
  return (scope ?? '').split(/\s+/).includes(OPS_SCOPE);
}

/** The outcome of an audit trail verification, as the console shows it (counts, hashes, problems: no content). */
export interface AuditVerification {
  ok: boolean;
  /** Audit records in every chain. */
  records: number;
  /** Writer chains. */
  chains: number;
  /** Anchors in the anchor chain. */
  anchors: number;
  /** Records written after their chain's last anchor. */
  unanchored: number;
  lastAnchorHash?: string;
  /** What is wrong, first problem first. */
  problems: string[];
}

/** Reads the audit trail back (records in order) and verifies it. */
export interface AuditReader {
  records(): Promise<AuditEntry[]>;
  verify(): Promise<AuditVerification>;
}

/** The ETL's dead-letter queue (AWS SQS); none locally, where a failed event is a failed job record. */
export interface DeadLetterQueue {
  /** Messages waiting in the queue. */
  depth(): Promise<number>;
}

/** Collaborators of {@link OpsService}. */
export interface OpsDeps {
  jobs: JobLog;
  auditReader: AuditReader;
  triage: TriageArea;
  ingestor: Ingestor;
  events: EventBus;
  /** The catalogue's static part (tables and views), built from the ViewDefinitions. */
  catalogueTables: () => Omit<CatalogueInput, 'jobs'>;
  clock: Clock;
  deadLetters?: DeadLetterQueue;
}

/** What an ops request did, for its audit record: a read, or one of the three actions. */
export type OpsAction = 'read' | 'etl-retry' | 'triage-recheck' | 'audit-verify';

/** Thrown for an unknown job or triage item (404). */
export class OpsNotFound extends Error {
  override readonly name = 'OpsNotFound';
}
/** Thrown when an action does not apply (409), e.g. retrying a job that succeeded. */
export class OpsConflict extends Error {
  override readonly name = 'OpsConflict';
}

/** Builds the AuditEvent of an ops action (ids and outcome only). */
export function opsAuditEvent(a: { action: OpsAction; who: string; target: string; outcome: '0' | '4' | '8'; requestId: string; recorded: Date; detail?: string }): AuditEntry {
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110100', display: 'Application Activity' },
    subtype: [{ system: `${TRIBUTARY_FHIR_BASE}/CodeSystem/ops-action`, code: a.action }],
    action: a.action === 'read' ? 'R' : 'E',
    recorded: a.recorded.toISOString(),
    outcome: a.outcome,
    outcomeDesc: a.detail ?? (a.outcome === '0' ? 'done' : a.outcome === '4' ? 'refused' : 'failed'),
    agent: [{ who: { identifier: { system: `${TRIBUTARY_FHIR_BASE}/NamingSystem/oauth-client-id`, value: a.who } }, requestor: true }],
    source: { observer: { display: 'tributary ops' }, type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }] },
    entity: [
      { what: { identifier: { system: `${TRIBUTARY_FHIR_BASE}/NamingSystem/ops-target`, value: a.target } } },
      { what: { identifier: { system: `${TRIBUTARY_FHIR_BASE}/NamingSystem/request-id`, value: a.requestId } }, type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' } },
    ],
  };
}

/** A triage item as the console shows it (the summary already holds no payload and no diagnostics). */
export type TriageView = Pick<TriageSummary, 'id' | 'source' | 'heldAt' | 'resourceTypes' | 'issues' | 'expressions' | 'state' | 'lastCheckedAt' | 'lastCheckIssues'>;

const triageView = (s: TriageSummary): TriageView => ({
  id: s.id,
  source: s.source,
  heldAt: s.heldAt,
  resourceTypes: s.resourceTypes,
  issues: s.issues,
  expressions: s.expressions,
  state: s.state,
  ...(s.lastCheckedAt ? { lastCheckedAt: s.lastCheckedAt } : {}),
  ...(s.lastCheckIssues !== undefined ? { lastCheckIssues: s.lastCheckIssues } : {}),
});

/** The ops use cases. */
export class OpsService {
  private lastVerification: (AuditVerification & { at: string }) | undefined;

  constructor(private readonly deps: OpsDeps) {}

  private async facts(): Promise<RequestFact[]> {
    return (await this.deps.auditReader.records()).map(requestFacts).filter((f): f is RequestFact => f !== undefined);
  }

  /** Overview: ingest rate by source, ETL lag p50/p99, failures and dead letters, triage held count. */
  async overview(): Promise<unknown> {
    const [facts, jobs, triage, dlq] = await Promise.all([
      this.facts(),
      this.deps.jobs.list(),
      this.deps.triage.list(),
      this.deps.deadLetters ? this.deps.deadLetters.depth().catch(() => null) : Promise.resolve(null),
    ]);
    return {
      generatedAt: this.deps.clock.now().toISOString(),
      sources: activityBySource(facts).map((a) => ({ source: a.source, requests: a.requests, accepted: a.accepted, refused: a.refused, acceptanceRate: a.acceptanceRate })),
      ingest: ingestSeries(facts),
      etl: etlFigures(jobs),
      /** Messages in the ETL dead-letter queue (AWS); null where there is none or it cannot be read. */
      deadLetterQueueDepth: dlq,
      triage: { held: triage.filter((t) => t.state === 'held').length, ingested: triage.filter((t) => t.state === 'ingested').length },
    };
  }

  /** ETL jobs matching a filter (newest first, at most `limit`), without the stored events. */
  async jobs(filter: JobFilter, limit = 500): Promise<{ total: number; jobs: ReturnType<typeof publicJob>[] }> {
    const all = filterJobs(await this.deps.jobs.list(), filter);
    return { total: all.length, jobs: all.slice(0, limit).map(publicJob) };
  }

  /** One job. */
  async job(id: string): Promise<ReturnType<typeof publicJob>> {
    const j = await this.deps.jobs.get(id);
    if (!j) throw new OpsNotFound('no such job');
    return publicJob(j);
  }

  /**
   * Retries a failed (or dead-lettered) ETL job: re-publishes its event on the ingest topic, so the ETL applies it
   * again (idempotent: the mart files are named from the lake key) and records the new attempt.
   */
  async retry(id: string): Promise<{ id: string; queued: true; attempts: number }> {
    const j: JobRecord | undefined = await this.deps.jobs.get(id);
    if (!j) throw new OpsNotFound('no such job');
    if (j.status !== 'failed') throw new OpsConflict('only failed or dead-lettered jobs are retried');
    if (!j.event) throw new OpsConflict('the job has no event to re-deliver');
    await this.deps.events.publish([j.event]);
    return { id, queued: true as const, attempts: j.attempts };
  }

  /** Triage items (per source counts and each item's issues by expression). */
  async triage(): Promise<{ bySource: Record<string, number>; items: TriageView[] }> {
    const items = (await this.deps.triage.list()).map(triageView);
    const bySource: Record<string, number> = {};
    for (const i of items) if (i.state === 'held') bySource[i.source] = (bySource[i.source] ?? 0) + 1;
    return { bySource, items: items.sort((a, b) => (a.heldAt < b.heldAt ? 1 : -1)) };
  }

  /** Rechecks one held item against the current rules (ingested when it now passes). */
  async recheck(id: string): Promise<{ id: string; ingested: boolean; item?: TriageView }> {
    const known = (await this.deps.triage.list()).find((s) => s.id === id);
    if (!known) throw new OpsNotFound('no such triage item');
    if (known.state !== 'held') throw new OpsConflict('the item was already ingested');
    const r = await this.deps.triage.recheck(this.deps.ingestor, [id]);
    const after = (await this.deps.triage.list()).find((s) => s.id === id);
    return { id, ingested: r.ingested.includes(id), ...(after ? { item: triageView(after) } : {}) };
  }

  /** Data quality per source: acceptance rate, refusals by status, top issue expressions, trend. */
  async quality(): Promise<unknown> {
    const [facts, triage] = await Promise.all([this.facts(), this.deps.triage.list()]);
    return {
      sources: activityBySource(facts).map((a) => ({
        ...a,
        topIssues: topExpressions(triage, a.source),
        trend: acceptanceTrend(facts, a.source),
      })),
    };
  }

  /** The catalogue, optionally searched. */
  async catalogue(q?: string): Promise<{ tables: CatalogueTable[] }> {
    const tables = buildCatalogue({ ...this.deps.catalogueTables(), jobs: await this.deps.jobs.list() });
    return { tables: q ? searchCatalogue(tables, q) : tables };
  }

  /** Audit chain status: record count and the last verification (this process's). */
  async auditStatus(): Promise<unknown> {
    const records = await this.deps.auditReader.records();
    const last = records[records.length - 1] as Record<string, any> | undefined;
    return { records: records.length, lastRecorded: last?.recorded, lastVerification: this.lastVerification ?? null };
  }

  /** Verifies the audit chain now (an audited action: the handler writes the record). */
  async verifyAudit(): Promise<AuditVerification & { at: string }> {
    const v = { ...(await this.deps.auditReader.verify()), at: this.deps.clock.now().toISOString() };
    this.lastVerification = v;
    return v;
  }
}
