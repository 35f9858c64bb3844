/**
 * `npm run etl-replay`: re-delivers the IngestEvent of every committed lake object, rebuilt from the commit
 * manifests `commits/date=…/{requestId}.json` of the lake. Use it to (re)build the marts, e.g. after adding a
 * view, or to check idempotency (a second delivery changes nothing).
 *
 *   npm run etl-replay                       # run the ETL in this process on every committed object
 *   npm run etl-replay -- --date 2024-05-01 --source leeds-gp
 *   npm run etl-replay -- --publish          # publish the events to the ingest topic instead (the ETL function handles them)
 *
 * Rebuilt events carry everything the ETL reads (key, type, source, checksum, ingestedAt, policy version) but no
 * `resources` list. Output: counts only.
 */
import { loadConfig } from '../src/config';
import { getEtlApp } from '../src/bootstrap';
import type { IngestEvent, ObjectStore } from '../src/core/ports';
import { commitManifestPrefix, type CommitManifest } from '../src/core/lake-layout';
import { createSnsClient, SnsEventBus } from '../src/adapters/aws/sns-event-bus';
import { runCli, wantsHelp } from './cli';

/** `--help` text. */
export const HELP = `usage: npm run etl-replay -- [--date YYYY-MM-DD] [--source S] [--publish] [--batch N]

Re-delivers the IngestEvent of every committed lake object (rebuilt from the lake's commit manifests) to the ETL:
(re)builds the marts, e.g. after adding a view; a second delivery changes nothing.
  --date D      only the objects committed on day D
  --source S    only source S
  --publish     publish the events to the ingest topic instead of running the ETL in this process
  --batch N     events per ETL batch (default 50)
Needs the local stack (\`npm start\`, found through DATA_DIR/stack.json, default .data/stack.json).
Exit codes: 0 ok; 1 some events failed, or the stack is not running; 2 usage.
`;

/** Rebuilds the events of the committed lake objects (optionally of one day / one source), oldest day first. */
export async function lakeEvents(lake: ObjectStore, filter: { date?: string; source?: string } = {}): Promise<IngestEvent[]> {
  const keys = await lake.list(commitManifestPrefix(filter.date));
  const events: IngestEvent[] = [];
  for (const k of keys) {
    if (!k.endsWith('.json')) continue;
    const body = await lake.get(k);
    if (!body) continue;
    const m = JSON.parse(Buffer.from(body).toString('utf8')) as CommitManifest;
    if (filter.source && m.source !== filter.source) continue;
    for (const o of m.objects) {
      const head = await lake.head(o.key);
      if (!head) continue; // not committed after all (rolled back)
      const policy = head.metadata.policyversion;
      events.push({
        type: 'tributary.ingest.committed',
        requestId: m.requestId,
        source: m.source,
        resourceType: o.resourceType,
        bucket: lake.name,
        objectKey: o.key,
        count: o.count,
        checksumSha256: o.checksumSha256,
        ingestedAt: m.committedAt,
        resources: [],
        ...(policy && policy !== 'none' ? { policyVersion: policy } : {}),
      });
    }
  }
  return events;
}

function parse(argv: string[]): { date?: string; source?: string; publish: boolean; batch: number } {
  const o = { publish: false, batch: 50 } as ReturnType<typeof parse>;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--date') o.date = argv[++i];
    else if (a === '--source') o.source = argv[++i];
    else if (a === '--publish') o.publish = true;
    else if (a === '--batch') o.batch = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.batch) || o.batch < 1) throw new Error('--batch takes a whole number of events, at least 1');
  return o;
}

/** CLI entry point; returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, out: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  if (wantsHelp(argv)) {
    out(HELP);
    return 0;
  }
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (err) {
    process.stderr.write(`etl-replay: ${(err as Error).message}\n${HELP.split('\n')[0]}\n`);
    return 2;
  }
  const app = getEtlApp(loadConfig(env));
  const events = await lakeEvents(app.lake, args);
  if (args.publish) {
    const config = loadConfig(env);
    const bus = new SnsEventBus(createSnsClient({ region: config.region, endpoint: config.snsEndpoint }), config.ingestTopicArn);
    for (let i = 0; i < events.length; i += 10) await bus.publish(events.slice(i, i + 10));
    out(`published ${events.length} events\n`);
    return 0;
  }
  let failed = 0;
  let rows = 0;
  let files = 0;
  for (let i = 0; i < events.length; i += args.batch) {
    for (const r of await app.etl.processBatch(events.slice(i, i + args.batch), { trigger: 'replay' })) {
      if (r instanceof Error) {
        failed++;
        process.stderr.write(`${r.name}: ${r.message}\n`);
      } else {
        files += r.written.length;
        rows += Object.values(r.rows).reduce((a, b) => a + b, 0);
      }
    }
  }
  await app.codec.close();
  out(`replayed ${events.length} events: ${files} files, ${rows} rows, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}

if (require.main === module) {
  runCli({ name: 'etl-replay', usage: HELP, needsStack: true, run: (argv, env) => main(argv, env) });
}
