/**
 * The Postman collection of the API, generated from `openapi.yaml`, and its newman run.
 *
 *     node dist/scripts/postman.js generate   # rewrite postman/*.json from openapi.yaml
 *     node dist/scripts/postman.js run        # start a local stack, mint a token, run the collection, stop
 *     node dist/scripts/postman.js run --base-url http://localhost:3000/fhir --token "$TOKEN"   # an existing stack
 *     node dist/scripts/postman.js run --quiet --junit newman/junit.xml                        # CI: JUnit report
 * `run` prints `newman: N assertions, F failed` and exits non-zero on any failure.
 *
 * `generate()` converts openapi.yaml with openapi-to-postmanv2 (folders by tag, one request per operation,
 * with the parameter descriptions), then turns each operation into one or more runnable scenarios
 * (scripts/postman/scenarios.ts): real FHIR bodies from the OpenAPI examples, `{{baseUrl}}` and `Authorization: Bearer {{token}}`, and
 * `pm.test` assertions on statuses, headers and bodies. Ids are derived from names and the output is sorted,
 * so the committed collection is reproducible (test/unit/openapi.test.ts checks it is in sync).
 *
 * Operations marked `x-tributary-planned` in openapi.yaml (not deployed yet) go to a folder whose name starts
 * with `Planned`; `run()` skips that folder unless asked to include it. Operations marked `x-tributary-ops` (the
 * ops routes beside the FHIR base) are left out: the collection covers the FHIR API.
 *
 * This file is the CLI; the work is in scripts/postman/: `paths.ts` (the files), `assertions.ts` (the `pm.test`
 * builders and the collection-level tests), `scenarios.ts`, `generate.ts` and `run.ts` (newman). Their public
 * names are re-exported here.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from './postman/generate';
import { COLLECTION_FILE, ENVIRONMENT_FILE, ROOT } from './postman/paths';
import { run } from './postman/run';
import { startStack } from './start';
import { main as tokenMain } from './token';

export { generate } from './postman/generate';
export { COLLECTION_FILE, ENVIRONMENT_FILE, OPENAPI_FILE, PLANNED_FOLDER, ROOT } from './postman/paths';
export { run, type RunOptions, type RunSummary } from './postman/run';

type Json = Record<string, any>;

// ------------------------------------------------------------------------------------------------ CLI

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port p with p, p+1 and p+2 free (serverless-offline uses all three). */
async function freePortTriple(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if ((await isFree(p)) && (await isFree(p + 1)) && (await isFree(p + 2))) return p;
  }
  throw new Error('no free ports');
}

/** Mints a local token with scripts/token.ts (the same code as `npm run token`). */
async function mint(dataDir: string, issuer: string | undefined, source: string, scope: string): Promise<string> {
  const lines: string[] = [];
  const args = ['--source', source, '--scope', scope, '--data-dir', dataDir, ...(issuer ? ['--issuer', issuer] : [])];
  const code = await tokenMain(args, { env: process.env, stdout: (l) => lines.push(l), stderr: () => undefined });
  if (code !== 0 || lines.length === 0) throw new Error(`token minting failed (exit ${code})`);
  return lines[lines.length - 1].trim();
}

async function cli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'generate') {
    const { collection } = await generate();
    const count = (items: Json[]): number => items.reduce((n, i) => n + (i.item ? count(i.item) : 1), 0);
    console.log(`wrote ${path.relative(ROOT, COLLECTION_FILE)} (${count(collection.item)} requests) and ${path.relative(ROOT, ENVIRONMENT_FILE)}`);
    return 0;
  }
  if (command !== 'run') {
    console.error('usage: node dist/scripts/postman.js generate | run [--base-url URL --token T] [--include-planned] [--quiet] [--junit FILE]');
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      'base-url': { type: 'string' },
      token: { type: 'string' },
      'include-planned': { type: 'boolean' },
      quiet: { type: 'boolean' },
      junit: { type: 'string' },
    },
    strict: true,
  });
  const reporters = [...(values.quiet ? [] : ['cli']), ...(values.junit ? ['junit'] : [])];
  const reporter = values.junit ? { junit: { export: path.resolve(values.junit) } } : undefined;
  let stack: { baseUrl: string; stop(): Promise<void> } | undefined;
  let dataDir: string | undefined;
  try {
    let baseUrl = values['base-url'];
    let token = values.token;
    if (!baseUrl) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-newman-'));
      const port = await freePortTriple();
      const started = await startStack({ port, s3Port: await freePort(), snsPort: await freePort(), issuerPort: 0, dataDir, quiet: true } as Parameters<typeof startStack>[0]);
      stack = started;
      baseUrl = started.baseUrl;
      console.log(`stack up at ${baseUrl} (data in ${dataDir})`);
      token ??= await mint(dataDir, (started as { issuer?: string }).issuer, 'postman', 'system/*.cu');
    }
    const summary = await run({ baseUrl, token, includePlanned: values['include-planned'], reporters, reporter });
    console.log(`newman: ${summary.assertions.total} assertions, ${summary.assertions.failed} failed`);
    for (const f of summary.failures) console.log(`  ✗ ${f.item}: ${f.test}: ${f.message}`);
    return summary.assertions.failed === 0 && summary.failures.length === 0 && summary.assertions.total > 0 ? 0 : 1;
  } finally {
    if (stack) await stack.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exit(1);
    },
  );
}
