/**
 * `POST /ops/analyses/{id}/run` (src/handlers/analysis.ts) in process: the analyst or operator scope is needed,
 * a missing token is 401 with a challenge, refusals are OperationOutcomes naming the rule, a run returns the
 * release record and the released table; every refusal (the token's too) is audited.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { createAnalysisHandler } from '../../src/handlers/analysis';
import { buildAnalysisApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/config';
import { TokenError, type Principal, type TokenVerifier } from '../../src/core/auth';
import { approveAnalysis, type MartQuery } from '../../src/core/analysis';
import type { AuditEntry } from '../../src/core/ports';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'analysis-handler-'));
const registry = path.join(dir, 'analyses');
fs.mkdirSync(registry);
fs.writeFileSync(path.join(registry, 'wards.sql'), 'SELECT ward, count(*) AS n FROM encounter GROUP BY ward');
fs.writeFileSync(path.join(registry, 'wards.yaml'), 'id: wards\npurpose: Wards\nstudy: ops\noutput: aggregate\n');
fs.writeFileSync(path.join(registry, 'draft.sql'), 'SELECT 1 AS n');
fs.writeFileSync(path.join(registry, 'draft.yaml'), 'id: draft\npurpose: Draft\nstudy: ops\noutput: aggregate\n');
fs.writeFileSync(path.join(registry, 'studies.yaml'), 'studies:\n  ops: {}\n');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const audit: AuditEntry[] = [];
const marts: MartQuery = { run: async () => ({ columns: ['ward', 'n'], rows: [{ ward: 'A', n: 3 }, { ward: 'B', n: 48 }] }) };
const principal = (scope: string): Principal => ({ source: 'console', clientId: 'console-client', subject: 'ann', scope, scopes: [] });
const verifier: TokenVerifier = {
  verify: async (h) => {
    if (!h) throw new TokenError('missing', 'Missing bearer token');
    return principal(h.replace(/^Bearer /, ''));
  },
};
const config = loadConfig({ TRIBUTARY_RUNTIME: 'local', DATA_DIR: path.join(dir, 'data'), ANALYSES_DIR: registry, AUTH: 'on', OIDC_ISSUER: 'https://issuer.example' });
const app = buildAnalysisApp(config, { marts, audit: { append: async (e) => void audit.push(e) } });
const handler = createAnalysisHandler({ config, verifier, app: () => app });

const event = (id: string, token?: string): APIGatewayProxyEvent =>
  ({ httpMethod: 'POST', path: `/ops/analyses/${id}/run`, pathParameters: { id }, headers: token ? { Authorization: `Bearer ${token}` } : {}, requestContext: { requestId: 'req-12345678' } }) as unknown as APIGatewayProxyEvent;
const outcome = (body: string): { code: string; diagnostics: string } => JSON.parse(body).issue[0];

beforeAll(async () => {
  await approveAnalysis((await app).deps, { id: 'wards', by: 'Dee Guardian', who: 'dee' });
  audit.length = 0;
});

test('an analyst runs an approved analysis: 200 with the release record and the checked table', async () => {
  const r = await handler(event('wards', 'tributary/analysis.run'));
  expect(r.statusCode).toBe(200);
  expect(r.headers).toMatchObject({ 'Content-Type': 'application/json; charset=utf-8', 'X-Request-Id': 'req-12345678' });
  const body = JSON.parse(r.body);
  expect(body.rows).toEqual([{ ward: 'A', n: '[REDACTED]' }, { ward: 'B', n: 50 }]);
  expect(body.release).toMatchObject({ analysis: 'wards', releasedBy: 'ann (client console-client)', cellsRedacted: 1 });
  expect(body.written).toHaveLength(3);
  expect(audit.map((a) => `${(a.subtype as any)[0].code} ${a.outcome}`)).toEqual(['analysis-run 0', 'analysis-release 0']);
  expect(JSON.stringify(audit)).toContain('req-12345678');
  // operators may run approved analyses too
  expect((await handler(event('wards', 'tributary/operator system/*.read'))).statusCode).toBe(200);
});

test('without the analyst or operator scope: 403; without a token: 401 with a challenge; both audited', async () => {
  audit.length = 0;
  const writer = await handler(event('wards', 'system/Patient.write'));
  expect(writer.statusCode).toBe(403);
  expect(outcome(writer.body).diagnostics).toMatch(/needs the scope tributary\/analysis\.run/);
  const none = await handler(event('wards'));
  expect(none.statusCode).toBe(401);
  expect(none.headers?.['WWW-Authenticate']).toMatch(/^Bearer/);
  expect(audit.map((a) => a.outcomeDesc)).toEqual(['refused by rule authorisation', 'refused by rule authorisation']);
});

test('an unapproved analysis is 403 and an unknown one 404, each naming the rule', async () => {
  const draft = await handler(event('draft', 'tributary/analysis.run'));
  expect(draft.statusCode).toBe(403);
  expect(outcome(draft.body)).toMatchObject({ code: 'forbidden', diagnostics: expect.stringMatching(/^refused by rule approval-missing/) });
  const unknown = await handler(event('nope', 'tributary/analysis.run'));
  expect(unknown.statusCode).toBe(404);
  expect(outcome(unknown.body).diagnostics).toMatch(/^refused by rule analysis-unknown/);
});
