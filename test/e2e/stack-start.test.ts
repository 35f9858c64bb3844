/**
 * `npm start` fails loudly: with the API port held by another HTTP server it exits non-zero within 15 s naming
 * `PORT` (and leaves that server alone); with the S3 port held, naming `S3_PORT`; and when its S3 server is
 * killed under a running stack, it stops the rest and exits non-zero with the S3 server's last log lines.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { BASE, bareEnv, npmStart } from './stack-helpers';

const PORTS = { PORT: BASE + 20, S3_PORT: BASE + 30, SNS_PORT: BASE + 31, ISSUER_PORT: BASE + 32 };

/** An HTTP server that is not Tributary, answering 200 to everything. */
async function otherServer(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"resourceType":"CapabilityStatement","note":"not tributary"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return server;
}

let dataDir: string;
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-stack-start-'));
});
afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

test.each([
  ['PORT', PORTS.PORT],
  ['S3_PORT', PORTS.S3_PORT],
])('a port held by another HTTP server (%s): exit non-zero within 15 s, naming the variable', async (variable, port) => {
  const other = await otherServer(port);
  const start = npmStart(bareEnv({ ...PORTS, DATA_DIR: dataDir }));
  try {
    const end = await Promise.race([start.exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000).unref())]);
    expect(end).toBeDefined();
    expect(end!.code).not.toBe(0);
    expect(end!.ms).toBeLessThan(15_000);
    expect(start.output()).toContain(`npm start: port ${port} (${variable}) is in use by another program`);
    expect(start.output()).not.toContain('Tributary is ready');
    expect(fs.existsSync(path.join(dataDir, 'stack.json'))).toBe(false);
    // the other server still answers, untouched
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).json()).toMatchObject({ note: 'not tributary' });
  } finally {
    await start.stop();
    await new Promise((r) => other.close(r));
  }
});

test('the S3 server killed under a running stack: npm start stops the rest and exits non-zero', async () => {
  const start = npmStart(bareEnv({ ...PORTS, DATA_DIR: dataDir }));
  try {
    await start.ready();
    const info = JSON.parse(fs.readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
    process.kill(info.processes.s3, 'SIGKILL');
    const end = await Promise.race([start.exit, new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000).unref())]);
    expect(end).toBeDefined();
    expect(end!.code).not.toBe(0);
    expect(start.output()).toMatch(/Tributary stopped: the S3 server \(s3rver\) was killed \(SIGKILL\); stopping the rest\.\nLast lines of .*s3\.log:/);
    expect(fs.existsSync(path.join(dataDir, 'stack.json'))).toBe(false);
    // the rest is stopped: the API process is gone and its port free
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(info.processes.api)).toBe(false);
    expect(alive(info.pid)).toBe(false);
    await expect(fetch(`http://127.0.0.1:${PORTS.PORT}/fhir/metadata`)).rejects.toThrow();
  } finally {
    await start.stop();
  }
});
