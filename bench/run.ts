/**
 * `npm run bench`: figures, never pass/fail. Starts the real local stack on free ports, then measures in ONE run:
 * - Synthea transaction-Bundle ingestion end to end (resources/s, p50/p99 request latency), and single-resource POSTs,
 *   once with the local ETL running on every event and once with it deferred (LOCAL_ETL=deferred: the ingest path alone);
 * - a trivial handler's rate under the same serverless-offline (the framework's ceiling), and two store-only floors;
 * - cold-start init of the ingest handler module in a fresh process;
 * - JSON.parse + JSON.stringify round trips of the same resources (the ceiling no ingest path beats), and the strict,
 *   lossless parser and serialiser against them (bench/json.ts);
 * - `ingest.shareOfFloor` / `singlePost.shareOfFloor`: those rates over the store-only floors of the same run;
 * - `scaling`: the real write path with 4, 16, 64 in-process writers behind 20 ms per store call (bench/scaling.ts),
 *   and `auditWriters`: audit appends per writer count, per-writer chains against the former global chain;
 * - and the component benchmarks (validation, pseudonymisation, views/ETL, bulk import) where present.
 * Prints one JSON line (and a readable table on stderr).
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startS3Server, startStack } from '../scripts/start';
import { mintToken } from '../src/adapters/local/issuer';

const ROOT = path.resolve(__dirname, '../..');
const SHARED = path.resolve(ROOT, '../shared');
const SYNTHEA = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};
const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;

/** Sends `bodies` with `concurrency` parallel clients; returns wall time and latencies. */
async function load(url: string, bodies: string[], concurrency: number, headers: Record<string, string>) {
  const lat: number[] = [];
  let i = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (i < bodies.length) {
        const body = bodies[i++];
        const s = performance.now();
        const r = await fetch(url, { method: 'POST', headers, body });
        await r.arrayBuffer();
        if (r.status >= 300) failures++;
        lat.push(performance.now() - s);
      }
    }),
  );
  return { ms: performance.now() - t0, lat, failures };
}

/** Settings of the `aws` runtime as serverless.yml passes them (no call is made: clients are only built). */
const AWS_RUNTIME_ENV: Record<string, string> = {
  TRIBUTARY_RUNTIME: 'aws',
  AWS_REGION: 'eu-west-2',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  LAKE_BUCKET: 'lake',
  IDENTITY_BUCKET: 'identity',
  TRIAGE_BUCKET: 'triage',
  AUDIT_BUCKET: 'audit',
  MARTS_BUCKET: 'marts',
  LAKE_KMS_KEY_ARN: 'arn:aws:kms:eu-west-2:111122223333:key/lake',
  IDENTITY_KMS_KEY_ARN: 'arn:aws:kms:eu-west-2:111122223333:key/identity',
  HMAC_KMS_KEY_ARN: 'arn:aws:kms:eu-west-2:111122223333:key/hmac',
  TRIAGE_KMS_KEY_ARN: 'arn:aws:kms:eu-west-2:111122223333:key/triage',
  INGEST_TOPIC_ARN: 'arn:aws:sns:eu-west-2:111122223333:ingest',
  VERSIONS_TABLE: 'versions',
  OIDC_ISSUER: 'https://issuer.example',
  OIDC_AUDIENCE: 'tributary',
  OIDC_JWKS_URI: 'https://issuer.example/jwks',
};

/**
 * Cold start: a fresh node loads the handler module and builds the app, then validates one resource. Median of 5.
 * `runtime: 'local'` is what serverless-offline runs; `'aws'` builds the AWS adapters (DynamoDB, KMS, S3 audit,
 * token verifier) as a Lambda instance does, without calling AWS.
 */
function coldStart(runtime: 'local' | 'aws' = 'local'): { moduleInitMs: number; readyMs: number } {
  const code = `
    const t0 = process.hrtime.bigint();
    const api = require(${JSON.stringify(path.join(ROOT, 'dist/src/handlers/api.js'))});
    const { getApp } = require(${JSON.stringify(path.join(ROOT, 'dist/src/bootstrap'))});
    const app = getApp();
    const t1 = process.hrtime.bigint();
    app.validate({ resourceType: 'Patient', gender: 'female' }, 'Patient');
    const t2 = process.hrtime.bigint();
    process.stdout.write(JSON.stringify({ moduleInitMs: Number(t1 - t0) / 1e6, readyMs: Number(t2 - t0) / 1e6 }));`;
  const runs = Array.from({ length: 5 }, () =>
    JSON.parse(
      execFileSync(process.execPath, ['-e', code], {
        env: {
          ...process.env,
          ...(runtime === 'aws' ? AWS_RUNTIME_ENV : { AUTH: 'off', TRIBUTARY_RUNTIME: 'local' }),
          DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'cold-')),
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
        stdio: ['ignore', 'pipe', 'ignore'],
      }).toString(),
    ),
  );
  return { moduleInitMs: round(pct(runs.map((r) => r.moduleInitMs), 50), 1), readyMs: round(pct(runs.map((r) => r.readyMs), 50), 1) };
}

/** JSON.parse + JSON.stringify of each resource, one core. */
function jsonRoundTrip(resources: string[]): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 3000) {
    for (const r of resources) JSON.stringify(JSON.parse(r));
    n += resources.length;
  }
  return n / ((performance.now() - t0) / 1000);
}

/**
 * The framework's ceilings, under their own serverless-offline on `port` (serverless.bench.yml): a trivial handler,
 * and two store-only floors (bench/floors.ts) writing through the same S3 adapter to their own s3rver: one PutObject
 * per single POST, and one PutObject per resource type per Bundle. No ingest that stores before it answers can beat
 * the floors on this machine.
 */
export async function ceilings(port: number, bodies: string[], bundles: string[], resources: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-floor-'));
  const s3Port = port + 50;
  const s3 = await startS3Server(s3Port, dir, ['tributary-lake'], 'ignore');
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'node_modules/serverless/bin/serverless.js'), 'offline', 'start', '--config', 'serverless.bench.yml', '--httpPort', String(port), '--lambdaPort', String(port + 2), '--websocketPort', String(port + 1)],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        SLS_TELEMETRY_DISABLED: '1',
        SLS_NOTIFICATIONS_MODE: 'off',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        AWS_ACCESS_KEY_ID: 'LOCAL',
        AWS_SECRET_ACCESS_KEY: 'LOCAL',
        S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
        LAKE_BUCKET: 'tributary-lake',
      },
      stdio: 'ignore',
    },
  );
  const base = `http://127.0.0.1:${port}`;
  const headers = { 'Content-Type': 'application/fhir+json' };
  try {
    for (let i = 0; i < 240; i++) {
      try {
        const r = await fetch(`${base}/fhir/Observation`, { method: 'POST', body: '{}' });
        if (r.status === 201) break;
      } catch {
        /* not up */
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const rate = async (url: string, xs: string[], conc: number, units: number) => {
      await load(url, xs.slice(0, Math.min(200, xs.length >> 2)), conc, headers); // warm the workers
      const r = await load(url, xs, conc, headers);
      if (r.failures) throw new Error(`${r.failures} failures at ${url}`);
      return units / (r.ms / 1000);
    };
    const trivial = await rate(`${base}/fhir/Observation`, bodies, 8, bodies.length);
    const onePut = await rate(`${base}/floor/Observation`, bodies, 8, bodies.length);
    const perTypePut = await rate(`${base}/floor`, bundles, 2, resources);
    return { trivial, onePut, perTypePut };
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => child.once('exit', r));
    s3.kill('SIGTERM');
    await new Promise((r) => s3.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function optional<T>(file: string, fn: (m: any) => Promise<T>): Promise<T | { skipped: string }> {
  const p = path.join(__dirname, file);
  if (!fs.existsSync(p)) return { skipped: `${file} not present` };
  try {
    return await fn(require(p));
  } catch (err) {
    return { skipped: `failed: ${(err as Error).message}` };
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(SYNTHEA)) {
    console.error(`bench needs ../shared/fhir/synthea (absent): nothing to measure`);
    process.exit(2);
  }
  const files = fs.readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort();
  const bundles = files.map((f) => fs.readFileSync(path.join(SYNTHEA, f), 'utf8'));
  const parsed = bundles.map((b) => JSON.parse(b));
  const resources = parsed.flatMap((b) => b.entry.map((e: any) => e.resource));
  const resourceTexts = resources.map((r) => JSON.stringify(r));
  const totalResources = resources.length;
  const observations = resources.filter((r) => r.resourceType === 'Observation').slice(0, 3000);
  const obsBodies = observations.map((o) => JSON.stringify({ ...o, id: undefined }));

  const port = Number(process.env.BENCH_PORT ?? 3700);
  /** Bundles then single POSTs against a fresh local stack started with `env`. */
  const ingestRun = async (env: Record<string, string>, singles: string[]) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-'));
    const stack = await startStack({ port, s3Port: port + 169, snsPort: port + 102, issuerPort: port + 199, dataDir, quiet: true, env: { POWERTOOLS_LOG_LEVEL: 'WARN', ...env } });
    try {
      const token = await mintToken({ dataDir, issuer: stack.issuer, source: 'bench', scope: 'system/*.write' });
      const headers = { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${token}`, Prefer: 'return=minimal' };
      // warm the workers
      await load(`${stack.baseUrl}`, bundles.slice(0, 4), 2, headers);
      const ingest = await load(`${stack.baseUrl}`, bundles, 2, headers);
      const single = await load(`${stack.baseUrl}/Observation`, singles, 8, headers);
      return {
        ingest: {
          bundles: bundles.length,
          resources: totalResources,
          failures: ingest.failures,
          resourcesPerSecond: round(totalResources / (ingest.ms / 1000)),
          p50ms: round(pct(ingest.lat, 50), 1),
          p99ms: round(pct(ingest.lat, 99), 1),
        },
        singlePost: {
          requests: singles.length,
          failures: single.failures,
          requestsPerSecond: round(singles.length / (single.ms / 1000)),
          p50ms: round(pct(single.lat, 50), 1),
          p99ms: round(pct(single.lat, 99), 1),
        } as Record<string, number>,
      };
    } finally {
      await stack.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  };
  const results: Record<string, unknown> = {};
  // the whole local stack: the ETL runs on every event, on the same two cores (in AWS it has its own Lambdas)
  Object.assign(results, await ingestRun({}, obsBodies));
  // the ingest path alone: the local ETL acknowledges events without work (LOCAL_ETL=deferred)
  const deferred = await ingestRun({ LOCAL_ETL: 'deferred' }, obsBodies.slice(0, 1500));
  results.etlDeferred = deferred;
  try {
    const c = await ceilings(port + 300, obsBodies, bundles, totalResources);
    results.trivialHandlerRequestsPerSecond = round(c.trivial);
    (results.singlePost as Record<string, number>).shareOfTrivial = round((results.singlePost as Record<string, number>).requestsPerSecond / c.trivial, 2);
    deferred.singlePost.shareOfTrivial = round(deferred.singlePost.requestsPerSecond! / c.trivial, 2);
    // floors: a handler that only stores (one PutObject per POST; one per type per Bundle), same adapter and server kind
    results.storeOnlyFloors = {
      onePutRequestsPerSecond: round(c.onePut),
      onePutShareOfTrivial: round(c.onePut / c.trivial, 2),
      perTypePutBundleResourcesPerSecond: round(c.perTypePut),
    };
  } catch (err) {
    results.trivialHandlerRequestsPerSecond = { skipped: `bench functions did not start: ${(err as Error).message}` };
  }
  // shares of the store-only floors, from figures of this same run
  const floors = results.storeOnlyFloors as { onePutRequestsPerSecond: number; perTypePutBundleResourcesPerSecond: number } | undefined;
  if (floors) {
    for (const block of [results as typeof deferred, deferred]) {
      (block.ingest as Record<string, number>).shareOfFloor = round(block.ingest.resourcesPerSecond / floors.perTypePutBundleResourcesPerSecond, 2);
      block.singlePost.shareOfFloor = round(block.singlePost.requestsPerSecond! / floors.onePutRequestsPerSecond, 2);
    }
  }
  // the real write path with 4, 16, 64 in-process writers behind 20 ms per store call (bench/scaling.ts)
  results.scaling = await optional('scaling.js', (m) => m.measureScaling({ bundles }));
  // the same with transaction Bundles (Patient + Observations: identity records and their encryption), CPU-heavier
  results.scalingBundles = await optional('scaling.js', (m) => m.measureScaling({ bundles, kind: 'bundle' }));
  results.auditWriters = await optional('audit-writers.js', (m) => m.measureAuditWriters({ global: true }));
  // bulk $import (bench/import.ts, #15): 1× and 10× the Synthea set, each in its own process; skipped when absent
  // the bulk import at 1× and 10× takes minutes: BENCH_IMPORT=0 leaves it out
  results.import =
    process.env.BENCH_IMPORT === '0'
      ? { skipped: 'BENCH_IMPORT=0' }
      : await optional('import.js', async (m) => (await m.benchImport()) ?? { skipped: '../shared absent' });
  results.coldStart = coldStart();
  results.coldStartAwsRuntime = coldStart('aws');
  results.jsonRoundTripPerSecond = round(jsonRoundTrip(resourceTexts.slice(0, 20000)));
  results.json = await optional('json.js', (m) => m.benchJson(bundles));
  results.validation = await optional('validation.js', (m) => m.benchValidation(resources.slice(0, 20000)));
  results.pseudonymisation = await optional('pseudo.js', (m) => m.benchPseudo(parsed));
  results.views = await optional('views.js', (m) => m.benchViews(resources));
  results.etl = await optional('etl.js', (m) => m.benchEtl(files.map((f) => path.join(SYNTHEA, f))));
  results.machine = { cpus: os.cpus().length, node: process.version };
  console.error(JSON.stringify(results, null, 2));
  console.log(JSON.stringify(results));
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
