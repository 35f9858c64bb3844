/**
 * The Serverless Framework's own output (what `npm start` writes to DATA_DIR/logs/api.log):
 * - serverless-offline's per-request line keeps the method and the function but not the path
 *   (serverless-plugins/offline-request-log.cjs), through serverless-offline's real logging module;
 * - `serverless print` prints no warning about the `nodejs22.x` runtime (serverless-plugins/lambda-runtimes.cjs),
 *   while configuration validation stays on: without the plugin, or with a misspelt runtime, the warning is back.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const SERVERLESS = path.join(ROOT, 'node_modules/serverless/bin/serverless.js');
const run = promisify(execFile);

// eslint-disable-next-line @typescript-eslint/no-require-imports
const requestLog = require('../../serverless-plugins/offline-request-log.cjs') as {
  redactRequestLine(m: string): string;
  sanitize(level: string, args: unknown[]): unknown[];
};

describe('serverless-offline request lines (offline-request-log plugin)', () => {
  it.each([
    ['PUT /fhir/Patient/MRN-88812 (λ: ingest)', 'PUT (λ: ingest)'],
    ['POST /fhir (λ: ingest)', 'POST (λ: ingest)'],
    ['GET /fhir/metadata (λ: metadata)', 'GET (λ: metadata)'],
    ['Running Authorization function for PUT /fhir/Patient/MRN-1 (λ: authorizer)', 'Running Authorization function for PUT (λ: authorizer)'],
  ])('%s → %s', (line, expected) => {
    expect(requestLog.redactRequestLine(line)).toBe(expected);
  });

  it('leaves other lines alone and replaces the objects dumped at debug level', () => {
    const table = 'PUT | http://127.0.0.1:3000/fhir/{type}/{id}';
    expect(requestLog.redactRequestLine(table)).toBe(table);
    expect(requestLog.sanitize('debug', ['event:', { path: '/fhir/Patient/MRN-1' }])).toEqual(['event:', '[REDACTED]']);
    const err = new Error('x');
    expect(requestLog.sanitize('error', [err])).toEqual([err]);
  });

  it('filters the logger serverless-offline really uses (its own log module, as Serverless v3 wires it)', async () => {
    // serverless-offline is ESM: drive its src/utils/log.js in a child Node process, exactly as its HttpServer
    // does (`log.notice(\`${method} ${request.path} (λ: ${functionKey})\`)`), with and without the plugin.
    const script = (withPlugin: boolean) => `
      const { createRequire } = await import('node:module');
      const require = createRequire(${JSON.stringify(path.join(ROOT, 'package.json'))});
      const emitter = require('log/lib/emitter');
      const { getPluginWriters } = require('@serverless/utils/log');
      const lines = [];
      emitter.on('log', (e) => lines.push(e.messageTokens.map((t) => typeof t === 'string' ? t : JSON.stringify(t)).join(' ')));
      ${withPlugin ? `const P = require(${JSON.stringify(path.join(ROOT, 'serverless-plugins/offline-request-log.cjs'))}); new P();` : ''}
      const { log, setLogUtils } = await import(${JSON.stringify(path.join(ROOT, 'node_modules/serverless-offline/src/utils/log.js'))});
      setLogUtils(getPluginWriters('serverless-offline'));
      log.notice('PUT /fhir/Patient/MRN-4711 (λ: ingest)');
      log.debug('event:', { path: '/fhir/Patient/MRN-4711', body: '{}' });
      log.notice('Server ready: http://127.0.0.1:3000 🚀');
      process.stdout.write(JSON.stringify(lines));
    `;
    const out = async (withPlugin: boolean) =>
      JSON.parse((await run(process.execPath, ['--input-type=module', '-e', script(withPlugin)], { cwd: ROOT })).stdout) as string[];
    const [filtered, unfiltered] = await Promise.all([out(true), out(false)]);
    expect(filtered).toEqual(['PUT (λ: ingest)', 'event: [REDACTED]', 'Server ready: http://127.0.0.1:3000 🚀']);
    expect(unfiltered.join('\n')).toContain('MRN-4711'); // the control: without the plugin the id is printed
  });
});

describe('Serverless v3 and the nodejs22.x runtime (lambda-runtimes plugin)', () => {
  const sls = YAML.parse(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8'));

  /** `serverless print` on a copy of serverless.yml changed by `edit` (the real file when `edit` is absent). */
  async function print(edit?: (text: string) => string): Promise<string> {
    const file = edit ? `serverless-test-${process.pid}-${Math.random().toString(36).slice(2)}.yml` : 'serverless.yml';
    if (edit) fs.writeFileSync(path.join(ROOT, file), edit(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8')));
    try {
      const { stdout, stderr } = await run(process.execPath, [SERVERLESS, 'print', '--stage', 'local', '--config', file], {
        cwd: ROOT,
        env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
        maxBuffer: 16 * 1024 * 1024,
      });
      return `${stdout}\n${stderr}`;
    } finally {
      if (edit) fs.rmSync(path.join(ROOT, file), { force: true });
    }
  }

  it('keeps the runtime and configuration validation on', () => {
    expect(sls.provider.runtime).toBe('nodejs22.x');
    expect(sls.configValidationMode).toBeUndefined(); // default `warn`: not `off`
    expect(sls.plugins).toContain('./serverless-plugins/lambda-runtimes.cjs');
  });

  it('`serverless print` prints no warning about the runtime; without the plugin or with a misspelt runtime it does', async () => {
    const [real, withoutPlugin, misspelt] = await Promise.all([
      print(),
      print((t) => t.replace(/^\s*- \.\/serverless-plugins\/lambda-runtimes\.cjs\n/m, '')),
      print((t) => t.replace('runtime: nodejs22.x', 'runtime: nodejs222.x')),
    ]);
    expect(real).toContain('runtime: nodejs22.x');
    expect(real).not.toMatch(/Warning|Invalid configuration|provider\.runtime/);
    expect(withoutPlugin).toMatch(/Invalid configuration encountered\s+at 'provider\.runtime'/);
    expect(misspelt).toMatch(/Invalid configuration encountered\s+at 'provider\.runtime'/);
  }, 60_000);
});
