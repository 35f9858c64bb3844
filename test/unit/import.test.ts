/**
 * Bulk import (`$import`, issue #15) in process, over the API harness (real strict validation and pseudonymisation,
 * in-memory lake, version index and events): chunks go through the Ingestor as batch requests with deterministic
 * request ids; refused lines are reported with file and line; a job interrupted mid-way and run again commits
 * every resource exactly once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { OperationOutcome } from 'fhir/r4';
import { chunkBytesOf, MIN_WAVE_CHUNK_BYTES, WAVE_PARTS } from '../../src/core/import/run';
import { chunkTask, finishJob, importChunk, ImportCutError, lineIds, lineOfError, planChunks, renewHeartbeat, resumeIfStale, runImportJob, startImport, errorOutputKey, workerHeapMb, type ChunkTask } from '../../src/core/import';
import { chunkDeps } from '../../src/bootstrap/import';
import type { ImportChunkRecord, IngestEvent } from '../../src/core/ports';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { FileImportJobStore } from '../../src/adapters/local/import-job-store';
import { closeHarness, getHarness } from './api-harness';
import { ClientError } from '../../src/fhir/errors';
import { conflict } from '../../src/fhir/outcomes';

const h = getHarness();
/** Version records by the client's `Type/id` (the index keys them by keyed hash). */
async function versionsOf(keys: string[]): Promise<Map<string, { versionId: string }>> {
  await h.indexKeys.init();
  const hashed = keys.map((k) => h.indexKeys.resource(k.slice(0, k.indexOf('/')), k.slice(k.indexOf('/') + 1)));
  const got = await h.versions.get(hashed);
  return new Map(keys.flatMap((k, i) => (got.has(hashed[i]!) ? [[k, got.get(hashed[i]!)!] as const] : [])));
}
const deps = chunkDeps(h.app);
let dir: string;
let inputs: MemoryObjectStore;
let jobs: FileImportJobStore;
const clock = { now: () => new Date() };
const caller = { source: 'harness', clientId: 'test', scope: '' };

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-test-'));
  inputs = new MemoryObjectStore('tributary-import');
  jobs = new FileImportJobStore(dir);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
afterAll(() => closeHarness());

const patient = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ resourceType: 'Patient', id, gender: 'female', birthDate: '1970-01-01', ...extra });
const obs = (id: string, subject: string) =>
  JSON.stringify({ resourceType: 'Observation', id, status: 'final', code: { text: 'pulse' }, subject: { reference: `Patient/${subject}` }, valueQuantity: { value: 72.50, unit: '/min' } });

async function start(files: Record<string, string>, parts?: { url: string; type?: string }[]) {
  for (const [name, body] of Object.entries(files)) await inputs.put(`inputs/${name}`, body);
  const parameter = [
    { name: 'inputFormat', valueString: 'application/fhir+ndjson' },
    ...(parts ?? Object.keys(files).map((url) => ({ url, type: url.endsWith('.json') ? undefined : url.split('.')[0] }))).map((p) => ({
      name: 'input',
      part: [...(p.type ? [{ name: 'type', valueCode: p.type }] : []), { name: 'url', valueUri: p.url }],
    })),
  ];
  const launched: string[] = [];
  const job = await startImport({ inputs, jobs, launcher: { launch: async (id) => void launched.push(id) }, clock, newId: () => `job-${Math.random().toString(36).slice(2, 10)}`, prefix: 'inputs/' }, caller, { resourceType: 'Parameters', parameter });
  expect(launched).toEqual([job.id]);
  return job;
}

const runDeps = (process: (t: ChunkTask) => Promise<ImportChunkRecord>, chunkLines = 2) => ({ inputs, jobs, audit: h.app.audit, clock, process, concurrency: 2, chunkLines, runnerId: 'test' });

test('each bad line is reported with file and line; everything else is imported through the write path', async () => {
  const lines = [patient('imp-p1'), '{"resourceType":"Patient",', obs('imp-o1', 'imp-p1'), patient('imp-p2', { gender: 'banana' }), '', patient('imp-p3'), JSON.stringify({ resourceType: 'Patient', gender: 'male' })];
  const job = await start({ 'Patient.ndjson': lines.join('\n') + '\n' });
  const auditBefore = h.audit.length;
  const done = await runImportJob(runDeps((t) => importChunk(deps, t)), job.id);
  expect(done.status).toBe('completed');
  expect(done.progress).toMatchObject({ resources: 3, refused: 4 });
  const errors = Buffer.from((await inputs.get(errorOutputKey(job.id)))!).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as OperationOutcome);
  expect(errors.map(lineOfError)).toEqual([2, 3, 4, 5]);
  expect(errors.every((e) => e.issue[0].diagnostics!.startsWith(`Patient.ndjson line ${lineOfError(e)}:`))).toBe(true);
  expect(errors[0].issue[0].diagnostics).toMatch(/Malformed JSON/);
  expect(errors[1].issue[0].diagnostics).toMatch(/Wrong resource type: Observation/);
  expect(errors[2].issue[0].expression).toEqual(['Patient.gender']);
  expect(JSON.stringify(errors[2])).not.toContain('banana'); // no payload values
  expect(errors[3].issue[0].diagnostics).toMatch(/Empty line/);
  // update-or-create by the source's id; the line without an id is a create
  const v = await versionsOf(['Patient/imp-p1', 'Patient/imp-p3', 'Patient/imp-p2']);
  expect([...v.keys()].sort()).toEqual(['Patient/imp-p1', 'Patient/imp-p3']);
  // deterministic request ids: one commit per chunk, events per lake object
  const commits = [...h.lake.objects.keys()].filter((k) => k.startsWith('commits/') && k.includes(`imp-${job.id}-`));
  expect(commits.sort()).toEqual([0, 2, 3].map((c) => expect.stringContaining(`imp-${job.id}-0-${c}.json`))); // 7 lines in chunks of 2 → 4 chunks, one (lines 3-4) with nothing accepted
  const events = h.events.events.filter((e) => e.requestId.startsWith(`imp-${job.id}-`)) as IngestEvent[];
  expect(events.reduce((a, e) => a + e.count, 0)).toBe(3);
  // one audit record per chunk written and one for the job
  const records = h.audit.slice(auditBefore).map((a) => JSON.stringify(a));
  expect(records.filter((r) => r.includes(`imp-${job.id}"`)).length).toBe(1);
  expect(records.filter((r) => r.includes(`imp-${job.id}-`)).length).toBe(4); // every chunk, also the one that stored nothing
});

test('a job killed mid-way and run again stores every resource exactly once', async () => {
  const ps = Array.from({ length: 9 }, (_, i) => patient(`kill-p${i}`));
  const os_ = Array.from({ length: 9 }, (_, i) => obs(`kill-o${i}`, `kill-p${i}`));
  const job = await start({ 'Patient.ndjson': ps.join('\n'), 'Observation.ndjson': os_.join('\n') });
  // the first run dies after committing its 4th chunk, before recording it (the worst window)
  let n = 0;
  await expect(
    runImportJob(
      runDeps(async (t) => {
        const rec = await importChunk(deps, t);
        if (++n === 4) throw new Error('killed');
        return rec;
      }),
      job.id,
    ),
  ).rejects.toThrow('killed');
  expect((await jobs.get(job.id))!.status).toBe('failed');
  const done = await runImportJob(runDeps((t) => importChunk(deps, t)), job.id);
  expect(done.status).toBe('completed');
  expect(done.progress).toMatchObject({ resources: 18, refused: 0 });
  const v = await versionsOf([...ps.map((_, i) => `Patient/kill-p${i}`), ...os_.map((_, i) => `Observation/kill-o${i}`)]);
  expect(v.size).toBe(18);
  expect([...v.values()].every((r) => r.versionId === '1')).toBe(true); // none written twice
  const lines = [...h.lake.objects.entries()].filter(([k]) => k.startsWith('raw/') && k.includes(`imp-${job.id}-`)).reduce((a, [, o]) => a + Buffer.from(o.body).toString('utf8').trim().split('\n').length, 0);
  expect(lines).toBe(18);
  // a third run of a completed job does nothing
  const again = await runImportJob(runDeps(() => Promise.reject(new Error('must not run'))), job.id);
  expect(again.progress.resources).toBe(18);
});

/** Runs the job with `chunkLines`, killed after committing its `killAt`-th chunk and before recording it. */
async function killedRun(jobId: string, chunkLines: number, killAt: number): Promise<void> {
  let n = 0;
  const kill = async (t: ChunkTask) => {
    const rec = await importChunk(deps, t);
    if (++n === killAt) throw new Error('killed');
    return rec;
  };
  await expect(runImportJob({ ...runDeps(kill, chunkLines), concurrency: 1 }, jobId)).rejects.toThrow('killed');
}

test('a job resumed under other IMPORT_CHUNK_* settings keeps the cut of its first run: every resource once', async () => {
  const ps = Array.from({ length: 9 }, (_, i) => patient(`cut-p${i}`));
  const job = await start({ 'Patient.ndjson': ps.join('\n') });
  await killedRun(job.id, 2, 4);
  expect((await jobs.get(job.id))!.chunking).toEqual({ lines: 2, bytes: 1024 * 1024, waveParts: WAVE_PARTS, exact: true });
  // resumed with 3 lines a chunk: chunks are recorded by number, so cutting anew would skip or repeat lines
  const seen: number[] = [];
  const done = await runImportJob(runDeps((t) => (seen.push(t.lines.length), importChunk(deps, t)), 3), job.id);
  expect(done.progress).toMatchObject({ resources: 9, refused: 0 });
  expect(seen.every((n) => n <= 2)).toBe(true);
  const v = await versionsOf(ps.map((_, i) => `Patient/cut-p${i}`));
  expect(v.size).toBe(9);
  expect([...v.values()].every((r) => r.versionId === '1')).toBe(true); // none written twice
  // the AWS plan of the same job cuts as its first run did too
  expect((await planChunks(inputs, jobs, (await jobs.get(job.id))!, 3)).flat()).toEqual([]);
});

test('a job whose cut was not recorded (started by an earlier version) fails rather than skip or repeat lines when resumed with another cut', async () => {
  const ps = Array.from({ length: 9 }, (_, i) => patient(`old-p${i}`));
  const job = await start({ 'Patient.ndjson': ps.join('\n') });
  await killedRun(job.id, 2, 3);
  const stored = (await jobs.get(job.id))!;
  delete stored.chunking;
  await jobs.update(stored);
  await expect(planChunks(inputs, jobs, { ...stored }, 3)).rejects.toThrow(ImportCutError);
  const processed: number[] = [];
  await expect(runImportJob(runDeps((t) => (processed.push(t.chunk), importChunk(deps, t)), 3), job.id)).rejects.toThrow(/recorded ending at byte \d+, this run cuts it at \d+/);
  expect(processed).toEqual([]);
  expect((await jobs.get(job.id))!).toMatchObject({ status: 'failed', error: 'ImportCutError' });
  expect((await jobs.get(job.id))!.chunking).toBeUndefined(); // not given a cut its chunks do not fit
  // with the cut it had, it resumes and ends with every resource once
  const done = await runImportJob(runDeps((t) => importChunk(deps, t), 2), job.id);
  expect(done.progress).toMatchObject({ resources: 9, refused: 0 });
});

test('a resource that comes again in a chunk is an update, in line order (as a bulk export of shared resources gives)', async () => {
  const job = await start({ 'Patient.ndjson': [patient('dup-p1'), patient('dup-p2'), patient('dup-p1', { gender: 'male' })].join('\n') });
  const done = await runImportJob(runDeps((t) => importChunk(deps, t), 10), job.id);
  expect(done.progress).toMatchObject({ resources: 3, refused: 0 });
  expect((await versionsOf(['Patient/dup-p1'])).get('Patient/dup-p1')?.versionId).toBe('2');
  const commits = [...h.lake.objects.keys()].filter((k) => k.startsWith('commits/') && k.includes(`imp-${job.id}-`)).sort();
  expect(commits).toEqual([expect.stringContaining(`imp-${job.id}-0-0.1.json`), expect.stringContaining(`imp-${job.id}-0-0.json`)]);
});

/** The chunk deps with a write path that loses `losses` races first (a 409: nothing written), counting the calls. */
function losing(losses: number) {
  const calls = { n: 0 };
  const racing = {
    ...deps,
    ingestor: {
      write: async (req: Parameters<typeof deps.ingestor.write>[0]) => {
        if (calls.n++ < losses) throw new ClientError(conflict('A concurrent request changed this resource; retry with the new version'));
        return deps.ingestor.write(req);
      },
    },
  };
  return { racing, calls };
}

test('a chunk that a concurrent chunk beat to a resource (409, nothing written) is tried again', async () => {
  const job = await start({ 'Patient.ndjson': [patient('race-p1'), patient('race-p2')].join('\n') });
  const { racing, calls } = losing(1);
  const done = await runImportJob(runDeps((t) => importChunk(racing, t), 10), job.id);
  expect(calls.n).toBe(2);
  expect(done.progress).toMatchObject({ resources: 2, refused: 0 });
});

test('a chunk beaten many times in a row (two chunks sharing Organizations) still lands, none of its lines refused', async () => {
  const job = await start({ 'Patient.ndjson': [patient('race-q1'), patient('race-q2')].join('\n') });
  // 8 losses in a row: the former limit of 5 attempts refused the whole chunk as a 409
  const { racing, calls } = losing(8);
  const done = await runImportJob(runDeps((t) => importChunk(racing, t), 10), job.id);
  expect(calls.n).toBe(9);
  expect(done.progress).toMatchObject({ resources: 2, refused: 0 });
}, 30_000);

test('chunks of one file sharing a resource are written in line order; chunks sharing none still run side by side', async () => {
  // chunk 0 and chunk 2 both write ord-p1 (the later line wins); chunk 1 shares nothing
  const lines = [patient('ord-p1', { gender: 'male' }), patient('ord-p2'), patient('ord-p3'), patient('ord-p4'), patient('ord-p1', { gender: 'other' }), patient('ord-p5')];
  const job = await start({ 'Patient.ndjson': lines.join('\n') });
  const events: string[] = [];
  const slow = async (t: ChunkTask) => {
    events.push(`start ${t.chunk}`);
    // the first chunk is the slowest: without the ordering, chunk 2 would commit ord-p1 before it
    await new Promise((r) => setTimeout(r, t.chunk === 0 ? 300 : 10));
    const rec = await importChunk(deps, t);
    events.push(`end ${t.chunk}`);
    return rec;
  };
  const done = await runImportJob({ ...runDeps(slow, 2), concurrency: 3 }, job.id);
  expect(done.progress).toMatchObject({ resources: 6, refused: 0 });
  expect(events.indexOf('start 1')).toBeLessThan(events.indexOf('end 0'));
  expect(events.indexOf('start 2')).toBeGreaterThan(events.indexOf('end 0'));
  const hashed = await h.indexKeys.init().then((k) => k.resource('Patient', 'ord-p1'));
  expect((await h.versions.get([hashed])).get(hashed)?.versionId).toBe('2');
  const last = [...h.lake.objects.entries()].filter(([k]) => k.startsWith('raw/') && k.includes(`imp-${job.id}-0-2`));
  expect(last.length).toBe(1);
  expect(Buffer.from(last[0]![1].body).toString('utf8')).toContain('"gender":"other"');
});

test('lineIds finds the top-level id of each line, escaped or spaced, and not nested ids or ids inside strings', () => {
  const ids = lineIds([
    '{"resourceType":"Patient","id":"a1","contained":[{"resourceType":"Organization","id":"o1"}]}',
    '{"resourceType":"Patient","\\u0069d":"e1"}',
    '{"resourceType":"Patient" , "id" : "s1"}',
    '{"resourceType":"Patient","text":{"div":"<div id=\\"d1\\">\\"id\\":\\"x1\\"</div>"},"identifier":[{"id":"el1","value":"v"}],"id":"q\\"1"}',
    '{"resourceType":"ExplanationOfBenefit","contained":[{"resourceType":"Coverage","id":"coverage"}],"item":[{"id":"1"}],"id":"eob1"}',
    '{"id":"dup1","resourceType":"Patient","id":"dup2"}',
    '{"resourceType":"Patient","id":"cut',
    '{"resourceType":"Patient","id":7}',
  ]);
  expect([...ids].sort()).toEqual(['a1', 'dup1', 'dup2', 'e1', 'eob1', 'q"1', 's1']);
});

test('a transaction Bundle file is one request and keeps its urn:uuid rewrite', async () => {
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001', resource: { resourceType: 'Patient', gender: 'male' }, request: { method: 'POST', url: 'Patient' } },
      {
        fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002',
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000001' } },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
  const job = await start({ 'one.json': JSON.stringify(bundle, null, 2) });
  const done = await runImportJob(runDeps((t) => importChunk(deps, t)), job.id);
  expect(done.progress).toMatchObject({ resources: 2, refused: 0 });
  const key = [...h.lake.objects.keys()].find((k) => k.startsWith('raw/Observation/') && k.includes(`imp-${job.id}-0-0`))!;
  const o = JSON.parse(Buffer.from(h.lake.objects.get(key)!.body).toString('utf8'));
  expect(o.subject.reference).not.toContain('urn:uuid');
});

test('a first-wave (Patient) input is cut into about WAVE_PARTS chunks when small, other inputs and older jobs as before', () => {
  const cut = { bytes: 1024 * 1024, waveParts: WAVE_PARTS };
  expect(chunkBytesOf(cut, { type: 'Patient', size: 406_467 })).toBe(Math.ceil(406_467 / WAVE_PARTS)); // 1× Synthea
  expect(chunkBytesOf(cut, { type: 'Patient', size: 4_000 })).toBe(MIN_WAVE_CHUNK_BYTES);
  expect(chunkBytesOf(cut, { type: 'Patient', size: 500 * 1024 * 1024 })).toBe(1024 * 1024);
  expect(chunkBytesOf(cut, { type: 'Observation', size: 406_467 })).toBe(1024 * 1024);
  expect(chunkBytesOf({ bytes: 1024 * 1024 }, { type: 'Patient', size: 406_467 })).toBe(1024 * 1024);
});

test('locally the Patient wave is spread over several chunks, which the AWS plan of the same cut gives too; each resource once', async () => {
  // 40 Patients of about 1.6 KB: 64 KB, so 4 chunks of at least MIN_WAVE_CHUNK_BYTES
  const ps = Array.from({ length: 40 }, (_, i) => patient(`wave-p${i}`, { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(1500)}</div>` } }));
  const files = { 'Patient.ndjson': ps.join('\n') + '\n', 'Observation.ndjson': obs('wave-o1', 'wave-p3') + '\n' };
  const job = await start(files);
  const tasks: ChunkTask[] = [];
  const done = await runImportJob(runDeps((t) => (tasks.push(t), importChunk(deps, t)), 1000), job.id);
  expect((await jobs.get(job.id))!.chunking).toEqual({ lines: 1000, bytes: 1024 * 1024, waveParts: WAVE_PARTS, exact: true });
  expect(done.progress).toMatchObject({ resources: 41, refused: 0 });
  expect([...(await versionsOf(ps.map((_, i) => `Patient/wave-p${i}`))).values()].map((v) => v.versionId)).toEqual(ps.map(() => '1'));
  // a chunk ends at the first line end at or past MIN_WAVE_CHUNK_BYTES: 10 lines of about 1.66 KB each
  const bytesOf = (from: number, to: number) => Buffer.byteLength(ps.slice(from, to).join('\n') + '\n');
  const patientTasks = tasks.filter((t) => t.file === 0).sort((a, b) => a.chunk - b.chunk);
  expect(patientTasks.map((t) => t.lines.length)).toEqual([10, 10, 10, 10]);
  expect(patientTasks.map((t) => t.bytes)).toEqual([10, 20, 30, 40].map((n) => bytesOf(0, n)));
  expect(bytesOf(0, 9)).toBeLessThan(MIN_WAVE_CHUNK_BYTES);
  // the AWS plan of a job with that cut cuts alike
  const same = await start(files);
  same.chunking = (await jobs.get(job.id))!.chunking;
  const [wave, rest] = await planChunks(inputs, jobs, same, 1000);
  expect(wave.map((i) => i.end)).toEqual(patientTasks.map((t) => t.bytes));
  expect(rest).toHaveLength(1);
  // a job the AWS plan starts keeps a small Patient file whole (the Distributed Map does not order chunks sharing an
  // id), and so does a job of an earlier version
  const aws = await start(files);
  expect((await planChunks(inputs, jobs, aws, 1000))[0]).toHaveLength(1);
  expect(aws.chunking).toEqual({ lines: 1000, bytes: 1024 * 1024, exact: true });
  const older = await start(files);
  older.chunking = { lines: 1000, bytes: 1024 * 1024 };
  await jobs.update(older);
  expect((await planChunks(inputs, jobs, older, 1000))[0]).toHaveLength(1);
});

test('a job of an earlier version on a CRLF file fails rather than resume with line ends counted anew', async () => {
  // the earlier version counted a CRLF line as its text plus one byte: its recorded chunk ends cannot be matched
  const ps = Array.from({ length: 6 }, (_, i) => patient(`old-crlf-p${i}`));
  const job = await start({ 'Patient.ndjson': ps.join('\r\n') + '\r\n' });
  const stored = (await jobs.get(job.id))!;
  stored.chunking = { lines: 2, bytes: 1024 * 1024 };
  await jobs.update(stored);
  await expect(planChunks(inputs, jobs, { ...stored }, 2)).rejects.toThrow(ImportCutError);
  const processed: number[] = [];
  await expect(runImportJob(runDeps((t) => (processed.push(t.chunk), importChunk(deps, t)), 2), job.id)).rejects.toThrow(/line 1 of input 1 is counted otherwise/);
  expect(processed).toEqual([]);
  expect((await jobs.get(job.id))!).toMatchObject({ status: 'failed', error: 'ImportCutError' });
  // with LF line ends the counts agree, and such a job resumes
  const lf = await start({ 'Patient.ndjson': ps.map((l) => l.replace('old-crlf', 'old-lf')).join('\n') + '\n' });
  lf.chunking = { lines: 2, bytes: 1024 * 1024 };
  await jobs.update(lf);
  expect((await runImportJob(runDeps((t) => importChunk(deps, t), 2), lf.id)).progress).toMatchObject({ resources: 6, refused: 0 });
});

test('a CRLF file is cut at its line ends: the AWS plan\'s byte ranges give each chunk its own lines', async () => {
  const ps = Array.from({ length: 7 }, (_, i) => patient(`crlf-p${i}`, { name: [{ family: i % 2 ? 'Zoë' : 'Ng' }] }));
  const body = ps.join('\r\n') + '\r\n';
  const job = await start({ 'Patient.ndjson': body });
  const [items] = await planChunks(inputs, jobs, job, 2);
  expect(items.map((i) => [i.start, i.end])).toEqual([0, 2, 4, 6].map((n) => {
    const at = (k: number) => Buffer.byteLength(ps.slice(0, k).map((l) => `${l}\r\n`).join(''));
    return [at(n), at(Math.min(n + 2, 7))];
  }));
  const tasks = await Promise.all(items.map((i) => chunkTask(inputs, job, i)));
  expect(tasks.flatMap((t) => t.lines)).toEqual(ps);
  expect(tasks.at(-1)!.bytes).toBe(Buffer.byteLength(body));
  // the local runner cuts it the same way, and the job ends with each resource once
  const seen: ChunkTask[] = [];
  const done = await runImportJob(runDeps((t) => (seen.push(t), importChunk(deps, t))), job.id);
  expect(seen.map((t) => t.bytes).sort((a, b) => a - b)).toEqual(tasks.map((t) => t.bytes));
  expect(done.progress).toMatchObject({ resources: 7, refused: 0 });
});

test('the AWS fan-out (plan of byte-ranged chunk items, one invocation each, finish) imports what the local runner does', async () => {
  const lines = [patient('fan-p1'), patient('fan-p2'), '', patient('fan-p3'), patient('fan-p4'), patient('fan-p5')];
  const job = await start({ 'Patient.ndjson': lines.join('\n') + '\n', 'Observation.ndjson': [obs('fan-o1', 'fan-p1'), obs('fan-o2', 'fan-p2')].join('\n') });
  const [patients, others] = await planChunks(inputs, jobs, job, 2);
  expect(patients.map((i) => [i.chunk, i.firstLine])).toEqual([[0, 1], [1, 3], [2, 5]]);
  expect(others.map((i) => [i.file, i.firstLine, i.start])).toEqual([[1, 1, 0]]);
  for (const item of [...patients, ...others]) await jobs.putChunk(job.id, await importChunk(deps, await chunkTask(inputs, job, item)));
  // a rerun plans nothing more
  expect((await planChunks(inputs, jobs, job, 2)).flat()).toEqual([]);
  const done = await finishJob({ inputs, jobs, audit: h.app.audit, clock }, (await jobs.get(job.id))!);
  expect(done.progress).toMatchObject({ resources: 7, refused: 1 });
  const errors = Buffer.from((await inputs.get(errorOutputKey(job.id)))!).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as OperationOutcome);
  expect(errors.map(lineOfError)).toEqual([3]);
});

test('a chunk also ends at chunkBytes: large lines make smaller chunks, cut alike by the local runner and the AWS plan', async () => {
  const big = (id: string) => patient(id, { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'x'.repeat(3000)}</div>` } });
  const lines = [big('b-p1'), big('b-p2'), big('b-p3'), big('b-p4'), big('b-p5')];
  const job = await start({ 'Patient.ndjson': lines.join('\n') + '\n' });
  // 1,000 lines a chunk, but at most ~2 lines' bytes: the byte bound decides
  const bound = 2 * (Buffer.byteLength(lines[0]!) + 1);
  const [planned] = await planChunks(inputs, jobs, job, 1000, bound);
  expect(planned.map((i) => [i.chunk, i.firstLine])).toEqual([[0, 1], [1, 3], [2, 5]]);
  const seen: [number, number, number][] = [];
  const done = await runImportJob({ ...runDeps(async (t) => (seen.push([t.chunk, t.firstLine, t.lines.length]), importChunk(deps, t)), 1000), chunkBytes: bound }, job.id);
  expect(seen.sort((a, b) => a[0] - b[0])).toEqual([[0, 1, 2], [1, 3, 2], [2, 5, 1]]);
  expect(done.progress).toMatchObject({ resources: 5, refused: 0 });
});

test('a line over the largest resource accepted (MAX_BODY_BYTES) is refused unread, with its line; the rest is imported', async () => {
  const huge = patient('size-p2', { text: { status: 'generated', div: `<div xmlns="http://www.w3.org/1999/xhtml">${'y'.repeat(400)}</div>` } });
  const job = await start({ 'Patient.ndjson': [patient('size-p1'), huge, patient('size-p3')].join('\n') });
  const done = await runImportJob(runDeps((t) => importChunk({ ...deps, maxLineBytes: 300 }, t), 10), job.id);
  expect(done.progress).toMatchObject({ resources: 2, refused: 1 });
  const [error] = Buffer.from((await inputs.get(errorOutputKey(job.id)))!).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as OperationOutcome);
  expect(lineOfError(error!)).toBe(2);
  expect(error!.issue[0]).toMatchObject({ code: 'too-costly', diagnostics: expect.stringContaining('over 300 bytes') });
  expect((await versionsOf(['Patient/size-p2'])).size).toBe(0);
});

test('in AWS the chunk invocations keep the job alive: a status call then starts no second runner, and shows progress', async () => {
  const job = await start({ 'Patient.ndjson': [patient('hb-p1'), patient('hb-p2'), patient('hb-p3')].join('\n') });
  const [patients] = await planChunks(inputs, jobs, job, 1);
  let t = Date.parse('2026-12-03T10:00:00Z');
  const at = { now: () => new Date(t) };
  Object.assign(job, { status: 'running', runner: { id: 'step-functions', heartbeatAt: new Date(t).toISOString() } });
  await jobs.update(job);
  const launched: string[] = [];
  const launcher = { launch: async (id: string) => void launched.push(id) };
  for (const item of patients!) {
    t += 20_000; // a chunk every 20 s: 60 s in all, twice the stale limit
    await jobs.putChunk(job.id, await importChunk(deps, await chunkTask(inputs, job, item)));
    expect(await renewHeartbeat({ jobs, clock: at }, job.id, 'step-functions')).toBe(true);
    expect(await resumeIfStale({ jobs, launcher, clock: at }, (await jobs.get(job.id))!)).toBe(false);
  }
  expect(launched).toEqual([]);
  expect((await jobs.get(job.id))!.progress).toMatchObject({ resources: 3 });
  // without the renewal the same calls take it for dead and launch another runner
  t += 31_000;
  expect(await resumeIfStale({ jobs, launcher, clock: at }, (await jobs.get(job.id))!)).toBe(true);
  expect(launched).toEqual([job.id]);
  // within the interval nothing is written; a finished job is left alone
  expect(await renewHeartbeat({ jobs, clock: at }, job.id, 'step-functions')).toBe(false);
  await jobs.update({ ...(await jobs.get(job.id))!, status: 'completed' });
  t += 60_000;
  expect(await renewHeartbeat({ jobs, clock: at }, job.id, 'step-functions')).toBe(false);
});

test('$import parameters are checked: another bucket, a missing object, no input', async () => {
  await expect(start({}, [{ url: 's3://elsewhere/x.ndjson', type: 'Patient' }])).rejects.toMatchObject({ name: 'ClientError' });
  await expect(start({}, [{ url: 'missing.ndjson', type: 'Patient' }])).rejects.toMatchObject({ name: 'ClientError' });
  await expect(start({}, [])).rejects.toMatchObject({ name: 'ClientError' });
});

test('a job with Bundle files gives its workers a heap sized to the largest; NDJSON jobs keep the base', () => {
  const input = (kind: 'ndjson' | 'bundle', size: number) => ({ url: 'x', key: 'inputs/x', kind, size });
  expect(workerHeapMb({ inputs: [input('ndjson', 5e9)] }, 144)).toBe(144);
  expect(workerHeapMb({ inputs: [input('ndjson', 1), input('bundle', 3.9 * 1024 * 1024), input('bundle', 1024)] }, 144)).toBe(144 + 4 * 48);
});
