/**
 * The OpenAPI contract (openapi.yaml): it lints clean with Redocly (recommended-strict, see redocly.yaml), it
 * documents every route serverless.yml deploys (and marks the not-yet-deployed ones as planned), the response
 * validator used by the e2e suites accepts the documented examples and rejects departures, and the committed
 * Postman collection is exactly what `node dist/scripts/postman.js generate` produces from it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { openApiProblems, operations, templateFor } from '../e2e/openapi-validator';
import { COLLECTION_FILE, ENVIRONMENT_FILE, PLANNED_FOLDER, generate } from '../../scripts/postman';

const ROOT = path.resolve(__dirname, '../..');
const OPENAPI = path.join(ROOT, 'openapi.yaml');
const doc = YAML.parse(fs.readFileSync(OPENAPI, 'utf8'));
type Json = Record<string, any>;

/** Runs `redocly lint` (the CLI bundles its engine: @redocly/openapi-core is not importable separately). */
function lint(file: string): { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] } {
  let out: string;
  try {
    out = execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules/@redocly/cli/bin/cli.js'), 'lint', file, '--format=json', '--config', path.join(ROOT, 'redocly.yaml')],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } },
    );
  } catch (err) {
    out = (err as { stdout?: string }).stdout ?? ''; // exit code 1 when there are errors; the report is still on stdout
  }
  return JSON.parse(out.slice(out.indexOf('{')));
}

/** `fhir/{type}` → `/{type}` (openapi.yaml paths are relative to the FHIR base /fhir). */
const toOpenApiPath = (p: string): string => '/' + p.replace(/^\/?fhir\/?/, '');

function serverlessRoutes(): { fn: string; method: string; path: string }[] {
  const sls = YAML.parse(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8'));
  const out: { fn: string; method: string; path: string }[] = [];
  for (const [fn, def] of Object.entries<Json>(sls.functions ?? {})) {
    for (const ev of def.events ?? []) if (ev.http) out.push({ fn, method: String(ev.http.method).toUpperCase(), path: String(ev.http.path) });
  }
  return out;
}

describe('openapi.yaml lint', () => {
  test('Redocly lint (recommended-strict): no errors, no warnings', () => {
    const r = lint(OPENAPI);
    expect(r.problems.map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`)).toEqual([]);
    expect(r.totals).toMatchObject({ errors: 0, warnings: 0 });
  }, 60_000);

  test('the lint does catch a broken contract (an example that breaks its schema, an undefined $ref)', () => {
    const broken = structuredClone(doc);
    broken.components.examples.Outcome412.value.issue[0].severity = 'catastrophic';
    broken.paths['/{type}'].post.responses['418'] = { $ref: '#/components/responses/Teapot' };
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oa-lint-'));
    const file = path.join(dir, 'openapi.yaml');
    fs.writeFileSync(file, YAML.stringify(broken));
    const r = lint(file);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.totals.errors).toBeGreaterThanOrEqual(2);
    const rules = r.problems.map((p) => p.ruleId);
    expect(rules).toContain('no-invalid-media-type-examples');
    expect(rules).toContain('no-unresolved-refs');
  }, 60_000);
});

describe('openapi.yaml ↔ serverless.yml', () => {
  const routes = serverlessRoutes();
  const ops = operations();

  test('serverless.yml declares the expected kinds of routes', () => {
    expect(routes.length).toBeGreaterThanOrEqual(5);
    expect(routes.some((r) => r.path.includes('{proxy+}'))).toBe(true);
  });

  test('every route declared in serverless.yml is documented, with the handler that serves it', () => {
    for (const r of routes.filter((x) => !x.path.includes('{proxy+}'))) {
      const p = toOpenApiPath(r.path);
      const methods = r.method === 'ANY' ? ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] : [r.method];
      for (const m of methods) {
        const op = ops.find((o) => o.path === p && o.method === m);
        expect({ route: `${m} ${r.path}`, documented: Boolean(op) }).toEqual({ route: `${m} ${r.path}`, documented: true });
        expect({ route: `${m} ${r.path}`, fn: op!.operation['x-serverless-function'] }).toEqual({ route: `${m} ${r.path}`, fn: r.fn });
      }
    }
  });

  test('the catch-all route ({proxy+}) is documented by the refused interactions (405/404, Allow header)', () => {
    const proxy = routes.find((r) => r.path.includes('{proxy+}'))!;
    const refused = ops.filter((o) => o.operation['x-serverless-function'] === proxy.fn);
    expect(refused.map((o) => `${o.method} ${o.path}`).sort()).toEqual(
      [
        'DELETE /{type}',
        'DELETE /{type}/{id}',
        'GET /',
        'GET /{type}',
        'GET /{type}/{id}',
        'GET /{type}/{id}/_history',
        'GET /{type}/{id}/_history/{vid}',
        'PATCH /{type}/{id}',
        'POST /{type}/{id}',
        'PUT /{type}',
      ].sort(),
    );
    for (const o of refused) {
      expect(Object.keys(o.operation.responses)).toEqual(expect.arrayContaining(['405']));
      const r405 = doc.components.responses.MethodNotAllowed;
      expect(o.operation.responses['405'].$ref).toBe('#/components/responses/MethodNotAllowed');
      expect(r405.headers.Allow).toBeDefined();
      expect(o.operation.security).toEqual([]); // no authorizer on the catch-all
    }
  });

  test('an operation not served by the catch-all is deployed, or marked x-tributary-planned until it is', () => {
    const proxyFn = routes.find((r) => r.path.includes('{proxy+}'))!.fn;
    for (const o of ops.filter((x) => x.operation['x-serverless-function'] !== proxyFn)) {
      const deployed = routes.some((r) => toOpenApiPath(r.path) === o.path && (r.method === o.method || r.method === 'ANY'));
      expect({ op: o.operation.operationId, deployedOrPlanned: deployed !== (o.operation['x-tributary-planned'] === true) }).toEqual({
        op: o.operation.operationId,
        deployedOrPlanned: true,
      });
    }
  });

  test('writes need the bearer token; metadata and refused interactions do not', () => {
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    expect(doc.security).toEqual([{ bearer: [] }]);
    for (const o of ops) {
      const open = o.operation.security !== undefined && o.operation.security.length === 0;
      const fn = o.operation['x-serverless-function'];
      expect({ op: o.operation.operationId, open }).toEqual({ op: o.operation.operationId, open: fn === 'metadata' || fn === 'notAllowed' });
      if (!open) expect(Object.keys(o.operation.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  test('write operations document every error status, each an OperationOutcome', () => {
    const IMPORT_OPS = ['bulkImport', 'bulkImportStatus']; // served by the ingest function, checked below
    const writes = ops.filter((o) => ['ingest', 'validate'].includes(o.operation['x-serverless-function']) && !IMPORT_OPS.includes(o.operation.operationId));
    expect(writes.map((o) => o.operation.operationId).sort()).toEqual(['batchOrTransaction', 'create', 'update', 'validate', 'validateAny']);
    for (const o of ops.filter((x) => IMPORT_OPS.includes(x.operation.operationId))) {
      expect(o.operation['x-serverless-function']).toBe('ingest');
      expect(Object.keys(o.operation.responses)).toEqual(expect.arrayContaining(['202', '401', '403', '500']));
      for (const s of Object.keys(o.operation.responses).filter((x) => Number(x) >= 400)) {
        expect(doc.components.responses[o.operation.responses[s].$ref.split('/').pop()!].content['application/fhir+json'].schema.$ref).toBe('#/components/schemas/OperationOutcome');
      }
    }
    for (const o of writes.filter((x) => x.operation['x-serverless-function'] === 'ingest')) {
      const statuses = Object.keys(o.operation.responses);
      expect(statuses).toEqual(expect.arrayContaining(['400', '401', '403', '413', '415', '422', '429', '500']));
      for (const s of statuses.filter((x) => Number(x) >= 400)) {
        const ref: string = o.operation.responses[s].$ref;
        const r = doc.components.responses[ref.split('/').pop()!];
        expect(r.content['application/fhir+json'].schema.$ref).toBe('#/components/schemas/OperationOutcome');
      }
    }
    expect(Object.keys(doc.paths['/{type}/{id}'].put.responses)).toEqual(expect.arrayContaining(['200', '201', '409', '412']));
    expect(Object.keys(doc.paths['/{type}'].post.responses)).toEqual(expect.arrayContaining(['201', '404']));
  });
});

describe('response validator (test/e2e/openapi-validator.ts)', () => {
  const okHeaders = {
    'Content-Type': 'application/fhir+json; charset=utf-8',
    'X-Request-Id': '5705a4eb-c10f-48f1-85b4-9cc9021c8d0f',
    Location: 'http://localhost:3000/fhir/Patient/3f0d7b8e-8a0e-4a43-9a57-4d2f5e6b1c2d/_history/1',
    ETag: 'W/"1"',
    'Last-Modified': 'Sun, 22 Nov 2026 04:43:59 GMT',
    Allow: 'POST, PUT',
    'WWW-Authenticate': 'Bearer realm="tributary"',
  };

  test('maps concrete paths to templates, literal segments first', () => {
    expect(templateFor('/Patient/123')).toBe('/{type}/{id}');
    expect(templateFor('/fhir/Patient/123/_history/2')).toBe('/{type}/{id}/_history/{vid}');
    expect(templateFor('/Observation/$validate')).toBe('/{type}/$validate');
    expect(templateFor('/$validate')).toBe('/$validate');
    expect(templateFor('/metadata')).toBe('/metadata');
    expect(templateFor('')).toBe('/');
    expect(templateFor('/Patient?family=x')).toBe('/{type}');
    expect(templateFor('/a/b/c/d/e')).toBeUndefined();
  });

  test('every documented response example passes the validator it documents', () => {
    let checked = 0;
    for (const o of operations()) {
      for (const [status, raw] of Object.entries<Json>(o.operation.responses)) {
        const r = raw.$ref ? doc.components.responses[raw.$ref.split('/').pop()] : raw;
        for (const ex of Object.values<Json>(r.content?.['application/fhir+json']?.examples ?? {})) {
          const value = ex.$ref ? doc.components.examples[ex.$ref.split('/').pop()].value : ex.value;
          expect(openApiProblems(o.method, o.path, Number(status), okHeaders, JSON.stringify(value))).toEqual([]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(80);
  });

  test('reports an undocumented status, a missing required header, a bad header and a body off-schema', () => {
    const patient = doc.components.examples.StoredPatient.value;
    expect(openApiProblems('GET', '/metadata', 201, okHeaders, '')[0]).toMatch(/status 201 is not documented/);
    expect(openApiProblems('PATCH', '/metadata', 200, okHeaders, '')[0]).toMatch(/method is not documented/);
    const { Location: _l, ...noLocation } = okHeaders;
    expect(openApiProblems('POST', '/Patient', 201, noLocation, patient)).toEqual([expect.stringMatching(/required header Location is missing/)]);
    expect(openApiProblems('POST', '/Patient', 201, { ...okHeaders, ETag: '"1"' }, patient)).toEqual([expect.stringMatching(/header ETag/)]);
    expect(openApiProblems('GET', '/Patient/1', 405, { ...okHeaders, Allow: 'GET' }, doc.components.examples.Outcome405.value)).toEqual([
      expect.stringMatching(/header Allow/),
    ]);
    const { meta: _m, ...unstored } = patient;
    expect(openApiProblems('POST', '/Patient', 201, okHeaders, unstored)[0]).toMatch(/body does not match/);
    expect(openApiProblems('POST', '/Patient', 400, okHeaders, { resourceType: 'OperationOutcome', issue: [] })[0]).toMatch(/body does not match/);
    expect(openApiProblems('POST', '/Patient', 400, okHeaders, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'oops' }] })[0]).toMatch(
      /body does not match/,
    );
    expect(openApiProblems('POST', '/Patient', 400, okHeaders, '{"resourceType":')[0]).toMatch(/not JSON/);
    expect(openApiProblems('POST', '/Patient', 400, okHeaders, '')[0]).toMatch(/body is empty/);
    expect(openApiProblems('POST', '/Patient', 400, { ...okHeaders, 'Content-Type': 'text/html' }, doc.components.examples.Outcome400.value)[0]).toMatch(
      /Content-Type 'text\/html' is not documented/,
    );
    expect(openApiProblems('POST', '/Patient', 401, { 'X-Request-Id': okHeaders['X-Request-Id'] }, doc.components.examples.Outcome401.value)).toEqual([
      expect.stringMatching(/required header WWW-Authenticate is missing/),
    ]);
  });

  test('an empty body passes only where Prefer: return=minimal allows it', () => {
    expect(openApiProblems('POST', '/Patient', 201, okHeaders, '')).toEqual([]);
    expect(openApiProblems('PUT', '/Patient/x', 200, okHeaders, '')).toEqual([]);
    expect(openApiProblems('POST', '/', 200, okHeaders, '')).toEqual([expect.stringMatching(/body is empty/)]);
  });
});

describe('Postman collection (postman/)', () => {
  const committed = JSON.parse(fs.readFileSync(COLLECTION_FILE, 'utf8'));
  const items = (c: Json): Json[] => (c.item as Json[]).flatMap((f) => (f.item ? f.item.map((i: Json) => ({ ...i, folder: f.name })) : []));

  test('is in sync with openapi.yaml: regenerating gives the committed files byte for byte', async () => {
    const { collection, environment } = await generate({ write: false });
    expect(JSON.stringify(collection, null, 2) + '\n').toBe(fs.readFileSync(COLLECTION_FILE, 'utf8'));
    expect(JSON.stringify(environment, null, 2) + '\n').toBe(fs.readFileSync(ENVIRONMENT_FILE, 'utf8'));
  }, 60_000);

  test('every operation has a request (method and path), deployed ones outside the planned folder', () => {
    const all = items(committed);
    for (const o of operations().filter((x) => !x.operation['x-tributary-ops'])) {
      const mine = all.filter((i) => i.request.description.startsWith(`operationId: ${o.operation.operationId}\n`));
      expect({ op: o.operation.operationId, requests: mine.length > 0 }).toEqual({ op: o.operation.operationId, requests: true });
      for (const i of mine) {
        expect(i.request.method).toBe(o.method);
        expect(templateFor('/' + (i.request.url.path ?? []).map((s: string) => (s.startsWith(':') ? 'x' : s)).join('/'))).toBe(o.path);
        expect(i.folder === PLANNED_FOLDER).toBe(o.operation['x-tributary-planned'] === true);
      }
    }
  });

  test('requests use {{baseUrl}} and Bearer {{token}}; every request asserts its status', () => {
    expect(committed.auth).toEqual({ type: 'bearer', bearer: [{ key: 'token', value: '{{token}}', type: 'string' }] });
    const all = items(committed);
    expect(all.length).toBeGreaterThan(30);
    let tests = 0;
    for (const i of all) {
      expect(i.request.url.host).toEqual(['{{baseUrl}}']);
      const exec: string[] = i.event.find((e: Json) => e.listen === 'test').script.exec;
      expect(exec[0]).toMatch(/^pm\.test\('status is \d{3}', function \(\) \{ pm\.response\.to\.have\.status\(\d{3}\); \}\);$/);
      tests += exec.filter((l) => l.startsWith('pm.test(')).length;
    }
    expect(tests).toBeGreaterThan(60);
    const env = JSON.parse(fs.readFileSync(ENVIRONMENT_FILE, 'utf8'));
    expect(Object.fromEntries(env.values.map((v: Json) => [v.key, v.value]))).toEqual({ baseUrl: 'http://localhost:3000/fhir', token: '' });
  });

  test('request bodies taken from openapi.yaml examples are the examples (with run variables)', () => {
    const tx = items(committed).find((i) => i.name.startsWith('Transaction with urn:uuid'))!;
    expect(JSON.parse(tx.request.body.raw)).toEqual(doc.components.examples.TransactionBundle.value);
    expect(tx.request.body.raw).toContain('urn:uuid:');
  });
});
