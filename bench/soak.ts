/**
 * `npm run soak [-- --minutes 10 --clients 4 --port 3800 --in-process]`: a memory soak of the local stack.
 * Starts the stack (default settings, worker-thread handlers unless --in-process) on spare loopback ports with a
 * fresh data dir, then `clients` clients post the Synthea transaction Bundles of
 * ../shared/fhir/synthea/smart-on-fhir-r4/ (over and over) for `minutes` minutes, while the resident set size of
 * the API process tree (serverless-offline, its handler threads and any child) is sampled every 10 s.
 * Prints one JSON line on stdout: RSS at 1 minute and at the end (sampled at the deadline, under load), their
 * ratio, the peak, RSS once the clients have stopped, and the request counts
 * (progress goes to stderr). A figure, never pass/fail: docs/operations.md records it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startStack, type ChildExit } from '../scripts/start';
import { PROJECT_ROOT } from '../scripts/stack-file';
import { mintToken } from '../src/adapters/local/issuer';

const SYNTHEA = path.resolve(PROJECT_ROOT, '../shared/fhir/synthea/smart-on-fhir-r4');
const SAMPLE_MS = 10_000;

const USAGE = `usage: npm run soak -- [--minutes 10] [--clients 4] [--port BASE] [--in-process] [--dir SYNTHEA_DIR] [--keep]
  --minutes N   how long the clients post (1-60, default 10)
  --clients N   parallel clients (1-16, default 4)
  --port BASE   the API on BASE (BASE+1, +2 too), S3 on BASE+10, SNS on BASE+11, issuer on BASE+12
                (default: spare ports chosen by the system)
  --in-process  handlers in the serverless-offline process (IN_PROCESS=1) instead of worker threads
  --dir DIR     the transaction Bundles to post (default ../shared/fhir/synthea/smart-on-fhir-r4)
  --keep        keep the data dir (else deleted)
Prints one JSON line: rssMB.at1min, rssMB.atEnd, ratio (target: at most 1.5), peak, requests by status.
`;

/** Resident set size of `pid` and all its descendants, MB (ps: Linux and macOS). */
export function treeRssMb(pid: number): number {
  const rows = execFileSync('ps', ['-A', '-o', 'pid=,ppid=,rss='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number) as [number, number, number]);
  const children = new Map<number, number[]>();
  for (const [p, pp] of rows) children.set(pp, [...(children.get(pp) ?? []), p]);
  const rss = new Map(rows.map(([p, , r]) => [p, r]));
  let kb = 0;
  const stack = [pid];
  for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
    kb += rss.get(p) ?? 0;
    stack.push(...(children.get(p) ?? []));
  }
  return Math.round(kb / 1024);
}

/** A spare loopback port base with BASE..BASE+2 and BASE+10..BASE+12 free. */
async function spareBase(): Promise<number> {
  const free = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 20000);
    const all = await Promise.all([0, 1, 2, 10, 11, 12].map((d) => free(base + d)));
    if (all.every(Boolean)) return base;
  }
  throw new Error('no spare ports found');
}

function intOption(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} takes a whole number from ${min} to ${max}`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      minutes: { type: 'string' },
      clients: { type: 'string' },
      port: { type: 'string' },
      'in-process': { type: 'boolean' },
      dir: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const minutes = intOption(values.minutes, 'minutes', 10, 1, 60);
  const clients = intOption(values.clients, 'clients', 4, 1, 16);
  const dir = values.dir ? path.resolve(values.dir) : SYNTHEA;
  if (!fs.existsSync(dir)) {
    process.stderr.write(`soak: ${dir} is absent (the Synthea transaction Bundles): nothing to post\n`);
    return 2;
  }
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(dir, f));
  const base = values.port ? intOption(values.port, 'port', 0, 1024, 65500) : await spareBase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-soak-'));
  const inProcess = values['in-process'] === true;
  process.stderr.write(`soak: ${clients} clients, ${minutes} min, ${inProcess ? 'in-process' : 'worker-thread'} handlers, API on 127.0.0.1:${base}, data in ${dataDir}\n`);
  const stack = await startStack({
    port: base,
    s3Port: base + 10,
    snsPort: base + 11,
    issuerPort: base + 12,
    dataDir,
    quiet: true,
    inProcess,
    env: { POWERTOOLS_LOG_LEVEL: 'WARN' },
  });
  const apiPid = stack.info.processes.api;
  // a part of the stack that ends during the soak ends the soak (reported, exit 1)
  let died: (ChildExit & { s: number }) | undefined;
  const samples: { s: number; rssMb: number }[] = [];
  const status: Record<string, number> = {};
  let requests = 0;
  let resources = 0;
  let idle = 0;
  const errors: string[] = [];
  try {
    const token = await mintToken({ dataDir, issuer: stack.issuer, source: 'soak', scope: 'system/*.write' });
    const headers = { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${token}`, Prefer: 'return=minimal' };
    const url = `http://127.0.0.1:${base}/fhir`;
    const t0 = Date.now();
    const deadline = t0 + minutes * 60_000;
    void stack.exited.then((e) => {
      died = { ...e, s: Math.round((Date.now() - t0) / 1000) };
    });
    const sample = (): void => {
      const s = Math.round((Date.now() - t0) / 1000);
      const rssMb = treeRssMb(apiPid);
      samples.push({ s, rssMb });
      process.stderr.write(`  ${String(s).padStart(4)} s  RSS ${rssMb} MB  requests ${requests}  ${JSON.stringify(status)}\n`);
    };
    sample();
    const timer = setInterval(sample, SAMPLE_MS);
    // the end figure is taken at the deadline, under load (the clients then finish their last request)
    const atDeadline = new Promise<void>((resolve) =>
      setTimeout(() => {
        clearInterval(timer);
        sample();
        resolve();
      }, deadline - Date.now()),
    );
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (Date.now() < deadline && !died) {
          const file = files[next++ % files.length]!;
          const body = await fs.promises.readFile(file, 'utf8');
          try {
            const r = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(120_000) });
            const text = await r.text();
            status[r.status] = (status[r.status] ?? 0) + 1;
            if (r.status >= 500 && errors.length < 5) errors.push(`${r.status} ${text.slice(0, 300)}`);
            if (r.status === 200) resources += (body.match(/"request"\s*:/g) ?? []).length;
          } catch (err) {
            const k = (err as Error).name;
            status[k] = (status[k] ?? 0) + 1;
            await new Promise((r) => setTimeout(r, 1000));
          }
          requests++;
        }
      }),
    );
    if (!died) {
      await atDeadline;
      idle = treeRssMb(apiPid);
    }
  } finally {
    await stack.stop();
    if (!values.keep) fs.rmSync(dataDir, { recursive: true, force: true });
  }
  const at1 = samples.reduce((best, x) => (Math.abs(x.s - 60) < Math.abs(best.s - 60) ? x : best), samples[0]!);
  const end = samples[samples.length - 1]!;
  const result = {
    soak: {
      ...(died ? { aborted: `the ${died.name} ended at ${died.s} s (${died.signal ?? `exit code ${died.code}`})` } : {}),
      minutes,
      clients,
      handlers: inProcess ? 'in-process' : 'worker-threads',
      node: process.version,
      cpus: os.cpus().length,
      requests,
      resources,
      status,
      ...(errors.length ? { errors } : {}),
      rssMB: { start: samples[0]!.rssMb, at1min: at1.rssMb, atEnd: end.rssMb, peak: Math.max(...samples.map((x) => x.rssMb)), afterLoad: idle },
      ratio: Math.round((end.rssMb / at1.rssMb) * 100) / 100,
      samples: samples.map((x) => [x.s, x.rssMb]),
    },
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  if (died) {
    process.stderr.write(`soak: aborted: the ${died.name} ended at ${died.s} s; last lines of ${died.logFile}:\n${died.tail}\n`);
    return 1;
  }
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`soak: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
