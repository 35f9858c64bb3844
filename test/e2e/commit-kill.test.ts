/**
 * e2e kill test of the commit protocol (docs/commit-protocol.md, issue 14): a stream of transactions (each with its
 * own Idempotency-Key) against a stack of its own, the API process (or the S3 server) SIGKILLed in the middle of it; the stack is
 * restarted on the same data, recovery runs (lease 0: every request of the dead process is decided), then every
 * transaction is sent again with its key. Invariants over everything sent: every transaction is stored exactly once
 * (one Patient line per transaction in raw/), every manifest's objects exist, no outbox is left, every identity
 * record is current, every committed request has exactly one audit record (the keyed append, docs/audit.md).
 * The same with the S3 server killed instead. Its own ports: E2E_PORT + 20 … + 75.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const BASE = Number(process.env.E2E_PORT || 3400) + 20;
const N = 24;

type Stack = { baseUrl: string; info: { processes: { api: number; s3: number } }; stop(): Promise<void> };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startStack } = require(path.join(ROOT, 'dist/scripts/start.js')) as { startStack: (o: object) => Promise<Stack> };

function files(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(suffix)).map((f) => path.join(dir, f));
}

const tx = (i: number) => ({
  resourceType: 'Bundle',
  type: 'transaction',
  entry: [
    {
      fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      resource: { resourceType: 'Patient', name: [{ family: `Kill${i}` }], identifier: [{ system: 'https://kill.example/mrn', value: `K-${i}` }] },
      request: { method: 'POST', url: 'Patient' },
    },
    {
      resource: { resourceType: 'Observation', status: 'final', code: { text: 'HR' }, subject: { reference: `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}` } },
      request: { method: 'POST', url: 'Observation' },
    },
  ],
});

async function post(baseUrl: string, i: number): Promise<number> {
  try {
    const r = await fetch(baseUrl, { method: 'POST', headers: { 'content-type': 'application/fhir+json', 'idempotency-key': `kill-${i}` }, body: JSON.stringify(tx(i)) });
    await r.text();
    return r.status;
  } catch {
    return 0; // connection refused or reset: the process is gone
  }
}

jest.setTimeout(400_000);

test.each(['api', 's3'] as const)('SIGKILL of the %s process during a stream of transactions, restart, recovery, re-send: each stored once, nothing left over', async (victim) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-kill-'));
  const base = victim === 'api' ? BASE : BASE + 30;
  const opts = { port: base, s3Port: base + 10, snsPort: base + 20, issuerPort: base + 25, dataDir, quiet: true, env: { AUTH: 'off', SOURCE_SYSTEM: 'kill-src' } };
  let stack = await startStack({ ...opts, recoveryIntervalSec: -1 });
  try {
    const first: number[] = [];
    let next = 0;
    const worker = async () => {
      while (next < N) {
        const i = next++;
        if (i === Math.floor(N / 2)) process.kill(stack.info.processes[victim], 'SIGKILL');
        first[i] = await post(stack.baseUrl, i);
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    await stack.stop();
    // restart on the same data; the pass at start decides every request of the killed process
    stack = await startStack({ ...opts, recoveryIntervalSec: 0, recoveryLeaseSec: 0 });
    const outbox = path.join(dataDir, 's3', 'tributary-lake', 'outbox');
    for (let t = 0; t < 100 && files(outbox, '._S3rver_object').length > 0; t++) await new Promise((r) => setTimeout(r, 200));
    expect(files(outbox, '._S3rver_object')).toEqual([]);
    const second: number[] = [];
    for (let i = 0; i < N; i++) second[i] = await post(stack.baseUrl, i);
    console.log(`kill test (${victim}): first pass statuses ${JSON.stringify(first)}; after restart ${JSON.stringify(second)}`);
    expect(second).toEqual(Array(N).fill(200));
    expect(first.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(first.filter((s) => s !== 200).length).toBeGreaterThan(0);

    const lake = path.join(dataDir, 's3', 'tributary-lake');
    const patientLines = files(path.join(lake, 'raw', 'Patient'), '._S3rver_object').flatMap((f) => fs.readFileSync(f, 'utf8').split('\n').filter(Boolean));
    expect(patientLines).toHaveLength(N); // every transaction exactly once
    const manifests = files(path.join(lake, 'commits'), '._S3rver_object').map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    expect(manifests).toHaveLength(N);
    for (const m of manifests) for (const o of m.objects) expect(fs.existsSync(path.join(lake, `${o.key}._S3rver_object`))).toBe(true);
    expect(files(outbox, '._S3rver_object')).toEqual([]);
    const identity = path.join(dataDir, 's3', 'tributary-identity');
    const enc = files(identity, '.enc._S3rver_object');
    expect(enc.length).toBe(N);
    for (const f of enc) expect(fs.existsSync(f.replace('.enc._S3rver_object', '.committed._S3rver_object'))).toBe(true);
    const audits = files(path.join(dataDir, 'audit', 'chains'), '.json').map((f) => fs.readFileSync(f, 'utf8'));
    const perRequest = manifests.map((m) => audits.filter((a) => a.includes(`"${m.requestId}"`)).length);
    console.log(`kill test: audit records per committed request ${JSON.stringify(perRequest)}`);
    expect(perRequest).toEqual(Array(N).fill(1));
  } finally {
    await stack.stop();
  }
});
