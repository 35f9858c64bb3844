/**
 * Every shell example of README.md and docs/*.md marked runnable (```` ```sh runnable ````) runs against the e2e stack,
 * in file order, as a reader would paste it into a second terminal (see docs/tests.md, "Runnable documentation", and
 * test/docs-runner.ts). A block that exits non-zero, or a `curl` that gets an unexpected status, fails this test with
 * the file, the line and the output. A positive and a negative control show the runner sees both outcomes here.
 *
 * Runs after the other e2e files (sequencer.js): the examples load the COVID-19 sample, which would change what the
 * marts tests measure over the whole catalogue.
 */
import path from 'node:path';
import { collectBlocks, formatFailure, runBlocks, type DocBlock, type RunOptions } from '../docs-runner';
import { hasShared, stack } from './helpers';

const ROOT = path.resolve(__dirname, '../..');

/** The environment of a second terminal of the e2e stack, and the rewrite of the default API address. */
function options(): RunOptions {
  const s = stack();
  const port = new URL(s.baseUrl).port;
  return {
    cwd: ROOT,
    env: {
      ...process.env,
      // what a second terminal of a stack started with this DATA_DIR needs: the stack's endpoints are found from it
      DATA_DIR: s.dataDir,
      // the same endpoints, spelt out for commands that read them from the environment
      S3_ENDPOINT: s.s3Endpoint,
      SNS_ENDPOINT: s.snsEndpoint,
      OIDC_ISSUER: s.issuer,
      // never the reader's terminal settings
      VERBOSE: undefined,
      TOKEN: undefined,
      B: undefined,
    },
    rewrites: [
      ['localhost:3000', `localhost:${port}`],
      ['127.0.0.1:3000', `127.0.0.1:${port}`],
    ],
    timeoutMs: 180_000,
    skip: (b) => (!hasShared && b.code.includes('../shared') ? 'needs ../shared, which is absent' : undefined),
  };
}

const blocks = collectBlocks(ROOT);

test('the documentation has runnable examples in the README and in docs/', () => {
  const files = new Set(blocks.map((b) => b.file));
  expect(files.has('README.md')).toBe(true);
  expect([...files].filter((f) => f.startsWith('docs/')).length).toBeGreaterThanOrEqual(3);
  expect(blocks.length).toBeGreaterThanOrEqual(15);
  // the README's example token block comes first: the calls after it depend on it
  expect(blocks[0]!.file).toBe('README.md');
  expect(blocks[0]!.code).toContain('npm run -s token');
});

test('every runnable example runs against the stack', async () => {
  const results = await runBlocks(blocks, {
    ...options(),
    onResult: (r) =>
      // eslint-disable-next-line no-console
      r.status === 'skipped' ? console.warn(`SKIPPED ${r.block.file}:${r.block.line}: ${r.reason}`) : undefined,
  });
  const failed = results.filter((r) => r.status === 'failed');
  const ran = results.filter((r) => r.status === 'passed').length;
  // eslint-disable-next-line no-console
  console.log(
    `runnable docs: ${results.length} blocks in ${new Set(results.map((r) => r.block.file)).size} files: ${ran} passed, ` +
      `${failed.length} failed, ${results.length - ran - failed.length} skipped\n` +
      results.map((r) => `  ${r.status.padEnd(7)} ${r.block.file}:${r.block.line} (${r.ms} ms)`).join('\n'),
  );
  if (failed.length > 0) throw new Error(`${failed.length} runnable example(s) failed:\n\n${failed.map((r) => formatFailure(r)).join('\n\n')}`);
  expect(ran).toBeGreaterThan(0);
}, 1_800_000);

test('controls: the runner passes a working copy of a README call and fails the same call broken on purpose', async () => {
  const metadata = blocks.find((b) => b.file === 'README.md' && b.code.includes('/metadata'));
  expect(metadata).toBeDefined();
  const setup: DocBlock = { file: 'README.md', line: 0, code: 'B=http://localhost:3000/fhir\n' };
  const broken: DocBlock = { ...metadata!, code: metadata!.code.replace('/metadata', '/metadatum') };
  const [, good, bad] = await runBlocks([setup, metadata!, broken], options());
  expect(good!.status).toBe('passed');
  expect(bad!.status).toBe('failed');
  expect(bad!.exitCode).toBe(22); // curl -f: the server answered 404
  expect(formatFailure(bad!)).toContain(`README.md:${metadata!.line}: runnable example exited 22`);
});
