/**
 * Ingest activity and data quality per source, computed from the audit trail's request records (FHIR AuditEvent,
 * https://hl7.org/fhir/R4/auditevent.html, as built by src/core/audit/event.ts) and the ETL job records.
 * Everything here is counts, statuses, source names, resource type names and FHIRPath expressions: no values.
 *
 * Audit records are read through {@link requestFacts}, the one function that knows the record layout, so a change
 * of the audit chain's envelope (sequence/hash fields) touches nothing here.
 */
import { SOURCE_SYSTEM } from '../audit/event';
import type { AuditEntry } from '../ports';
import type { JobRecord } from './jobs';

/** What one request record says, reduced to what the console shows. */
export interface RequestFact {
  recorded: string;
  interaction: string;
  status: number;
  source: string;
  /** Resources per type (the request's entity counts). */
  resources: Record<string, number>;
}

/** Interactions that write (or try to): the acceptance rate is over these. */
const WRITES = new Set(['create', 'update', 'batch', 'transaction']);

/** The request facts of an AuditEvent, or undefined when it is not a REST request record. */
export function requestFacts(e: AuditEntry): RequestFact | undefined {
  const r = e as Record<string, any>;
  if (r.type?.code !== 'rest') return undefined;
  const status = Number(/^(\d{3})/.exec(String(r.outcomeDesc ?? ''))?.[1] ?? NaN);
  const source =
    (r.agent as any[] | undefined)?.find((a) => a?.who?.identifier?.system === SOURCE_SYSTEM)?.who?.identifier?.value ?? '(unauthenticated)';
  const resources: Record<string, number> = {};
  for (const en of (r.entity as any[] | undefined) ?? []) {
    if (en?.type?.system === 'http://hl7.org/fhir/resource-types' && typeof en.type.code === 'string') {
      resources[en.type.code] = Number(en.detail?.[0]?.valueString ?? 0) || 0;
    }
  }
  return { recorded: String(r.recorded ?? ''), interaction: String(r.subtype?.[0]?.code ?? 'unknown'), status: Number.isFinite(status) ? status : 0, source: String(source), resources };
}

/** Counts of one source. */
export interface SourceActivity {
  source: string;
  requests: number;
  /** Write requests (create, update, batch, transaction). */
  writes: number;
  accepted: number;
  refused: number;
  /** accepted / writes (1 when there were none). */
  acceptanceRate: number;
  refusalsByStatus: Record<string, number>;
  resourcesAccepted: Record<string, number>;
  byInteraction: Record<string, number>;
}

/** Time buckets for the charts. */
export interface Series {
  /** Bucket starts, seconds since the epoch. */
  t: number[];
  /** Per source: values per bucket. */
  bySource: Record<string, number[]>;
}

const inc = (o: Record<string, number>, k: string, n = 1): void => {
  o[k] = (o[k] ?? 0) + n;
};

/** Per-source activity from request facts. */
export function activityBySource(facts: readonly RequestFact[]): SourceActivity[] {
  const m = new Map<string, SourceActivity>();
  for (const f of facts) {
    const a =
      m.get(f.source) ??
      ({ source: f.source, requests: 0, writes: 0, accepted: 0, refused: 0, acceptanceRate: 1, refusalsByStatus: {}, resourcesAccepted: {}, byInteraction: {} } as SourceActivity);
    m.set(f.source, a);
    a.requests++;
    inc(a.byInteraction, f.interaction);
    const isWrite = WRITES.has(f.interaction) || (f.interaction === 'refused' && f.status !== 405);
    if (!isWrite) continue;
    a.writes++;
    if (f.status > 0 && f.status < 400) {
      a.accepted++;
      for (const [t, n] of Object.entries(f.resources)) inc(a.resourcesAccepted, t, n);
    } else {
      a.refused++;
      inc(a.refusalsByStatus, String(f.status));
    }
  }
  for (const a of m.values()) a.acceptanceRate = a.writes === 0 ? 1 : a.accepted / a.writes;
  return [...m.values()].sort((x, y) => x.source.localeCompare(y.source));
}

/** Bucket size (seconds) giving at most ~60 buckets over the span. */
function bucketSeconds(spanSec: number): number {
  for (const b of [60, 300, 900, 3600, 6 * 3600, 86400]) if (spanSec / b <= 60) return b;
  return 7 * 86400;
}

/** Buckets of a set of instants (seconds). */
function buckets(times: number[]): { t: number[]; size: number; index: (s: number) => number } {
  if (times.length === 0) return { t: [], size: 60, index: () => 0 };
  const min = Math.min(...times);
  const max = Math.max(...times);
  const size = bucketSeconds(max - min);
  const start = Math.floor(min / size) * size;
  const n = Math.floor((max - start) / size) + 1;
  return { t: Array.from({ length: n }, (_, i) => start + i * size), size, index: (s) => Math.floor((s - start) / size) };
}

/** Resources accepted per source per time bucket (the ingest-rate chart). */
export function ingestSeries(facts: readonly RequestFact[]): Series {
  const accepted = facts.filter((f) => WRITES.has(f.interaction) && f.status > 0 && f.status < 400);
  const secs = accepted.map((f) => Math.floor(Date.parse(f.recorded) / 1000));
  const b = buckets(secs);
  const bySource: Record<string, number[]> = {};
  accepted.forEach((f, i) => {
    const row = (bySource[f.source] ??= new Array(b.t.length).fill(0));
    row[b.index(secs[i]!)] += Object.values(f.resources).reduce((x, y) => x + y, 0) || 1;
  });
  return { t: b.t, bySource };
}

/** Acceptance rate per time bucket for one source (the data-quality trend). */
export function acceptanceTrend(facts: readonly RequestFact[], source: string): { t: number[]; rate: (number | null)[]; refused: number[] } {
  const own = facts.filter((f) => f.source === source && WRITES.has(f.interaction));
  const secs = own.map((f) => Math.floor(Date.parse(f.recorded) / 1000));
  const b = buckets(secs);
  const ok = new Array(b.t.length).fill(0);
  const all = new Array(b.t.length).fill(0);
  own.forEach((f, i) => {
    const k = b.index(secs[i]!);
    all[k]++;
    if (f.status > 0 && f.status < 400) ok[k]++;
  });
  return { t: b.t, rate: all.map((n, i) => (n === 0 ? null : ok[i] / n)), refused: all.map((n, i) => n - ok[i]) };
}

/** A percentile of numbers (nearest rank), undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** ETL figures for the overview: lag percentiles, failures, dead letters, and the lag series. */
export function etlFigures(jobs: readonly JobRecord[]): {
  jobs: number;
  succeeded: number;
  failed: number;
  deadLettered: number;
  lagP50Ms?: number;
  lagP99Ms?: number;
  lag: { t: number[]; p50: (number | null)[]; p99: (number | null)[] };
} {
  const etl = jobs.filter((j) => j.kind === 'etl');
  const ok = etl.filter((j) => j.status === 'succeeded' && j.lagMs !== undefined);
  const secs = ok.map((j) => Math.floor(Date.parse(j.finishedAt) / 1000));
  const b = buckets(secs);
  const per: number[][] = b.t.map(() => []);
  ok.forEach((j, i) => per[b.index(secs[i]!)]!.push(j.lagMs!));
  return {
    jobs: etl.length,
    succeeded: etl.filter((j) => j.status === 'succeeded').length,
    failed: etl.filter((j) => j.status === 'failed').length,
    deadLettered: etl.filter((j) => j.deadLettered).length,
    lagP50Ms: percentile(ok.map((j) => j.lagMs!), 50),
    lagP99Ms: percentile(ok.map((j) => j.lagMs!), 99),
    lag: { t: b.t, p50: per.map((v) => percentile(v, 50) ?? null), p99: per.map((v) => percentile(v, 99) ?? null) },
  };
}

/** Top issue expressions with counts (triage summaries hold expressions only, never values). */
export function topExpressions(items: readonly { source: string; expressions: string[] }[], source?: string, n = 10): { expression: string; count: number }[] {
  const c: Record<string, number> = {};
  for (const it of items) if (!source || it.source === source) for (const e of it.expressions) inc(c, e);
  return Object.entries(c)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([expression, count]) => ({ expression, count }));
}
