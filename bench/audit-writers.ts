/**
 * Audit append throughput with 1, 4, 16, 64 concurrent writers behind a simulated store latency (default 20 ms per
 * call, like an S3 PUT/GET from Lambda), for bench/run.ts to call: `measureAuditWriters()`.
 *
 * - `perWriter`: the design in use (src/core/audit/trail.ts): each writer is one `createAuditTrail` with one chain
 *   (a Lambda container), appending back to back; its anchors go to the shared anchor chain.
 * - `global` (with `global: true`): the former design, every writer appending to one shared chain with
 *   create-if-absent at its head (`createChainedAuditLog`), for comparison.
 * Writers are warmed up (first record and first anchor written) before the timed window, as warm containers are.
 * Figures only, never pass/fail. `node dist/bench/audit-writers.js` prints the JSON.
 */
import { createAuditTrail, createChainedAuditLog, sequenceStore, type AuditStore } from '../src/core/audit';
import type { AuditEntry } from '../src/core/ports';

/** Options of {@link measureAuditWriters}. */
export interface AuditWritersOptions {
  /** Concurrent writers to try. Default [1, 4, 16, 64]. */
  writers?: number[];
  /** Simulated latency of every store call, ms. Default 20. */
  latencyMs?: number;
  /** Timed window per writer count, ms. Default 2000. */
  durationMs?: number;
  /** Anchor every N records (the trail's default is 100). */
  anchorEvery?: number;
  /** Also measure the former single global chain. Default true. */
  global?: boolean;
}

/** One writer count's figures. */
export interface AuditWritersFigure {
  appendsPerSec: number;
  /** Median and 99th percentile append latency, ms. */
  p50Ms: number;
  p99Ms: number;
  /** Conditional writes that lost a race (record or anchor): the contention. */
  lostWrites: number;
}

/** Result of {@link measureAuditWriters}. */
export interface AuditWritersResult {
  latencyMs: number;
  durationMs: number;
  perWriter: Record<string, AuditWritersFigure>;
  global?: Record<string, AuditWritersFigure>;
  /** perWriter r64 / (16 × r4): 1 is linear scaling. Present when 4 and 64 were measured. */
  efficiency64?: number;
}

/** An in-memory store where every call takes `latencyMs`; create-if-absent is decided when the call lands. */
export function slowStore(latencyMs: number): AuditStore & { lost: number } {
  const objects = new Map<string, string>();
  const wait = () => new Promise((r) => setTimeout(r, latencyMs));
  const s = {
    name: 'memory',
    lost: 0,
    async create(key: string, body: string) {
      await wait();
      if (objects.has(key)) {
        s.lost++;
        return false;
      }
      objects.set(key, body);
      return true;
    },
    async read(key: string) {
      await wait();
      return objects.get(key);
    },
    async exists(key: string) {
      await wait();
      return objects.has(key);
    },
    async list(prefix: string) {
      await wait();
      return [...objects.keys()].filter((k) => k.startsWith(prefix));
    },
  };
  return s;
}

const entry = (i: number): AuditEntry => ({
  resourceType: 'AuditEvent',
  recorded: new Date().toISOString(),
  entity: [{ what: { identifier: { system: 'urn:bench', value: `r${i}` } } }],
});

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10 : NaN;
};

/** Runs `k` appenders back to back for `durationMs` after a warm-up append each. */
async function run(k: number, durationMs: number, append: (w: number, i: number) => Promise<void>, store: { lost: number }): Promise<AuditWritersFigure> {
  await Promise.all(Array.from({ length: k }, (_, w) => append(w, -1)));
  store.lost = 0;
  const lat: number[] = [];
  let done = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: k }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const s = performance.now();
        await append(w, i);
        lat.push(performance.now() - s);
        done++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return { appendsPerSec: Math.round(done / secs), p50Ms: pct(lat, 50), p99Ms: pct(lat, 99), lostWrites: store.lost };
}

/** Measures audit append throughput per writer count (see the module comment). */
export async function measureAuditWriters(opts: AuditWritersOptions = {}): Promise<AuditWritersResult> {
  const writers = opts.writers ?? [1, 4, 16, 64];
  const latencyMs = opts.latencyMs ?? 20;
  const durationMs = opts.durationMs ?? 2000;
  const perWriter: Record<string, AuditWritersFigure> = {};
  const global: Record<string, AuditWritersFigure> = {};
  for (const k of writers) {
    const store = slowStore(latencyMs);
    const trails = Array.from({ length: k }, (_, w) => createAuditTrail(store, { maxWriters: 1, label: `b${w}`, ...(opts.anchorEvery && { anchorEvery: opts.anchorEvery }) }));
    perWriter[k] = await run(k, durationMs, (w, i) => trails[w]!.append(entry(i)), store);
    if (opts.global ?? true) {
      const shared = slowStore(latencyMs);
      const logs = Array.from({ length: k }, () => createChainedAuditLog(sequenceStore(shared, 'global/')));
      global[k] = await run(k, durationMs, (w, i) => logs[w]!.append(entry(i)), shared);
    }
  }
  const r4 = perWriter[4]?.appendsPerSec;
  const r64 = perWriter[64]?.appendsPerSec;
  return {
    latencyMs,
    durationMs,
    perWriter,
    ...((opts.global ?? true) && { global }),
    ...(r4 && r64 && { efficiency64: Math.round((r64 / (16 * r4)) * 100) / 100 }),
  };
}

if (require.main === module) {
  void measureAuditWriters().then((r) => process.stdout.write(JSON.stringify(r) + '\n'));
}
