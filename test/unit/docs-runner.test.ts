/**
 * The runnable-documentation runner (test/docs-runner.ts): which blocks it finds, what it refuses, and that it passes a
 * working example and fails a broken one, naming the file and line. The e2e test (test/e2e/docs-examples.test.ts)
 * runs the real blocks against the real stack; here a small HTTP server on 127.0.0.1 stands in for the API.
 */
import http from 'node:http';
import path from 'node:path';
import { collectBlocks, extractRunnable, formatFailure, lintBlock, runBlocks, type DocBlock, type RunOptions } from '../docs-runner';

const ROOT = path.resolve(__dirname, '../..');
const PORT = 9431 + (Number(process.env.JEST_WORKER_ID ?? 1) % 10);

let server: http.Server;
beforeAll(async () => {
  // answers GET /fhir/metadata with a CapabilityStatement, everything else with 404
  server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/fhir/metadata') {
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end('{"resourceType":"CapabilityStatement","status":"active"}');
    } else {
      res.writeHead(404, { 'content-type': 'application/fhir+json' });
      res.end('{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}');
    }
  });
  await new Promise<void>((resolve) => server.listen(PORT, '127.0.0.1', resolve));
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const options = (extra: Partial<RunOptions> = {}): RunOptions => ({
  cwd: ROOT,
  env: { PATH: process.env.PATH },
  rewrites: [['localhost:3000', `127.0.0.1:${PORT}`]],
  timeoutMs: 20_000,
  ...extra,
});
const block = (code: string, file = 'docs/x.md', line = 1): DocBlock => ({ file, line, code });

describe('extractRunnable', () => {
  const md = [
    '# Title', // 1
    '```sh', // 2: not marked
    'echo plain',
    '```',
    '```sh runnable', // 5
    'echo one',
    '```',
    '- a list item:', // 8
    '',
    '  ```bash runnable', // 10: indented, inside a list item
    '  echo two',
    '    echo indented',
    '  ```',
    '````markdown', // 14: a longer fence shows a runnable block without being one
    '```sh runnable',
    'echo not-me',
    '```',
    '````',
    '~~~shell runnable', // 19
    'echo three',
    '~~~',
  ].join('\n');

  test('finds marked shell blocks with the line of their opening fence, and only those', () => {
    expect(extractRunnable(md, 'docs/x.md')).toEqual([
      { file: 'docs/x.md', line: 5, code: 'echo one\n' },
      { file: 'docs/x.md', line: 10, code: 'echo two\n  echo indented\n' },
      { file: 'docs/x.md', line: 19, code: 'echo three\n' },
    ]);
  });

  test('refuses "runnable" on another language and an unclosed runnable block', () => {
    expect(() => extractRunnable('```yaml runnable\na: 1\n```\n', 'docs/y.md')).toThrow('docs/y.md:1: "runnable" marks a yaml block');
    expect(() => extractRunnable('text\n```sh runnable\necho\n', 'docs/z.md')).toThrow('docs/z.md:2: runnable block is never closed');
  });
});

describe('lintBlock', () => {
  test('a curl that neither fails on an error status nor checks it is refused', () => {
    expect(lintBlock(block('curl -s "$B/metadata"\n'))).toHaveLength(1);
    expect(lintBlock(block('X=$(curl -s -X POST "$B" \\\n  -d @f.json)\n'))).toHaveLength(1);
    expect(lintBlock(block('echo start && curl -si "$B/metadata" | head\n'))).toHaveLength(1);
  });

  test('curl -f, --fail, --fail-with-body, or -w %{http_code} pass', () => {
    for (const ok of [
      'curl -sf "$B/metadata"',
      'curl -sSfi -X POST "$B/Patient" \\\n  -d "{}"',
      'curl -fsS "$B"',
      'curl --fail "$B"',
      'curl -sS --fail-with-body -X POST "$B"',
      "curl -s -o /dev/null -w '%{http_code}\\n' \"$B/x\" | grep -x 405",
      'npm run query -- "SELECT 1"',
    ]) {
      expect(lintBlock(block(ok + '\n'))).toEqual([]);
    }
  });
});

describe('runBlocks', () => {
  test('variables set by a block reach the later blocks of the same file, not the next file', async () => {
    const results = await runBlocks(
      [block('TOKEN=abc\nB=http://localhost:3000/fhir\n', 'a.md', 1), block('test "$TOKEN" = abc\necho "$B"\n', 'a.md', 5), block('test -z "${TOKEN:-}"\n', 'b.md', 1)],
      options(),
    );
    expect(results.map((r) => r.status)).toEqual(['passed', 'passed', 'passed']);
    expect(results[1]!.output).toBe(`http://127.0.0.1:${PORT}/fhir\n`);
  });

  test('a failing command in the middle of a block, or in a pipeline, fails the block', async () => {
    const [mid, pipe] = await runBlocks([block('echo before\nfalse\necho after\n', 'a.md', 3), block('false | cat\n', 'a.md', 9)], options());
    expect(mid).toMatchObject({ status: 'failed', exitCode: 1, output: 'before\n' });
    expect(pipe).toMatchObject({ status: 'failed', exitCode: 1 });
    expect(formatFailure(mid!)).toMatch(/^a\.md:3: runnable example exited 1\n {2}\| echo before\n/);
  });

  test('a block that runs too long is stopped and fails', async () => {
    const [r] = await runBlocks([block('sleep 30\n')], options({ timeoutMs: 300 }));
    expect(r).toMatchObject({ status: 'failed', timedOut: true });
    expect(formatFailure(r!)).toContain('timed out');
  });

  test("the README's metadata example passes, and fails when broken on purpose (wrong path, or --fail dropped)", async () => {
    const readme = collectBlocks(ROOT, ['README.md']);
    const metadata = readme.find((b) => b.code.includes('/metadata'));
    expect(metadata).toBeDefined();
    const setup = readme[0]!.code.includes('B=') ? block('B=http://localhost:3000/fhir\n', 'README.md', readme[0]!.line) : undefined;
    expect(setup).toBeDefined();
    const wrongPath = { ...metadata!, code: metadata!.code.replace('/metadata', '/metadatum') };
    const [, good, bad] = await runBlocks([setup!, metadata!, wrongPath], options());
    expect(good!.status).toBe('passed');
    expect(good!.output).toContain('CapabilityStatement');
    expect(bad).toMatchObject({ status: 'failed', exitCode: 22 });
    expect(formatFailure(bad!)).toContain(`README.md:${metadata!.line}: runnable example exited 22`);

    // the same broken call without --fail would exit 0 on the 404: the runner refuses it before running it
    const silent = { ...wrongPath, code: wrongPath.code.replace(/curl -sSf\b/, 'curl -sS') };
    expect(silent.code).not.toBe(wrongPath.code);
    const [refused] = await runBlocks([silent], options());
    expect(refused).toMatchObject({ status: 'failed', reason: 'lint' });
    expect(formatFailure(refused!)).toContain(`README.md:${metadata!.line}: runnable example refused`);
  });
});

test('the documentation: every runnable block is well-formed, uses the default API address only, and passes the lint', () => {
  const blocks = collectBlocks(ROOT);
  expect(blocks.length).toBeGreaterThanOrEqual(15);
  for (const b of blocks) {
    expect(lintBlock(b)).toEqual([]);
    // the runner rewrites localhost:3000 only; another port or host would reach something else
    for (const m of b.code.matchAll(/(localhost|127\.0\.0\.1):(\d+)/g)) expect(`${b.file}:${b.line} ${m[0]}`).toBe(`${b.file}:${b.line} ${m[1]}:3000`);
  }
});
