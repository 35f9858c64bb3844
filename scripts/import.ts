/**
 * `npm run import -- <files|folders> [--source S] [--json]`: bulk import into the running local stack (works from a
 * second terminal while `npm start` runs; finds it through `DATA_DIR/stack.json`).
 * 1. collects `*.ndjson` (one resource type per file, named `{Type}…ndjson`, or any name: the type is read from the
 *    first line) and `*.json` Bundle files (batch or transaction), and counts their resources;
 * 2. puts them in the import bucket under `inputs/{batch}/`;
 * 3. starts `POST /fhir/$import` with a local token (scopes `system/*.write system/$import`, source `--source`);
 * 4. follows the job: a progress bar on a terminal (resources done/total, resources/s, ETA, errors), one JSON line
 *    per poll otherwise (`--json` forces them);
 * 5. prints a summary and the first refused lines; exits 1 when anything was refused (the error output is saved
 *    next to the data dir, `DATA_DIR/imports/{job}/errors.ndjson`), 0 otherwise.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../src/adapters/aws/s3-object-store';
import { mintToken } from '../src/adapters/local/issuer';
import { dataDirOf, runningStack } from './stack-file';
import { runCli, type Cli } from './cli';

const USAGE = `usage: npm run import -- <files|folders>... [--source <name>] [--json]
  NDJSON files (*.ndjson, one resource type each) and Bundle files (*.json, batch or transaction) are imported
  through the same write path as the REST API. Exit 1 when any line was refused.`;

/** One input file. */
interface Input {
  file: string;
  name: string;
  kind: 'ndjson' | 'bundle';
  type?: string;
  resources: number;
}

/** The files named on the command line (folders: their *.ndjson and *.json, sorted). */
export function collectFiles(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    const st = fs.statSync(a);
    if (st.isDirectory()) {
      for (const f of fs.readdirSync(a).sort()) if (/\.(ndjson|json)$/i.test(f)) out.push(path.join(a, f));
    } else out.push(a);
  }
  return out;
}

/** Counts an input's resources (NDJSON: non-empty lines; Bundle: entries) and finds an NDJSON file's type. */
async function describe(file: string, index: number): Promise<Input> {
  const name = `${String(index).padStart(4, '0')}-${path.basename(file)}`;
  if (/\.json$/i.test(file)) {
    let resources = 0;
    try {
      resources = (JSON.parse(fs.readFileSync(file, 'utf8')) as { entry?: unknown[] }).entry?.length ?? 0;
    } catch {
      resources = 1;
    }
    return { file, name, kind: 'bundle', resources };
  }
  let resources = 0;
  let type: string | undefined = /^([A-Z][A-Za-z]+)[.-]/.exec(path.basename(file))?.[1];
  const rl = (await import('node:readline')).createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    resources++;
    if (!type) type = /"resourceType"\s*:\s*"([A-Za-z]+)"/.exec(line)?.[1];
  }
  return { file, name, kind: 'ndjson', type, resources };
}

/** `12.3k` style numbers for the bar. */
const short = (n: number): string => (n >= 10_000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n)));

/** `1m05s` */
const duration = (s: number): string => (!Number.isFinite(s) || s < 0 ? '--' : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`);

/** One line of the progress bar (fits 80 columns). */
export function progressBar(p: { done: number; total: number; refused: number; elapsedSec: number; width?: number }): string {
  const width = p.width ?? 24;
  const frac = p.total > 0 ? Math.min(1, (p.done + p.refused) / p.total) : 0;
  const filled = Math.round(frac * width);
  const rate = p.elapsedSec > 0 ? p.done / p.elapsedSec : 0;
  const eta = rate > 0 ? (p.total - p.done - p.refused) / rate : Infinity;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${short(p.done)}/${short(p.total)} ${Math.floor(frac * 100)}% ${short(rate)}/s ETA ${duration(eta)} errors ${p.refused}`;
}

/** `X-Progress: 42% (12345 resources, 3 refused, running)` → numbers. */
function parseProgress(h: string | null): { resources: number; refused: number } {
  const m = /\((\d+) resources, (\d+) refused/.exec(h ?? '');
  return { resources: Number(m?.[1] ?? 0), refused: Number(m?.[2] ?? 0) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { source: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals.length === 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const source = values.source ?? 'local-dev';
  const tty = Boolean(process.stdout.isTTY) && !values.json;
  const stack = await runningStack(dataDirOf(env));
  const files = collectFiles(positionals);
  const inputs: Input[] = [];
  for (const [i, f] of files.entries()) inputs.push(await describe(f, i));
  const total = inputs.reduce((a, x) => a + x.resources, 0);
  const batch = randomUUID();
  const bucket = 'tributary-import';
  const s3 = createS3Client({ region: 'eu-west-2', endpoint: stack.s3Endpoint });
  for (const x of inputs) {
    const key = `inputs/${batch}/${x.name}`;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(x.file), ContentLength: fs.statSync(x.file).size }));
  }
  if (!tty) process.stdout.write(`${JSON.stringify({ event: 'uploaded', files: inputs.length, resources: total })}\n`);
  const token = await mintToken({ dataDir: stack.dataDir, source, scope: 'system/*.write system/$import' });
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/fhir+json' };
  const parameter = [
    { name: 'inputFormat', valueString: 'application/fhir+ndjson' },
    ...inputs.map((x) => ({
      name: 'input',
      part: [...(x.kind === 'bundle' ? [{ name: 'type', valueCode: 'Bundle' }] : x.type ? [{ name: 'type', valueCode: x.type }] : []), { name: 'url', valueUri: `s3://${bucket}/inputs/${batch}/${x.name}` }],
    })),
  ];
  const kick = await fetch(`${stack.apiBaseUrl}/$import`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Parameters', parameter }) });
  const location = kick.headers.get('content-location');
  if (kick.status !== 202 || !location) {
    process.stderr.write(`import: $import answered ${kick.status}: ${(await kick.text()).slice(0, 500)}\n`);
    return 1;
  }
  const t0 = Date.now();
  let manifest: { resources: number; refused: number; output: { type: string; count: number }[]; error: { url: string }[]; jobId: string } | undefined;
  for (;;) {
    const r = await fetch(location, { headers: { Authorization: headers.Authorization } });
    const elapsedSec = (Date.now() - t0) / 1000;
    if (r.status === 200) {
      manifest = (await r.json()) as typeof manifest;
      break;
    }
    if (r.status !== 202) {
      if (tty) process.stdout.write('\n');
      process.stderr.write(`import: job ${location} answered ${r.status}: ${(await r.text()).slice(0, 500)}\n`);
      return 1;
    }
    await r.arrayBuffer();
    const p = parseProgress(r.headers.get('x-progress'));
    if (tty) process.stdout.write(`\r${progressBar({ done: p.resources, total, refused: p.refused, elapsedSec })}\x1b[K`);
    else process.stdout.write(`${JSON.stringify({ event: 'progress', done: p.resources, total, refused: p.refused, resourcesPerSecond: Math.round(p.resources / Math.max(elapsedSec, 0.001)), elapsedSec: Math.round(elapsedSec * 10) / 10 })}\n`);
    await sleep(tty ? 250 : 1000);
  }
  const seconds = (Date.now() - t0) / 1000;
  const m = manifest!;
  if (tty) process.stdout.write(`\r${progressBar({ done: m.resources, total, refused: m.refused, elapsedSec: seconds })}\x1b[K\n`);
  const summary = { event: 'done', jobId: m.jobId, resources: m.resources, refused: m.refused, seconds: Math.round(seconds * 10) / 10, resourcesPerSecond: Math.round(m.resources / Math.max(seconds, 0.001)), byType: Object.fromEntries(m.output.map((o) => [o.type, o.count])) };
  if (!tty) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else process.stdout.write(`imported ${m.resources} resources in ${duration(seconds)} (${summary.resourcesPerSecond}/s), ${m.refused} refused; job ${m.jobId}\n`);
  if (m.refused > 0) {
    const url = /^s3:\/\/([^/]+)\/(.+)$/.exec(m.error[0]?.url ?? '');
    if (url) {
      const body = await (await s3.send(new GetObjectCommand({ Bucket: url[1], Key: url[2] }))).Body!.transformToString();
      const saved = path.join(stack.dataDir, 'imports', m.jobId, 'errors.ndjson');
      fs.mkdirSync(path.dirname(saved), { recursive: true });
      fs.writeFileSync(saved, body);
      for (const line of body.split('\n').filter(Boolean).slice(0, 10)) {
        const o = JSON.parse(line) as { issue: { diagnostics?: string }[] };
        let text = o.issue.find((i) => i.diagnostics)?.diagnostics ?? '';
        for (const x of inputs) text = text.replace(`s3://${bucket}/inputs/${batch}/${x.name}`, x.file);
        process.stderr.write(`  ${text}\n`);
      }
      process.stderr.write(`import: ${m.refused} refused; every refusal is in ${saved}\n`);
    }
    return 1;
  }
  return 0;
}

/** The CLI. */
export const importCli: Cli = { name: 'import', usage: USAGE, needsStack: true, run };

if (require.main === module) runCli(importCli);
