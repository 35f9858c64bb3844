/**
 * Helpers of the e2e tests that read the marts of the running stack: SQL through the query CLI's code, and
 * waiting until the ETL has applied every committed lake object of a source (re-publishing, at least once, the
 * events the local SNS endpoint dropped under a flood, as SQS would retry them in AWS).
 */
import type { IngestEvent } from '../../src/core/ports';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { main as queryMain } from '../../scripts/query';
import { lakeEvents } from '../../scripts/etl-replay';
import { createSnsClient, SnsEventBus } from '../../src/adapters/aws/sns-event-bus';
import { createS3Client } from '../../src/adapters/aws/s3-object-store';
import { DuckDbCatalog, localCatalogFile } from '../../src/adapters/local/duckdb-catalog';
import { bucket, stack } from './helpers';

const TOPIC = 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest';

/** Runs SQL through the query CLI's code (`npm run query -- --json …`) and returns the rows. */
export async function sql(q: string): Promise<any[]> {
  let out = '';
  let err = '';
  const code = await queryMain(['--json', '--data-dir', stack().dataDir, q], { out: (t) => (out += t), err: (t) => (err += t) });
  if (code !== 0) throw new Error(`query failed (${code}): ${err}`);
  return JSON.parse(out);
}

/** Retries a read of s3rver, which can answer 500 while it rewrites an object that a listing covers. */
export async function retry<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

const versionsKey = (e: IngestEvent): string => {
  const m = /^raw\/([^/]+)\/source=([^/]+)\/date=([^/]+)\/([^/]+)\.ndjson$/.exec(e.objectKey)!;
  return `marts/resource_versions/source=${m[2]}/date=${m[3]}/${m[4]}-${m[1]}.parquet`;
};

/** Events whose resource_versions file (written last by the ETL) is missing. */
async function notApplied(source: string, events: IngestEvent[]): Promise<IngestEvent[]> {
  const client = createS3Client({ endpoint: stack().s3Endpoint });
  const have = new Set<string>();
  let token: string | undefined;
  do {
    const r = await retry(() =>
      client.send(new ListObjectsV2Command({ Bucket: 'tributary-marts', Prefix: `marts/resource_versions/source=${source}/`, ContinuationToken: token })),
    );
    for (const o of r.Contents ?? []) have.add(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return events.filter((e) => !have.has(versionsKey(e)));
}

/**
 * Waits until the ETL has applied every committed lake object of `source` (its resource_versions file exists),
 * re-publishing to the ingest topic the events still missing after 30 s without progress, then until the
 * catalogue has every table and partition of the source. Returns the events.
 */
export async function waitForEtl(source: string, timeoutMillis = 900_000): Promise<IngestEvent[]> {
  const events = await retry(() => lakeEvents(bucket(), { source }));
  const bus = new SnsEventBus(createSnsClient({ endpoint: stack().snsEndpoint }), TOPIC);
  const deadline = Date.now() + timeoutMillis;
  let missing = events;
  let lastProgress = Date.now();
  while (Date.now() < deadline) {
    const now = await notApplied(source, missing);
    if (now.length < missing.length) lastProgress = Date.now();
    missing = now;
    if (missing.length === 0) break;
    if (Date.now() - lastProgress > 30_000) {
      for (let i = 0; i < missing.length; i += 100) await bus.publish(missing.slice(i, i + 100));
      lastProgress = Date.now();
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (missing.length > 0) throw new Error(`${source}: ${missing.length} events not applied by the ETL`);
  const marts = bucket('tributary-marts');
  const want = new Set<string>();
  for (const k of await retry(() => marts.list('marts/'))) {
    const m = /^marts\/([^/]+)\/source=([^/]+)\/date=([^/]+)\//.exec(k);
    if (m && m[2] === source) want.add(`${m[1] === 'resource_versions' ? m[1] : `${m[1]}_history`}|${m[3]}`);
  }
  const catalog = new DuckDbCatalog({ file: localCatalogFile(stack().dataDir), locate: () => '' });
  let unregistered = [...want];
  while (Date.now() < deadline && unregistered.length > 0) {
    const still: string[] = [];
    for (const w of unregistered) {
      const [table, date] = w.split('|');
      if (!(await catalog.listPartitions(table!)).some((p) => p.source === source && p.date === date)) still.push(w);
    }
    unregistered = still;
    if (unregistered.length > 0) await new Promise((r) => setTimeout(r, 500));
  }
  if (unregistered.length > 0) throw new Error(`${source}: not in the catalogue: ${unregistered.join(', ')}`);
  return events;
}
