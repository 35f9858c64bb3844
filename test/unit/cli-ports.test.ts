/**
 * `npm start`'s port checks (scripts/ports.ts) and the endpoints file (scripts/stack-file.ts): a port held on
 * 127.0.0.1, on ::1 or on every address is refused naming its variable; a free port passes; the stack file is
 * written, read, removed only by its own instance, and a stale or silent stack is reported in one line.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { checkPorts, PortError, portProblem, portSetting } from '../../scripts/ports';
import { readStackFile, removeStackFile, runningStack, StackDownError, stackEnv, stackFile, writeStackFile, type StackInfo } from '../../scripts/stack-file';
import { cliEnv } from '../../scripts/cli';

/** Listens on `host` (port 0: the system picks) and resolves to the server and its port. */
function hold(host: string, port = 0): Promise<{ server: net.Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve({ server, port: (server.address() as net.AddressInfo).port }));
  });
}
const close = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()));
const hasIpv6 = Object.values(os.networkInterfaces()).some((l) => l?.some((i) => i.family === 'IPv6' && i.internal));

describe('checkPorts', () => {
  test('a port held on 127.0.0.1 is refused, naming the variable to change', async () => {
    const { server, port } = await hold('127.0.0.1');
    try {
      const err = await checkPorts([{ port, name: 'S3_PORT', variable: 'S3_PORT', what: 'the S3 server' }]).catch((e) => e);
      expect(err).toBeInstanceOf(PortError);
      expect(err.variable).toBe('S3_PORT');
      expect(err.message).toMatch(new RegExp(`^port ${port} \\(S3_PORT\\) is in use by another program: .*S3_PORT=\\d+ npm start$`));
    } finally {
      await close(server);
    }
    // released: now free
    await expect(checkPorts([{ port, name: 'S3_PORT', variable: 'S3_PORT', what: 'the S3 server' }])).resolves.toBeUndefined();
  });

  test('a port held on every address (0.0.0.0) is refused', async () => {
    const { server, port } = await hold('0.0.0.0');
    try {
      expect(await portProblem(port)).toBe('EADDRINUSE');
    } finally {
      await close(server);
    }
  });

  // skipped where the machine has no IPv6 loopback: a port cannot be held on ::1 there
  (hasIpv6 ? test : test.skip)('a port held on ::1 only (where "localhost" may go first) is refused', async () => {
    const { server, port } = await hold('::1');
    try {
      expect(await portProblem(port)).toBe('EADDRINUSE');
    } finally {
      await close(server);
    }
  });

  test('PORT+1 held: the message names the port and says to change PORT', async () => {
    const { server, port } = await hold('127.0.0.1');
    try {
      const err = await checkPorts([
        { port: port - 1, name: 'PORT', variable: 'PORT', what: 'the API' },
        { port, name: 'PORT+1', variable: 'PORT', what: "serverless-offline's websocket port" },
      ]).catch((e) => e);
      // port - 1 may itself be taken by something else on a busy machine; either way PORT is named
      expect(err).toBeInstanceOf(PortError);
      expect(err.variable).toBe('PORT');
      expect(err.message).toMatch(/\(PORT(\+1, serverless-offline's websocket port)?\)/);
    } finally {
      await close(server);
    }
  });

  test('two settings on one port are refused before any listening', async () => {
    const err = await checkPorts([
      { port: 4100, name: 'PORT', variable: 'PORT', what: 'the API' },
      { port: 4100, name: 'SNS_PORT', variable: 'SNS_PORT', what: 'the SNS endpoint' },
    ]).catch((e) => e);
    expect(err).toBeInstanceOf(PortError);
    expect(err.message).toBe('PORT and SNS_PORT are both port 4100: give SNS_PORT another value');
  });

  test('portSetting: default when unset, the value when valid, an error naming the variable otherwise', () => {
    expect(portSetting({}, 'PORT', 3000)).toBe(3000);
    expect(portSetting({ PORT: '3100' }, 'PORT', 3000)).toBe(3100);
    expect(() => portSetting({ S3_PORT: 'abc' }, 'S3_PORT', 4569)).toThrow('S3_PORT=abc is not a TCP port (1-65535)');
    expect(() => portSetting({ PORT: '70000' }, 'PORT', 3000)).toThrow(PortError);
  });
});

describe('stack.json', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stack-file-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const info = (over: Partial<StackInfo> = {}): StackInfo => ({
    version: 1,
    instanceId: 'i-1',
    pid: process.pid,
    processes: { api: 1, s3: 2 },
    apiBaseUrl: 'http://localhost:1/fhir',
    s3Endpoint: 'http://127.0.0.1:1',
    snsEndpoint: 'http://127.0.0.1:1',
    issuer: 'http://127.0.0.1:1',
    jwksUri: 'http://127.0.0.1:1/jwks.json',
    dataDir: dir,
    logs: { api: 'a', s3: 'b' },
    startedAt: new Date().toISOString(),
    ...over,
  });

  test('written and read back; removed only by the instance that wrote it', () => {
    const written = info();
    writeStackFile(written);
    expect(readStackFile(dir)).toEqual(written);
    expect(fs.statSync(stackFile(dir)).mode & 0o777).toBe(0o600);
    removeStackFile(dir, 'another-instance');
    expect(fs.existsSync(stackFile(dir))).toBe(true);
    removeStackFile(dir, 'i-1');
    expect(fs.existsSync(stackFile(dir))).toBe(false);
  });

  test('no file, a dead pid, a silent endpoint: each a one-line StackDownError', async () => {
    const down = async (): Promise<StackDownError> => runningStack(dir).then(() => { throw new Error('expected a StackDownError'); }, (e) => e);
    let e = await down();
    expect(e).toBeInstanceOf(StackDownError);
    expect(e.message).toMatch(/^the local stack is not running \(no .*stack\.json\): start it with `npm start` in another terminal$/);

    const { execFileSync } = await import('node:child_process');
    const deadPid = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    writeStackFile(info({ pid: deadPid }));
    e = await down();
    expect(e.message).toContain(`left from pid ${deadPid}, which has exited`);

    const { server, port } = await hold('127.0.0.1');
    await close(server); // a port nobody listens on
    writeStackFile(info({ s3Endpoint: `http://127.0.0.1:${port}` }));
    e = await down();
    expect(e.message).toMatch(new RegExp(`does not answer: its S3 endpoint http://127.0.0.1:${port} refuses connections`));
    for (const m of [e.message]) expect(m).not.toContain('\n');
  });

  test('a running stack gives the ops commands its endpoints, the local runtime and no token verification', async () => {
    const { server, port } = await hold('127.0.0.1');
    try {
      const url = `http://127.0.0.1:${port}`;
      writeStackFile(info({ s3Endpoint: url, snsEndpoint: url }));
      const env = await cliEnv(true, { DATA_DIR: dir, OIDC_ISSUER: '', PATH: '/bin' });
      expect(env).toMatchObject({ TRIBUTARY_RUNTIME: 'local', DATA_DIR: dir, S3_ENDPOINT: url, SNS_ENDPOINT: url, AUTH: 'off', PATH: '/bin' });
      expect(stackEnv(info(), {}).AUTH).toBe('off');
      // the aws runtime never looks for a local stack
      expect(await cliEnv(true, { TRIBUTARY_RUNTIME: 'aws', DATA_DIR: path.join(dir, 'none') })).toMatchObject({ TRIBUTARY_RUNTIME: 'aws', AUTH: 'off' });
    } finally {
      await close(server);
    }
  });
});
