/**
 * The marts end to end on the real local stack: API → lake → SNS (serverless-offline-sns) → ETL function →
 * Parquet in the marts bucket (and its local mirror) → DuckDB catalogue → `npm run query` code.
 *
 * - every Synthea Bundle of ../shared/fhir/synthea/smart-on-fhir-r4/: each mart holds exactly the rows the input
 *   implies (Observation 17,154, Encounter 3,320, Condition 868, Patient 123, …), values match the source JSON,
 *   references join; re-delivering every event through SNS changes no count;
 * - an update (PUT, version 2): one row in the current view, two in history;
 * - the COVID-19 case study (analyses/covid19.sql) over ../shared/fhir/synthea/covid19/ matches figures computed
 *   here from the source JSON.
 *
 * Each scenario uses its own source system, so counts are per source. The ETL runs in the stack (the `etl`
 * function subscribed to the ingest topic); with E2E_ETL_DIRECT=1 the test delivers the events itself instead
 * (for a stack without that function).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { bucket, describeShared, send, SHARED, stack, token } from './helpers';
import { main as queryMain } from '../../scripts/query';
import { lakeEvents } from '../../scripts/etl-replay';
import { main as compactMain } from '../../scripts/compact';
import type { IngestEvent } from '../../src/core/ports';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createSnsClient, SnsEventBus } from '../../src/adapters/aws/sns-event-bus';
import { createS3Client } from '../../src/adapters/aws/s3-object-store';
import { DuckDbCatalog, localCatalogFile } from '../../src/adapters/local/duckdb-catalog';

const SYNTHEA = path.join(SHARED, 'fhir/synthea/smart-on-fhir-r4');
const COVID = path.join(SHARED, 'fhir/synthea/covid19');
const TOPIC = 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest';
const DIRECT = process.env.E2E_ETL_DIRECT === '1';

jest.setTimeout(1_200_000);

/** Runs SQL through the query CLI's code (`npm run query -- --json …`) and returns the rows. */
async function sql(q: string): Promise<any[]> {
  let out = '';
  let err = '';
  const code = await queryMain(['--json', '--data-dir', stack().dataDir, q], { out: (t) => (out += t), err: (t) => (err += t) });
  if (code !== 0) throw new Error(`query failed (${code}): ${err}`);
  return JSON.parse(out);
}

const versionsKey = (e: IngestEvent): string => {
  const m = /^raw\/([^/]+)\/source=([^/]+)\/date=([^/]+)\/([^/]+)\.ndjson$/.exec(e.objectKey)!;
  return `marts/resource_versions/source=${m[2]}/date=${m[3]}/${m[4]}-${m[1]}.parquet`;
};

/** Retries a read of s3rver, which can answer 500 while it rewrites an object that a listing covers. */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Delivers events in this process (E2E_ETL_DIRECT=1 only). */
async function deliverDirect(events: IngestEvent[]): Promise<void> {
  const { buildEtlApp } = await import('../../src/bootstrap');
  const { loadConfig } = await import('../../src/config');
  const s = stack();
  const app = buildEtlApp(loadConfig({ TRIBUTARY_RUNTIME: 'local', DATA_DIR: s.dataDir, S3_ENDPOINT: s.s3Endpoint }));
  for (let i = 0; i < events.length; i += 50) {
    const out = await app.etl.processBatch(events.slice(i, i + 50));
    const bad = out.filter((r) => r instanceof Error);
    if (bad.length > 0) throw bad[0];
  }
  await app.codec.close();
}

/** Keys under a prefix of the marts bucket with their LastModified (one listing, not a HEAD per object). */
async function listWithTimes(prefix: string): Promise<Map<string, Date>> {
  const client = createS3Client({ endpoint: stack().s3Endpoint });
  const out = new Map<string, Date>();
  let token: string | undefined;
  do {
    const r = await retry(() => client.send(new ListObjectsV2Command({ Bucket: 'tributary-marts', Prefix: prefix, ContinuationToken: token })));
    for (const o of r.Contents ?? []) out.set(o.Key!, o.LastModified!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Events whose resource_versions file (written last by the ETL) is missing, or older than `since`. */
async function notApplied(source: string, events: IngestEvent[], since?: Date): Promise<IngestEvent[]> {
  const files = await listWithTimes(`marts/resource_versions/source=${source}/`);
  const floor = since ? Math.floor(since.getTime() / 1000) * 1000 : undefined; // s3rver times have 1 s precision
  return events.filter((e) => {
    const t = files.get(versionsKey(e));
    return !t || (floor !== undefined && t.getTime() < floor);
  });
}

/**
 * Waits until the ETL has applied every committed lake object of `source` (its resource_versions file, written
 * last, exists, and was written at or after `since` when given), then until the catalogue has registered every
 * table and partition. Returns the events of those objects.
 */
async function waitForEtl(source: string, since?: Date): Promise<IngestEvent[]> {
  const events = await retry(() => lakeEvents(bucket(), { source }));
  if (DIRECT) await deliverDirect(events);
  const marts = bucket('tributary-marts');
  const deadline = Date.now() + 900_000;
  let missing = events;
  while (Date.now() < deadline) {
    missing = await notApplied(source, events, since);
    if (missing.length === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  expect({ source, eventsNotApplied: missing.map((e) => e.objectKey) }).toEqual({ source, eventsNotApplied: [] });
  // the ETL registers tables and partitions after writing the files: wait until every one is in the catalogue
  const want = new Set<string>();
  for (const k of await retry(() => marts.list('marts/'))) {
    const m = /^marts\/([^/]+)\/source=([^/]+)\/date=([^/]+)\//.exec(k);
    if (m && m[2] === source) want.add(`${m[1] === 'resource_versions' ? m[1] : `${m[1]}_history`}|${m[3]}`);
  }
  for (const e of events) want.add(`raw_${e.resourceType.toLowerCase()}|${/date=([^/]+)/.exec(e.objectKey)![1]}`);
  const catalog = new DuckDbCatalog({ file: localCatalogFile(stack().dataDir), locate: () => '' });
  let unregistered: string[] = [...want];
  while (Date.now() < deadline && unregistered.length > 0) {
    const still: string[] = [];
    for (const w of unregistered) {
      const [table, date] = w.split('|');
      const parts = await catalog.listPartitions(table!);
      if (!parts.some((p) => p.source === source && p.date === date)) still.push(w);
    }
    unregistered = still;
    if (unregistered.length > 0) await new Promise((r) => setTimeout(r, 500));
  }
  expect({ source, unregistered }).toEqual({ source, unregistered: [] });
  return events;
}

/** POSTs Bundles (as given, or with their type changed) with a token of `source`, two at a time. */
/**
 * Sends the Bundles; returns the entries answered as re-sent creates (200 to a POST: the set repeats Organizations
 * and Practitioners with the same fullUrl and content across Bundles, one resource each), by resource type.
 */
async function ingest(files: string[], source: string, asType?: 'transaction'): Promise<Record<string, number>> {
  const auth = { Authorization: `Bearer ${await token(source)}`, Prefer: 'return=minimal' };
  const failures: string[] = [];
  const matched: Record<string, number> = {};
  const queue = [...files];
  const worker = async (): Promise<void> => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      let text = fs.readFileSync(f, 'utf8');
      if (asType) text = JSON.stringify({ ...JSON.parse(text), type: asType });
      const r = await send('POST', '', text, auth);
      if (r.status !== 200) failures.push(`${path.basename(f)}: ${r.status} ${JSON.stringify(r.json?.issue?.[0])}`);
      for (const e of r.json?.entry ?? []) {
        const type = String(e.response?.location ?? e.fullUrl).split('/')[0]!;
        if (String(e.response?.status).startsWith('200')) matched[type] = (matched[type] ?? 0) + 1;
      }
    }
  };
  await Promise.all([worker(), worker()]);
  expect(failures).toEqual([]);
  return matched;
}

/**
 * Re-publishes events to the ingest topic (the real SNS path) in chunks, each applied before the next. The local
 * SNS endpoint delivers fire-and-forget and drops deliveries it cannot make under a flood of them (where AWS would
 * retry from SQS), so an event not applied after a while is published again: at-least-once, like SQS.
 */
async function redeliver(source: string, events: IngestEvent[], since: Date): Promise<void> {
  if (DIRECT) return; // waitForEtl delivers
  const bus = new SnsEventBus(createSnsClient({ endpoint: stack().snsEndpoint }), TOPIC);
  for (let i = 0; i < events.length; i += 100) {
    let chunk = events.slice(i, i + 100);
    for (let attempt = 0; attempt < 5 && chunk.length > 0; attempt++) {
      await bus.publish(chunk);
      const until = Date.now() + 60_000;
      do {
        await new Promise((r) => setTimeout(r, 500));
        chunk = await notApplied(source, chunk, since);
      } while (chunk.length > 0 && Date.now() < until);
    }
  }
}

describe('marts: an update', () => {
  test('PUT version 2: one row in the current view, two in history', async () => {
    const source = 'marts-put';
    const auth = { Authorization: `Bearer ${await token(source)}` };
    const p = { resourceType: 'Patient', gender: 'female', birthDate: '1980-02-03' };
    const c = await send('POST', '/Patient', p, auth);
    expect(c.status).toBe(201);
    const u = await send('PUT', `/Patient/${c.json.id}`, { ...p, id: c.json.id, gender: 'male' }, auth);
    expect(u.status).toBe(200);
    const putRequest = u.headers.get('x-request-id')!;
    await waitForEtl(source);
    // find the resource by the lake object of the PUT (lake ids may be pseudonyms, not the client's id)
    const [v2] = await sql(`SELECT _resource_id, _version_id, gender FROM patient_history WHERE _lake_key LIKE '%/${putRequest}.ndjson'`);
    expect(v2).toMatchObject({ _version_id: '2', gender: 'male' });
    const current = await sql(`SELECT gender, _version_id FROM patient WHERE _resource_id = '${v2._resource_id}'`);
    expect(current).toEqual([{ gender: 'male', _version_id: '2' }]);
    const history = await sql(`SELECT gender, _version_id FROM patient_history WHERE _resource_id = '${v2._resource_id}' ORDER BY _version_id`);
    expect(history).toEqual([
      { gender: 'female', _version_id: '1' },
      { gender: 'male', _version_id: '2' },
    ]);
  });
});

describeShared('marts: all Synthea Bundles', () => {
  const source = 'marts-synthea';
  const files = (): string[] => fs.readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort().map((f) => path.join(SYNTHEA, f));

  /** What the input implies for each mart. */
  function expected(): Record<string, number> {
    const byType: Record<string, number> = {};
    let components = 0;
    let activities = 0;
    let total = 0;
    for (const f of files()) {
      for (const e of JSON.parse(fs.readFileSync(f, 'utf8')).entry) {
        const r = e.resource;
        byType[r.resourceType] = (byType[r.resourceType] ?? 0) + 1;
        total++;
        if (r.resourceType === 'Observation') components += r.component?.length ?? 0;
        if (r.resourceType === 'CarePlan') activities += r.activity?.length ?? 0;
      }
    }
    return {
      patient: byType.Patient ?? 0,
      encounter: byType.Encounter ?? 0,
      condition: byType.Condition ?? 0,
      observation: byType.Observation ?? 0,
      observation_component: components,
      procedure: byType.Procedure ?? 0,
      immunization: byType.Immunization ?? 0,
      medication_request: byType.MedicationRequest ?? 0,
      care_plan: byType.CarePlan ?? 0,
      care_plan_activity: activities,
      resource_versions: total,
      raw_observation: byType.Observation ?? 0,
    };
  }

  async function counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of Object.keys(expected())) {
      const [r] = await sql(`SELECT count(*) AS n FROM "${t}" WHERE source = '${source}'`);
      out[t] = r.n;
    }
    for (const t of ['observation', 'patient']) {
      const [r] = await sql(`SELECT count(*) AS n FROM "${t}_history" WHERE source = '${source}'`);
      out[`${t}_history`] = r.n;
    }
    return out;
  }

  let events: IngestEvent[] = [];

  test('every mart holds exactly the rows of the input; values match the source JSON', async () => {
    expect(files()).toHaveLength(125);
    const matched = await ingest(files(), source);
    // only shared reference resources are re-sent creates, none of the types counted here but resource_versions
    expect(Object.keys(matched).filter((t) => !['Organization', 'Practitioner', 'Location', 'PractitionerRole'].includes(t))).toEqual([]);
    const resent = Object.values(matched).reduce((a, b) => a + b, 0);
    events = await waitForEtl(source);
    const want = expected();
    expect(want).toMatchObject({ observation: 17154, encounter: 3320, condition: 868, patient: 123, resource_versions: 36308 });
    expect(await counts()).toEqual({ ...want, resource_versions: want.resource_versions - resent, observation_history: want.observation, patient_history: want.patient });

    // spot check: an Observation whose (code, effective time) is unique in the input
    const seen = new Map<string, any[]>();
    for (const f of files()) {
      for (const e of JSON.parse(fs.readFileSync(f, 'utf8')).entry) {
        const r = e.resource;
        if (r.resourceType !== 'Observation' || !r.valueQuantity || !r.effectiveDateTime) continue;
        const k = `${r.code.coding[0].code}|${r.effectiveDateTime}`;
        seen.set(k, [...(seen.get(k) ?? []), r]);
      }
    }
    const picks = [...seen.values()].filter((l) => l.length === 1).map((l) => l[0]);
    expect(picks.length).toBeGreaterThan(100);
    for (const o of [picks[0], picks[Math.floor(picks.length / 2)], picks[picks.length - 1]]) {
      const rows = await sql(
        `SELECT code, code_display, code_system, effective_datetime, value_quantity, value_unit, status FROM observation ` +
          `WHERE source = '${source}' AND code = '${o.code.coding[0].code}' AND effective_datetime = '${o.effectiveDateTime}'`,
      );
      expect(rows).toEqual([
        {
          code: o.code.coding[0].code,
          code_display: o.code.coding[0].display,
          code_system: o.code.coding[0].system,
          effective_datetime: o.effectiveDateTime,
          value_quantity: o.valueQuantity.value,
          value_unit: o.valueQuantity.unit,
          status: o.status,
        },
      ]);
    }
    // references were resolved by the transaction: every observation's patient is in the patient mart
    const [orphans] = await sql(
      `SELECT count(*) AS n FROM observation o LEFT JOIN patient p ON p.id = o.patient_id WHERE o.source = '${source}' AND p.id IS NULL`,
    );
    expect(orphans.n).toBe(0);
    // the marts bucket holds the same files as the local mirror DuckDB reads
    const inBucket = (await bucket('tributary-marts').list(`marts/observation/source=${source}/`)).length;
    const mirror = path.join(stack().dataDir, 'marts', 'observation', `source=${source}`);
    const onDisk = fs.readdirSync(mirror).flatMap((d) => fs.readdirSync(path.join(mirror, d)).filter((f) => f.endsWith('.parquet')));
    expect(onDisk.length).toBe(inBucket);
  });

  test('re-delivering every event through SNS leaves every count unchanged', async () => {
    expect(events.length).toBeGreaterThan(1000);
    const before = await counts();
    const since = new Date();
    await redeliver(source, events, since);
    await waitForEtl(source, since);
    expect(await counts()).toEqual(before);
  });

  test('npm run compact merges each partition into one file: same rows (checksum), and re-delivery still adds nothing', async () => {
    const digest = async (): Promise<{ n: number; sha: string }> => {
      const rows = await sql(`SELECT * EXCLUDE (source, "date") FROM observation_history WHERE source = '${source}'`);
      const lines = rows.map((r) => JSON.stringify(r)).sort();
      return { n: lines.length, sha: createHash('sha256').update(lines.join('\n')).digest('hex') };
    };
    const before = { digest: await digest(), counts: await counts() };
    const s = stack();
    const env = { TRIBUTARY_RUNTIME: 'local', DATA_DIR: s.dataDir, S3_ENDPOINT: s.s3Endpoint, SNS_ENDPOINT: s.snsEndpoint };
    let out = '';
    expect(await compactMain(['observation', '--source', source], env, (t) => (out += t))).toBe(0);
    expect(out).toMatch(/observation_history source=marts-synthea date=\d{4}-\d{2}-\d{2}: \d+ files → 1/);
    const files = await retry(() => bucket('tributary-marts').list(`marts/observation/source=${source}/`));
    const partitions = new Set(files.map((k) => k.split('/').slice(0, 4).join('/')));
    expect(files.length).toBe(partitions.size);
    expect(await digest()).toEqual(before.digest);
    expect(await counts()).toEqual(before.counts);
    const since = new Date();
    await redeliver(source, events, since);
    await waitForEtl(source, since);
    expect(await retry(() => bucket('tributary-marts').list(`marts/observation/source=${source}/`))).toEqual(files);
    expect(await digest()).toEqual(before.digest);
    expect(await counts()).toEqual(before.counts);
  });
});

describeShared('marts: COVID-19 case study', () => {
  const source = 'marts-covid';

  /** The figures of analyses/covid19.sql, computed from the source JSON. */
  function expectedFigures(bundles: any[]): Record<string, [number, number | null]> {
    const ref = (r: any): string | undefined => r?.subject?.reference ?? r?.patient?.reference;
    const patients = new Map<string, boolean>(); // fullUrl → died
    const has = (pred: (r: any) => boolean): Set<string> => {
      const s = new Set<string>();
      for (const b of bundles) for (const e of b.entry) if (pred(e.resource)) s.add(ref(e.resource)!);
      return s;
    };
    for (const b of bundles) for (const e of b.entry) if (e.resource.resourceType === 'Patient') patients.set(e.fullUrl, Boolean(e.resource.deceasedBoolean || e.resource.deceasedDateTime));
    const code = (r: any, c: string): boolean => (r.code ?? r.type?.[0])?.coding?.some((x: any) => x.code === c);
    const suspected = has((r) => r.resourceType === 'Condition' && code(r, '840544004'));
    const confirmed = has((r) => r.resourceType === 'Condition' && code(r, '840539006'));
    const resolved = has((r) => r.resourceType === 'Condition' && code(r, '840539006') && r.clinicalStatus?.coding?.[0]?.code === 'resolved');
    const hosp = has((r) => r.resourceType === 'Encounter' && r.type?.some((t: any) => t.coding?.some((c: any) => c.code === '1505002')));
    const icu = has((r) => r.resourceType === 'Encounter' && r.type?.some((t: any) => t.coding?.some((c: any) => c.code === '305351004')));
    const vent = has((r) => r.resourceType === 'Procedure' && (code(r, '243150007') || code(r, '112798008')));
    const iso = has((r) => r.resourceType === 'CarePlan' && (r.activity ?? []).some((a: any) => a.detail?.code?.coding?.[0]?.code === '361235007'));
    const cohort = [...confirmed];
    const n = (f: (p: string) => boolean): number => cohort.filter(f).length;
    return {
      'suspected COVID-19': [suspected.size, null],
      'confirmed COVID-19 (of suspected)': [[...suspected].filter((p) => confirmed.has(p)).length, suspected.size],
      recovered: [n((p) => resolved.has(p) && !patients.get(p)), cohort.length],
      deceased: [n((p) => patients.get(p) === true), cohort.length],
      hospitalised: [n((p) => hosp.has(p)), cohort.length],
      'home isolation care plan': [n((p) => iso.has(p) && !hosp.has(p)), cohort.length],
      'ICU admission': [n((p) => icu.has(p)), cohort.length],
      'ICU admission (of hospitalised)': [n((p) => icu.has(p) && hosp.has(p)), n((p) => hosp.has(p))],
      ventilated: [n((p) => vent.has(p)), cohort.length],
    };
  }

  test('analyses/covid19.sql over the ingested COVID-19 Bundles gives the figures computed from the source', async () => {
    const all = fs.readdirSync(COVID).filter((f) => f.endsWith('.json'));
    expect(all).toHaveLength(12);
    // organisations and practitioners first, then the patients
    const ordered = [...all.filter((f) => /Information/.test(f)), ...all.filter((f) => !/Information/.test(f))].map((f) => path.join(COVID, f));
    const bundles = ordered.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
    expect(bundles.every((b) => b.type === 'batch')).toBe(true);
    // These batch Bundles reference each other's entries by urn:uuid, which the FHIR batch rules call non-conformant
    // (https://hl7.org/fhir/R4/http.html#brules) and which only a transaction resolves: sent as transactions.
    await ingest(ordered, source, 'transaction');
    await waitForEtl(source);

    let out = '';
    const code = await queryMain(['--json', '--data-dir', stack().dataDir, '--file', path.resolve(__dirname, '../../analyses/covid19.sql')], {
      out: (t) => (out += t),
      err: (t) => (out += t),
    });
    expect(code).toBe(0);
    const rows: { metric: string; patients: number; of_patients: number | null; percent: number | null }[] = JSON.parse(out);
    const got = Object.fromEntries(rows.map((r) => [r.metric, [r.patients, r.of_patients]]));
    const want = expectedFigures(bundles);
    expect(got).toEqual(want);
    expect(want['confirmed COVID-19 (of suspected)']![0]).toBeGreaterThan(0);
    for (const r of rows) {
      if (r.of_patients) expect(r.percent).toBeCloseTo((100 * r.patients) / r.of_patients, 1);
    }
    // for analyses/README.md
    // eslint-disable-next-line no-console
    console.log(`COVID-19 case study (${source}):\n${rows.map((r) => `  ${r.metric}: ${r.patients}${r.of_patients !== null ? ` / ${r.of_patients} (${r.percent}%)` : ''}`).join('\n')}`);
  });
});
