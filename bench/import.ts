/**
 * Benchmark of the bulk import (issue #15): the Synthea set (../shared/fhir/synthea/smart-on-fhir-r4) converted to
 * one NDJSON file per resource type (as a FHIR bulk export gives it: `urn:uuid:` references become `Type/id`), then
 * imported by the real job runner (src/core/import) on a pool of worker threads (one per core), each chunk of 1,000
 * lines going through the real Ingestor with strict validation, pseudonymisation (local keys, the envelope-encrypted
 * identity store), the file version index and the hash-chained local audit log. The lake, the identity store and the
 * inputs are folders (bench/fs-object-store.ts: no network measured, no data held in memory); events are counted.
 *
 * {@link benchImport} runs each scale in a fresh process with the runner's V8 flags (`RUNNER_NODE_FLAGS`, as the local
 * launcher starts a job's runner; peak RSS is per process) and returns
 * `{ resources, resourcesPerSecond, peakRssMb }` at 1× and `peakRssMb` at 10× (ids suffixed per copy).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isMainThread, parentPort } from 'node:worker_threads';
import { loadConfig } from '../src/config';
import { errorOutputKey, importChunk, runImportJob, startImport, type ChunkDeps, type ChunkTask } from '../src/core/import';
import { IndexKeys, Ingestor } from '../src/core/ingest';
import { systemClock, type IdentityVault, type ImportChunkRecord } from '../src/core/ports';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../src/core/pseudonymise';
import { FileVersionIndex } from '../src/adapters/local/file-version-index';
import { LocalKeyService } from '../src/adapters/local/key-service';
import { createLocalIdentityVault } from '../src/adapters/local/identity-vault';
import { createLocalAuditLog } from '../src/adapters/local/audit-log';
import { FileImportJobStore } from '../src/adapters/local/import-job-store';
import { WorkerPool } from '../src/adapters/local/worker-pool';
import { RUNNER_NODE_FLAGS } from '../src/adapters/local/import-launcher';
import { buildProfileValidator, buildValidator } from '../src/fhir/validation/pipeline';
import { createPseudonymiser, parsePolicy } from '../src/fhir/pseudo';
import { loadSchemaModule, projectFile, readPolicyText, readProfileModel, readRulesText } from '../src/paths';
import { jobPrincipal } from '../src/bootstrap/import';
import { FsObjectStore } from './fs-object-store';

const SYNTHEA = [path.resolve(__dirname, '../../shared/fhir/synthea/smart-on-fhir-r4'), path.resolve(__dirname, '../../../shared/fhir/synthea/smart-on-fhir-r4')].find((d) => fs.existsSync(d));

/** The `urn:uuid:` references of a Synthea transaction Bundle as `Type/id` (what a bulk export would contain). */
function exportLine(resource: Record<string, unknown>, types: Map<string, string>): string {
  return JSON.stringify(resource).replace(/"urn:uuid:([0-9a-f-]{36})"/g, (m, id: string) => (types.has(id) ? `"${types.get(id)}/${id}"` : m));
}

/**
 * Writes the Synthea Bundles of `srcDir` as one NDJSON file per resource type into `outDir` (`{Type}.ndjson`),
 * `copies` times over with ids suffixed `-{k}` from the second copy on.
 * @returns resource count per type (all copies)
 */
export function writeSyntheaNdjson(srcDir: string, outDir: string, copies = 1): Record<string, number> {
  fs.mkdirSync(outDir, { recursive: true });
  const counts: Record<string, number> = {};
  const fds = new Map<string, number>();
  const files = fs.readdirSync(srcDir).filter((f) => f.endsWith('.json')).sort();
  for (let k = 0; k < copies; k++) {
    for (const f of files) {
      const b = JSON.parse(fs.readFileSync(path.join(srcDir, f), 'utf8')) as { entry?: { fullUrl?: string; resource: Record<string, unknown> }[] };
      const types = new Map<string, string>();
      for (const e of b.entry ?? []) if (e.fullUrl?.startsWith('urn:uuid:')) types.set(e.fullUrl.slice(9), String(e.resource.resourceType));
      const byType = new Map<string, string[]>();
      for (const e of b.entry ?? []) {
        const t = String(e.resource.resourceType);
        if (!e.resource.id && e.fullUrl?.startsWith('urn:uuid:')) e.resource.id = e.fullUrl.slice(9);
        let line = exportLine(e.resource, types);
        if (k > 0) line = line.replace(/\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b/g, `$1-${k}`);
        const arr = byType.get(t) ?? [];
        arr.push(line);
        byType.set(t, arr);
      }
      for (const [t, lines] of byType) {
        if (!fds.has(t)) fds.set(t, fs.openSync(path.join(outDir, `${t}.ndjson`), 'w'));
        fs.writeSync(fds.get(t)!, lines.join('\n') + '\n');
        counts[t] = (counts[t] ?? 0) + lines.length;
      }
    }
  }
  for (const fd of fds.values()) fs.closeSync(fd);
  return counts;
}

/** The write path of one worker: real validator, pseudonymiser, identity store, version index, audit log. */
function benchDeps(dataDir: string): ChunkDeps {
  const config = loadConfig({ TRIBUTARY_RUNTIME: 'local', DATA_DIR: dataDir, AUTH: 'off', IMPORT_INDEX_OPEN_FILES: process.env.IMPORT_INDEX_OPEN_FILES });
  const lake = new FsObjectStore('tributary-lake', path.join(dataDir, 'lake'));
  const versions = new FileVersionIndex(path.join(dataDir, 'index'), { maxOpenFiles: config.bulkImport.indexOpenFiles });
  const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
  const validate = buildValidator({ ...config, schemaModule: loadSchemaModule }, profile);
  const keys = LocalKeyService.open(dataDir);
  const indexKeys = new IndexKeys(keys);
  const transform = new PseudonymiseTransform(
    Promise.all([readPolicyText(projectFile('policy/pseudonymisation.yaml')).then(parsePolicy), keys]).then(([policy, k]) =>
      createPseudonymiser({ policy, keys: k, patientResolver: new VersionIndexPatientResolver(versions, indexKeys) }),
    ),
  );
  const vault = createLocalIdentityVault({ store: new FsObjectStore('tributary-identity', path.join(dataDir, 'identity')), dataDir });
  const identity: IdentityVault = {
    stage: async (id, records) => (await vault).stage(id, records),
    promote: async (id, refs) => (await vault).promote(id, refs),
    discard: async (id, refs) => (await vault).discard(id, refs),
    get: async (p) => (await vault).get(p),
  };
  const events = { publish: async () => undefined };
  const audit = createLocalAuditLog(dataDir);
  const ingestor = new Ingestor({ lake, versions, events, clock: systemClock, validate, transform, identity, audit, indexKeys, identifiers: transform });
  return {
    ingestor,
    triage: { hold: async () => { throw new Error('triage is off in the benchmark'); } },
    triageEnabled: () => false,
    lake,
    audit,
    clock: systemClock,
    validate,
    maxLineBytes: config.maxBodyBytes,
    principalOf: (p) => jobPrincipal(p, false),
  };
}

/** Peak resident set of this process (main thread and workers), MB. */
const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024);

/**
 * One import, in this process, of the NDJSON files the parent wrote to `{dataDir}/import/inputs` (so the peak RSS
 * measured is the import's, not the input generator's).
 */
async function runOnce(dataDir: string, copies: number): Promise<{ resources: number; refused: number; resourcesPerSecond: number; peakRssMb: number; seconds: number; workers: number; cpuMicrosPerResource: number; systemShare: number; coresBusy: number }> {
  {
    const inputsDir = path.join(dataDir, 'import');
    const counts = Object.fromEntries(fs.readdirSync(path.join(inputsDir, 'inputs')).filter((f) => f.endsWith('.ndjson')).sort().map((f) => [f.slice(0, -'.ndjson'.length), 0]));
    const inputs = new FsObjectStore('tributary-import', inputsDir);
    const jobs = new FileImportJobStore(path.join(dataDir, 'imports'));
    const parameter = Object.keys(counts).map((t) => ({ name: 'input', part: [{ name: 'type', valueCode: t }, { name: 'url', valueUri: `${t}.ndjson` }] }));
    const job = await startImport({ inputs, jobs, launcher: { launch: async () => undefined }, clock: systemClock, newId: () => `bench-${process.pid}-${copies}`, prefix: 'inputs/' }, { source: 'bench', clientId: 'bench', scope: '' }, { resourceType: 'Parameters', parameter });
    // keys created once, before the workers share them
    await LocalKeyService.open(dataDir);
    await createLocalIdentityVault({ store: new FsObjectStore('tributary-identity', path.join(dataDir, 'identity')), dataDir });
    process.env.BENCH_IMPORT_DATA_DIR = dataDir;
    const workers = Math.max(1, os.availableParallelism());
    const settings = loadConfig({ TRIBUTARY_RUNTIME: 'local', ...process.env }).bulkImport;
    // the product's worker heap bounds and chunk bounds (IMPORT_WORKER_HEAP_MB, IMPORT_CHUNK_LINES, IMPORT_CHUNK_BYTES)
    const pool = new WorkerPool<ChunkTask, ImportChunkRecord>(__filename, workers, { maxOldGenerationSizeMb: settings.workerHeapMb });
    // each worker builds its write path before the clock starts
    await Promise.all(Array.from({ length: workers }, () => pool.run({ warm: true } as unknown as ChunkTask)));
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const done = await runImportJob({ inputs, jobs, audit: createLocalAuditLog(dataDir), clock: systemClock, process: (t) => pool.run(t), concurrency: workers + 1, chunkLines: settings.chunkLines, chunkBytes: settings.chunkBytes, runnerId: 'bench' }, job.id);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (done.progress.refused > 0) {
      const first = Buffer.from((await inputs.get(errorOutputKey(job.id))) ?? new Uint8Array()).toString('utf8').split('\n', 1)[0];
      process.stderr.write(`bench import: ${done.progress.refused} refused, the first: ${first.slice(0, 600)}\n`);
    }
    await pool.close();
    return { resources: done.progress.resources, refused: done.progress.refused, resourcesPerSecond: Math.round(done.progress.resources / seconds), peakRssMb: peakRssMb(), seconds: Math.round(seconds * 10) / 10, workers, cpuMicrosPerResource: Math.round((cpu.user + cpu.system) / done.progress.resources), systemShare: Math.round((cpu.system / (cpu.user + cpu.system)) * 100) / 100, coresBusy: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100) / 100 };
  }
}

/** Writes the Synthea set as NDJSON at `copies`× into a fresh data dir (in the calling process), then imports it in a child process. */
function importInChild(copies: number): Awaited<ReturnType<typeof runOnce>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-import-'));
  try {
    writeSyntheaNdjson(SYNTHEA!, path.join(dataDir, 'import', 'inputs'), copies);
    const out = execFileSync(process.execPath, [...RUNNER_NODE_FLAGS, __filename, dataDir, String(copies)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    return JSON.parse(out.trim().split('\n').pop()!) as Awaited<ReturnType<typeof runOnce>>;
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * `npm run bench` entry: the import of the Synthea set as NDJSON at 1× (rate, peak RSS) and 10× (peak RSS), each in
 * its own process (of the built dist/bench/import.js).
 * @returns undefined when ../shared is absent
 */
export async function benchImport(scales: number[] = [1, 10]): Promise<Record<string, unknown> | undefined> {
  if (!SYNTHEA) return undefined;
  const runs = scales.map(importInChild);
  const [one, ...more] = runs;
  return {
    resources: one.resources,
    resourcesPerSecond: one.resourcesPerSecond,
    peakRssMb: one.peakRssMb,
    refused: one.refused,
    seconds: one.seconds,
    workers: one.workers,
    // CPU (all threads) per resource over the timed import, its system-time share, and cores busy on average
    cpuMicrosPerResource: one.cpuMicrosPerResource,
    systemShare: one.systemShare,
    coresBusy: one.coresBusy,
    // x10.peakRssRatio: that scale's peak RSS over 1x's (target: at most 1.2)
    ...Object.fromEntries(more.map((r, i) => [`x${scales[i + 1]}`, { resources: r.resources, refused: r.refused, resourcesPerSecond: r.resourcesPerSecond, cpuMicrosPerResource: r.cpuMicrosPerResource, peakRssMb: r.peakRssMb, peakRssRatio: Math.round((r.peakRssMb / one.peakRssMb) * 100) / 100 }])),
  };
}

if (!isMainThread && parentPort) {
  // a worker: one write path per thread, over the data dir of its job
  const port = parentPort;
  let deps: ChunkDeps | undefined;
  port.on('message', (m: { id: number; task: ChunkTask & { warm?: boolean } }) => {
    deps ??= benchDeps(process.env.BENCH_IMPORT_DATA_DIR!);
    const work = m.task.warm ? Promise.resolve(undefined) : importChunk(deps, m.task);
    work.then(
      (result) => port.postMessage({ id: m.id, result }),
      (err: unknown) => port.postMessage({ id: m.id, error: { name: (err as Error)?.name, message: String((err as Error)?.message) } }),
    );
  });
} else if (require.main === module) {
  // `import.js <dataDir> <copies>`: the import of inputs already written; `import.js [copies]`: write them, then that
  const [dirArg, copiesArg] = process.argv.slice(2);
  if (!SYNTHEA) {
    process.stdout.write('{}\n');
  } else if (dirArg && copiesArg) {
    runOnce(dirArg, Number(copiesArg)).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (err: unknown) => {
        process.stderr.write(`bench import: ${String((err as Error)?.stack ?? err)}\n`);
        process.exit(1);
      },
    );
  } else {
    Promise.resolve(Number(dirArg ?? 1)).then((copies) => importInChild(copies)).then(
      (r) => process.stdout.write(`${JSON.stringify(r)}\n`),
      (err: unknown) => {
        process.stderr.write(`bench import: ${String((err as Error)?.stack ?? err)}\n`);
        process.exit(1);
      },
    );
  }
}
