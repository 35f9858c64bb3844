/**
 * Write-path scaling with concurrent writers behind a store latency (default 20 ms per call), for bench/run.ts:
 * `measureScaling()`. Figures only, never pass/fail. `node dist/bench/scaling.js [writers...] [--latency=ms]
 * [--duration=ms]` prints the JSON.
 *
 * Each writer stands in for one warm Lambda container of the API: its own {@link Ingestor} (the real use case: the
 * real strict validator, the real pseudonymiser with the shipped policy, keyed index keys, the commit protocol with
 * its outbox) and its own per-writer audit trail (`createAuditTrail`, one chain per container), over stores all
 * writers share:
 * - the lake and identity buckets: the in-memory ObjectStore (S3 semantics) behind a latency decorator;
 * - the version index: the real DynamoDB adapter (`DynamoDbVersionIndex`) over the in-memory DynamoDB fake of the
 *   contract tests (test/contract/dynamodb-fake.ts, aws-sdk-client-mock), every call delayed; one client per writer;
 * - the identity vault: the envelope vault with the local keyring over the shared identity bucket;
 * - events: an EventBus whose every publish is delayed; the audit store: an in-memory AuditStore, every call delayed.
 * Every writer sends small Synthea transaction Bundles back to back (a Patient and up to 9 of its Observations,
 * `urn:uuid` references as Synthea ships them) for a fixed window after a warm-up request and its chain's first
 * anchor, and answers and audits
 * like the API handler (the commit's outbox writes the audit record; the handler writes it when the commit did not).
 * r = resources committed per second (all writers); efficiency64 = r64 / (16 × r4), 1 being linear.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Resource } from 'fhir/r4';
import { loadConfig } from '../src/config';
import { IndexKeys, Ingestor, type WriteRequest } from '../src/core/ingest';
import { recordRequest } from '../src/core/use-cases';
import { createAuditTrail } from '../src/core/audit';
import type { EventBus, TributaryEvent } from '../src/core/ports';
import { MemoryObjectStore } from '../src/adapters/local/memory-object-store';
import { createLocalIdentityVault } from '../src/adapters/local/identity-vault';
import { LocalKeyService } from '../src/adapters/local/key-service';
import { DynamoDbVersionIndex } from '../src/adapters/aws/dynamodb-version-index';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../src/core/pseudonymise';
import { createPseudonymiser, parsePolicy } from '../src/fhir/pseudo';
import { buildProfileValidator, buildValidator } from '../src/fhir/validation/pipeline';
import { loadSchemaModule, projectFile, readProfileModel, readRulesText } from '../src/paths';
import { getStatus } from '../src/fhir/outcomes';
import { normalizeError } from '../src/fhir/errors';
import { FakeDynamoTable } from '../test/contract/dynamodb-fake';
import { slowStore } from './audit-writers';

/** Options of {@link measureScaling}. */
export interface ScalingOptions {
  /** Writer counts to measure. Default [4, 16, 64]. */
  writers?: number[];
  /** Latency of every store call (object stores, DynamoDB, event publish, audit store), ms. Default 20. */
  latencyMs?: number;
  /** Timed window per writer count, ms. Default 5000. */
  durationMs?: number;
  /** Synthea transaction Bundles (the files' text) to cut requests from. Default: ../shared/fhir/synthea/smart-on-fhir-r4. */
  bundles?: string[];
  /** Observations per request besides the Patient (`bundle` requests). Default 9. */
  observations?: number;
  /**
   * What each writer sends: `single` POSTs of one Synthea Observation (default: the lightest real write, so that 64
   * in-process writers sharing one event loop measure the stores and locks, not this machine's cores), or `bundle`
   * transactions of a Patient and its Observations (identity records and their encryption included).
   */
  kind?: 'single' | 'bundle';
}

/** One writer count's figures. */
export interface ScalingFigure {
  resourcesPerSecond: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  failures: number;
  /** Event-loop delay during the window (p99, ms): high means the writers wait for the CPU, not the stores. */
  loopDelayP99Ms: number;
  /** CPU time of this process over wall time during the window (1 = one core busy). */
  cpuShare: number;
  /** Per store call kind: calls in the window and the most in flight at once (1 everywhere would be a global lock). */
  traffic: Traffic;
  /** CPU time of this process per request, ms: all writers share one event loop, so 1000 / this bounds requests/s. */
  cpuMsPerRequest: number;
}

/** Result of {@link measureScaling}, as `npm run bench` prints it under `scaling`. */
export interface ScalingResult {
  latencyMs: number;
  /** resources/s per writer count. */
  writers: Record<string, number>;
  /** r64 / (16 × r4): 1 is linear scaling. */
  efficiency64?: number;
  requestKind: string;
  durationMs: number;
  detail: Record<string, ScalingFigure>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Calls per store and the most in flight at once (a store never above 1 would be a global lock). */
type Traffic = Record<string, { calls: number; inFlight: number; maxInFlight: number }>;

/** Counts a call of `port` in `traffic` while `fn` runs. */
async function counted<T>(traffic: Traffic, port: string, fn: () => Promise<T>): Promise<T> {
  const c = (traffic[port] ??= { calls: 0, inFlight: 0, maxInFlight: 0 });
  c.calls++;
  c.maxInFlight = Math.max(c.maxInFlight, ++c.inFlight);
  try {
    return await fn();
  } finally {
    c.inFlight--;
  }
}

/** Every method call of `target` waits `ms` first (a network round trip). */
function slow<T extends object>(target: T, ms: number, traffic: Traffic, port: string): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver);
      if (typeof v !== 'function' || prop === 'constructor') return v;
      return (...args: unknown[]) =>
        counted(traffic, `${port}.${String(prop)}`, async () => {
          await sleep(ms);
          return (v as (...a: unknown[]) => unknown).apply(t, args);
        });
    },
  });
}

/** An event bus whose publish takes `ms` (SNS PublishBatch); it only counts what it was given. */
class SlowEventBus implements EventBus {
  published = 0;
  constructor(private readonly ms: number) {}
  async publish(events: TributaryEvent[]): Promise<void> {
    await sleep(this.ms);
    this.published += events.length;
  }
}

/** Request templates: per Synthea Bundle, a transaction of its Patient and its first `n` plain Observations. */
function templates(bundles: string[], n: number): Bundle[] {
  return bundles.flatMap((text) => {
    const b = JSON.parse(text) as Bundle;
    const entries = b.entry ?? [];
    const patient = entries.find((e) => e.resource?.resourceType === 'Patient');
    if (!patient) return [];
    const obs = entries
      .filter((e) => e.resource?.resourceType === 'Observation' && !('hasMember' in e.resource) && !('derivedFrom' in e.resource))
      .slice(0, n)
      .map((e) => {
        const { encounter: _drop, ...r } = e.resource as Resource & { encounter?: unknown };
        return { ...e, resource: r } as BundleEntry;
      });
    return obs.length ? [{ resourceType: 'Bundle', type: 'transaction', entry: [patient, ...obs] } as Bundle] : [];
  });
}

/** Single-POST templates: the plain Observations of the Bundles (no encounter reference), one per request. */
function singles(bundles: string[]): Resource[] {
  return templates(bundles, 1000).flatMap((b) =>
    (b.entry ?? []).slice(1).map((e) => {
      const { id: _id, ...r } = e.resource!;
      return r as Resource;
    }),
  );
}

/** A fresh copy of `t` with new `urn:uuid` full URLs (and the references to them), as a client sends each time. */
function fresh(t: Bundle): Bundle {
  let text = JSON.stringify(t);
  for (const e of t.entry ?? []) if (e.fullUrl?.startsWith('urn:uuid:')) text = text.split(e.fullUrl).join(`urn:uuid:${randomUUID()}`);
  return JSON.parse(text) as Bundle;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10 : NaN;
};

/** Measures one writer count over fresh shared stores. */
async function measure(k: number, ms: number, durationMs: number, reqs: (Bundle | Resource)[], shared: Shared): Promise<ScalingFigure> {
  const traffic: Traffic = {};
  const lake = slow(new MemoryObjectStore('lake'), ms, traffic, 'lake');
  const identityStore = slow(new MemoryObjectStore('identity'), ms, traffic, 'identity');
  const table = new FakeDynamoTable();
  table.before = (command) => counted(traffic, `dynamodb.${command}`, () => sleep(ms));
  const events = new SlowEventBus(ms);
  const auditStore = slow(slowStore(0), ms, traffic, 'audit');
  const clock = { now: () => new Date() };
  const vault = await createLocalIdentityVault({ store: identityStore, dataDir: shared.dir });
  // per writer, what a Lambda container builds at cold start: its clients, its Ingestor, its audit chain
  const writers = Array.from({ length: k }, (_, w) => {
    const versions = new DynamoDbVersionIndex(table.client().client, 'versions');
    const transform = new PseudonymiseTransform(
      Promise.resolve(createPseudonymiser({ policy: shared.policy, keys: shared.keys, patientResolver: new VersionIndexPatientResolver(versions, shared.indexKeys) })),
    );
    const audit = createAuditTrail(auditStore, { maxWriters: 1, label: `w${w}` });
    const ingestor = new Ingestor({ lake, versions, events, clock, validate: shared.validate, transform, identity: vault, audit, indexKeys: shared.indexKeys, identifiers: transform });
    const principal = { source: `bench-${w % 4}`, clientId: 'bench' };
    return Object.assign(async (i: number): Promise<{ ok: boolean; resources: number }> => {
      const t = reqs[(w * 7 + i + 1) % reqs.length]!;
      const single = t.resourceType !== 'Bundle';
      const body = single ? structuredClone(t) : fresh(t as Bundle);
      const req: WriteRequest = { requestId: randomUUID(), method: 'POST', body, principal, ...(single ? { type: t.resourceType } : {}) };
      let status: number;
      let audited = false;
      try {
        const r = await ingestor.write(req);
        status = getStatus(r.response[0]);
        audited = r.audited ?? false;
      } catch (err) {
        status = getStatus(normalizeError(err));
      }
      if (!audited) await recordRequest(audit, clock, { requestId: req.requestId, principal, interaction: single ? 'create' : 'transaction', status });
      return { ok: status < 300, resources: single ? 1 : (body as Bundle).entry!.length };
    }, { audit });
  });
  // warm, as warm containers are: a first request each, then each chain's first anchor in place (one writer at a
  // time: 64 cold writers anchoring at once race on the anchor chain's head, the losers retrying on later appends)
  await Promise.all(writers.map((send) => send(-1)));
  for (const send of writers) for (let t = 0; t < 5 && (await send.audit.flush().then(() => false, () => true)); t++);
  const lat: number[] = [];
  let resources = 0;
  let requests = 0;
  let failures = 0;
  for (const c of Object.values(traffic)) Object.assign(c, { calls: 0, maxInFlight: c.inFlight });
  const { monitorEventLoopDelay } = await import('node:perf_hooks');
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    writers.map(async (send) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now();
        const r = await send(i);
        lat.push(performance.now() - s);
        if (r.ok) {
          resources += r.resources;
          requests++;
        } else failures++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  loop.disable();
  return {
    resourcesPerSecond: Math.round(resources / secs),
    requestsPerSecond: Math.round((requests / secs) * 10) / 10,
    p50Ms: pct(lat, 50),
    p99Ms: pct(lat, 99),
    failures,
    loopDelayP99Ms: Math.round(loop.percentile(99) / 1e5) / 10,
    cpuShare: Math.round(((cpu.user + cpu.system) / 1000 / (secs * 1000)) * 100) / 100,
    traffic,
    cpuMsPerRequest: Math.round(((cpu.user + cpu.system) / 1000 / Math.max(1, requests + failures)) * 10) / 10,
  };
}

interface Shared {
  dir: string;
  policy: ReturnType<typeof parsePolicy>;
  keys: LocalKeyService;
  indexKeys: IndexKeys;
  validate: ReturnType<typeof buildValidator>;
}

/** Measures write-path scaling per writer count (see the module comment). */
export async function measureScaling(opts: ScalingOptions = {}): Promise<ScalingResult> {
  const counts = opts.writers ?? [4, 16, 64];
  const latencyMs = opts.latencyMs ?? 20;
  const durationMs = opts.durationMs ?? 5000;
  const synthea = path.join(path.dirname(projectFile('policy')), '../shared/fhir/synthea/smart-on-fhir-r4');
  const bundles =
    opts.bundles ??
    fs
      .readdirSync(synthea)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => fs.readFileSync(path.join(synthea, f), 'utf8'));
  const kind = opts.kind ?? 'single';
  const reqs: (Bundle | Resource)[] = kind === 'single' ? singles(bundles) : templates(bundles, opts.observations ?? 9);
  if (!reqs.length) throw new Error('no Synthea Bundle with a Patient and Observations');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-scaling-'));
  try {
    const config = loadConfig();
    const keys = await LocalKeyService.open(dir);
    const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
    const shared: Shared = {
      dir,
      policy: parsePolicy(fs.readFileSync(projectFile('policy/pseudonymisation.yaml'), 'utf8')),
      keys,
      indexKeys: await new IndexKeys(keys).init(),
      validate: buildValidator({ ...config, schemaModule: loadSchemaModule }, profile),
    };
    const detail: Record<string, ScalingFigure> = {};
    for (const k of counts) detail[k] = await measure(k, latencyMs, durationMs, reqs, shared);
    const writers = Object.fromEntries(Object.entries(detail).map(([k, f]) => [k, f.resourcesPerSecond]));
    const r4 = writers['4'];
    const r64 = writers['64'];
    return {
      latencyMs,
      writers,
      ...(r4 && r64 ? { efficiency64: Math.round((r64 / (16 * r4)) * 100) / 100 } : {}),
      requestKind:
        kind === 'single'
          ? 'single POST of one Synthea Observation; r = resources/s'
          : `transaction Bundle: 1 Patient + up to ${opts.observations ?? 9} Observations (Synthea); r = resources/s`,
      durationMs,
      detail,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  // `node dist/bench/scaling.js [writers...] [--latency=ms] [--duration=ms]`
  const args = process.argv.slice(2);
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const writers = args.filter((a) => !a.startsWith('--')).map(Number).filter((n) => n > 0);
  const latencyMs = opt('latency') ? Number(opt('latency')) : undefined;
  const durationMs = opt('duration') ? Number(opt('duration')) : undefined;
  const kind = opt('kind') === 'bundle' ? ('bundle' as const) : undefined;
  void measureScaling({ ...(writers.length && { writers }), ...(latencyMs && { latencyMs }), ...(durationMs && { durationMs }), ...(kind && { kind }) }).then((r) =>
    process.stdout.write(JSON.stringify(r) + '\n'),
  );
}
