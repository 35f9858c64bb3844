/**
 * The newman run of the Postman collection against a live stack (`node dist/scripts/postman.js run`).
 */
import fs from 'node:fs';
import { COLLECTION_FILE } from './paths';

type Json = Record<string, any>;

/** Options of {@link run}. */
export interface RunOptions {
  baseUrl: string;
  token?: string;
  /** A collection object or file; default the committed collection. */
  collection?: Json | string;
  /** Top-level folders to run; default every folder except the planned one. */
  folders?: string[];
  includePlanned?: boolean;
  /** newman reporters, e.g. ['cli', 'junit']; default none. */
  reporters?: string[];
  /** newman reporter options, e.g. `{ junit: { export: 'newman/junit.xml' } }`. */
  reporter?: Json;
  /** Per-request timeout, ms (default 60 s). */
  timeoutRequest?: number;
}

/** What a newman run found. */
export interface RunSummary {
  assertions: { total: number; failed: number };
  requests: { total: number; failed: number };
  failures: { item: string; test: string; message: string }[];
}

interface NewmanSummary {
  run: {
    stats: { assertions: { total: number; failed: number }; requests: { total: number; failed: number } };
    failures: { error: { test?: string; name?: string; message: string }; source?: { name?: string } }[];
    error?: unknown;
  };
}
type NewmanRun = (options: Json, cb: (err: Error | null, summary: NewmanSummary) => void) => unknown;

/** Runs the collection with newman against a live stack; resolves with the assertion counts and failures. */
export async function run(o: RunOptions): Promise<RunSummary> {
  // newman ships no typings
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const newman = require('newman') as { run: NewmanRun };
  const collection = typeof o.collection === 'string' || o.collection === undefined ? JSON.parse(fs.readFileSync(o.collection ?? COLLECTION_FILE, 'utf8')) : o.collection;
  const folders =
    o.folders ?? (collection.item as Json[]).map((f) => f.name as string).filter((n) => o.includePlanned || !n.startsWith('Planned'));
  const summary = await new Promise<NewmanSummary>((resolve, reject) => {
    newman.run(
      {
        collection,
        envVar: [
          { key: 'baseUrl', value: o.baseUrl.replace(/\/$/, '') },
          { key: 'token', value: o.token ?? '' },
        ],
        folder: folders,
        reporters: o.reporters ?? [],
        ...(o.reporter ? { reporter: o.reporter } : {}),
        timeoutRequest: o.timeoutRequest ?? 60_000,
      },
      (err, s) => (err ? reject(err) : resolve(s)),
    );
  });
  const st = summary.run.stats;
  return {
    assertions: { total: st.assertions.total, failed: st.assertions.failed },
    requests: { total: st.requests.total, failed: st.requests.failed },
    failures: summary.run.failures.map((f) => ({ item: f.source?.name ?? '?', test: f.error.test ?? f.error.name ?? '', message: f.error.message })),
  };
}
