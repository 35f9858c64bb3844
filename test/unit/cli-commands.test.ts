/**
 * The command-line tools as a user runs them (built `dist/scripts/*.js`, in a child process with an environment
 * holding only PATH, HOME and DATA_DIR): `--help` exits 0 with the usage on stdout; with the local stack down,
 * each command that needs it prints ONE line and exits non-zero; a store failure is one line too, and no command
 * prints the AWS SDK's Node-version notice.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { writeStackFile } from '../../scripts/stack-file';

const ROOT = path.resolve(__dirname, '../..');
const script = (name: string): string => path.join(ROOT, 'dist/scripts', `${name}.js`);
const SDK_NOTICE = /NodeVersionSupportWarning|AWS SDK for JavaScript \(v3\)/;

let dataDir: string;
beforeAll(() => {
  if (!fs.existsSync(script('cli'))) throw new Error('dist/scripts/cli.js missing: run `npm run build`');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-commands-'));
});
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

/** Runs a built CLI with only PATH, HOME and DATA_DIR (plus `extra`). */
function cli(name: string, args: string[], extra: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [script(name), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), DATA_DIR: dataDir, ...extra },
  });
}
const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim());

const ALL = ['triage', 'reidentify', 'query', 'compact', 'etl-replay', 'audit-verify', 'token', 'start'];
const NEED_STACK: [string, string[]][] = [
  ['triage', ['list']],
  ['reidentify', ['p-abc']],
  ['compact', ['observation']],
  ['etl-replay', []],
];

test.each(ALL)('%s --help: exit 0, the usage on stdout, nothing on stderr', (name) => {
  for (const flag of ['--help', '-h']) {
    const r = cli(name, [flag]);
    expect({ name, flag, status: r.status, stderr: r.stderr }).toEqual({ name, flag, status: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: npm (run [\w:-]+|start)/);
  }
});

test.each(NEED_STACK)('%s with the stack down: one line on stderr, exit 1', (name, args) => {
  const r = cli(name, args);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(lines(r.stderr)).toEqual([`${name}: the local stack is not running (no ${path.join(dataDir, 'stack.json')}): start it with \`npm start\` in another terminal`]);
});

test('a stack.json left by a stopped stack is reported as such, in one line', () => {
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  writeStackFile({
    version: 1,
    instanceId: 'gone',
    pid: dead,
    processes: { api: dead, s3: dead },
    apiBaseUrl: 'http://localhost:1/fhir',
    s3Endpoint: 'http://127.0.0.1:1',
    snsEndpoint: 'http://127.0.0.1:1',
    issuer: 'http://127.0.0.1:1',
    jwksUri: 'http://127.0.0.1:1/jwks.json',
    dataDir,
    logs: { api: '', s3: '' },
    startedAt: new Date().toISOString(),
  });
  try {
    for (const [name, args] of NEED_STACK) {
      const r = cli(name, args);
      expect(r.status).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^${name}: the local stack is not running \\(.*stack\\.json is left from pid ${dead}, which has exited\\)`))]);
    }
  } finally {
    fs.rmSync(path.join(dataDir, 'stack.json'), { force: true });
  }
});

test('commands that read files only work without the stack', () => {
  const q = cli('query', ['--tables']);
  expect(q.status).toBe(0);
  expect(q.stdout).toMatch(/^no tables yet/);
  const a = cli('audit-verify', []);
  expect(a.status).toBe(0);
  expect(a.stdout).toMatch(/^audit trail OK: 0 record\(s\) in 0 chain\(s\), 0 anchor\(s\)/m);
});

describe('against a "stack" whose S3 endpoint refuses every request (403)', () => {
  let server: http.Server;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access Denied by the test</Message></Error>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    writeStackFile({
      version: 1,
      instanceId: 'fake',
      pid: process.pid,
      processes: { api: process.pid, s3: process.pid },
      apiBaseUrl: `${url}/fhir`,
      s3Endpoint: url,
      snsEndpoint: url,
      issuer: url,
      jwksUri: `${url}/jwks.json`,
      dataDir,
      logs: { api: '', s3: '' },
      startedAt: new Date().toISOString(),
    });
  });
  afterAll(async () => {
    fs.rmSync(path.join(dataDir, 'stack.json'), { force: true });
    await new Promise((r) => server.close(r));
  });

  test('triage list: the store error in one line, exit 1; no token settings needed; no SDK notice', async () => {
    // spawnSync would block the fake server's event loop: run asynchronously
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
      const child = spawn(process.execPath, [script('triage'), 'list'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), DATA_DIR: dataDir },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
    expect(r.status).toBe(1);
    expect(lines(r.stderr)).toEqual(['triage: Access Denied by the test']);
    expect(r.stderr).not.toMatch(SDK_NOTICE);
    expect(r.stderr).not.toContain('OIDC_ISSUER');
  });

  test('control: the SDK notice does appear on Node < 22 when its switch is explicitly off', async () => {
    const major = Number(process.versions.node.split('.')[0]);
    const r = await new Promise<string>((resolve) => {
      const { spawn } = require('node:child_process') as typeof import('node:child_process');
      const child = spawn(process.execPath, [script('triage'), 'list'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), DATA_DIR: dataDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', () => resolve(stderr));
    });
    if (major < 22) expect(r).toMatch(SDK_NOTICE);
    else expect(r).not.toMatch(SDK_NOTICE);
  });
});
