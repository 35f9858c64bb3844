/**
 * The operations console's server side (issue 16), in process: ETL job records (use case, file and DynamoDB
 * adapters), ingest activity and data quality from audit records, the catalogue, the ops handler (operator scope,
 * one audit record per request, routes = serverless.yml) and the local issuer's development login (code + PKCE).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDBClient, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import YAML from 'yaml';
import { decodeJwt } from 'jose';
import { DynamoDbJobLog } from '../../src/adapters/aws/dynamodb-job-log';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { queueUrlOf, SqsDeadLetters } from '../../src/adapters/aws/sqs-dead-letters';
import { FileJobLog } from '../../src/adapters/local/file-job-log';
import { startLocalIssuer } from '../../src/adapters/local/issuer';
import { buildAuditEvent } from '../../src/core/audit/event';
import { activityBySource, etlFigures, percentile, requestFacts } from '../../src/core/ops/activity';
import { buildCatalogue, searchCatalogue } from '../../src/core/ops/catalogue';
import { filterJobs, recordEtlRun, type JobLog, type JobRecord } from '../../src/core/ops/jobs';
import { OpsService, canOperate } from '../../src/core/ops/service';
import { historyTableDefinition, versionsTableDefinition } from '../../src/core/catalog';
import { TokenError, type Principal, type TokenVerifier } from '../../src/core/auth';
import type { AuditEntry, IngestEvent } from '../../src/core/ports';
import { createOpsHandler, OPS_ROUTES } from '../../src/handlers/ops';
import { loadConfig } from '../../src/config';
import { Etl } from '../../src/core/etl';
import { commit, harness } from './etl-fixtures';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ops-unit-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const event = (over: Partial<IngestEvent> = {}): IngestEvent => ({
  type: 'tributary.ingest.committed',
  requestId: 'req-00000001',
  source: 'gp',
  resourceType: 'Patient',
  bucket: 'tributary-lake',
  objectKey: 'raw/Patient/source=gp/date=2026-12-03/req-00000001.ndjson',
  count: 2,
  checksumSha256: 'x',
  ingestedAt: '2026-12-03T10:00:00.000Z',
  resources: [{ id: 'p1', versionId: '1' }],
  ...over,
});

class MemoryJobLog implements JobLog {
  readonly m = new Map<string, JobRecord>();
  async put(r: JobRecord) {
    this.m.set(r.id, structuredClone(r));
  }
  async get(id: string) {
    return this.m.get(id);
  }
  async list() {
    return [...this.m.values()];
  }
}

describe('ETL job records', () => {
  test('success, failure, retry: attempts counted, rows of the last success kept, error class and message, lag', async () => {
    const log = new MemoryJobLog();
    const at = (s: number) => new Date(Date.parse('2026-12-03T10:00:00Z') + s * 1000);
    const views = ['patient_history', 'resource_versions'];
    await recordEtlRun(log, { event: event(), outcome: { rows: { patient_history: 2, resource_versions: 2 }, resources: 2, skipped: [] }, views, trigger: 'sns', startedAt: at(1), finishedAt: at(3) });
    let j = (await log.get('req-00000001-Patient'))!;
    expect(j).toMatchObject({ status: 'succeeded', attempts: 1, trigger: 'sns', durationMs: 2000, lagMs: 3000, date: '2026-12-03', rows: { patient_history: 2 }, deadLettered: false });
    expect(j.event?.resources).toEqual([]); // the stored event keeps no resource list
    await recordEtlRun(log, { event: event(), outcome: Object.assign(new Error('disk\n full'), { name: 'IOError' }), views, trigger: 'sqs', startedAt: at(5), finishedAt: at(6), receiveCount: 5, maxReceiveCount: 5 });
    j = (await log.get('req-00000001-Patient'))!;
    expect(j).toMatchObject({ status: 'failed', attempts: 5, trigger: 'retry', rows: { patient_history: 2 }, error: { name: 'IOError', message: 'disk full' }, deadLettered: true });
    expect(j.lagMs).toBeUndefined();
    expect(filterJobs([j], { status: 'dead-lettered' })).toHaveLength(1);
    expect(filterJobs([j], { status: 'succeeded' })).toHaveLength(0);
    expect(filterJobs([j], { view: 'patient_history', source: 'gp' })).toHaveLength(1);
    expect(filterJobs([j], { source: 'other' })).toHaveLength(0);
  });

  test('a job log that cannot be written does not fail the ETL: the error comes back', async () => {
    const broken: JobLog = { put: async () => Promise.reject(new Error('nope')), get: async () => undefined, list: async () => [] };
    const err = await recordEtlRun(broken, { event: event(), outcome: { rows: {}, resources: 0, skipped: [] }, views: [], trigger: 'direct', startedAt: new Date(), finishedAt: new Date() });
    expect(err?.message).toBe('nope');
  });

  test('FileJobLog: put, get, list (re-read after an update), unsafe ids refused', async () => {
    const log = new FileJobLog(path.join(dir, 'jobs'));
    expect(await log.list()).toEqual([]);
    await recordEtlRun(log, { event: event(), outcome: { rows: { resource_versions: 2 }, resources: 2, skipped: [] }, views: [], trigger: 'sns', startedAt: new Date(), finishedAt: new Date() });
    expect((await log.list()).map((j) => j.attempts)).toEqual([1]);
    await new Promise((r) => setTimeout(r, 20));
    await recordEtlRun(log, { event: event(), outcome: new Error('x'), views: [], trigger: 'sns', startedAt: new Date(), finishedAt: new Date() });
    expect((await log.list()).map((j) => `${j.status} ${j.attempts}`)).toEqual(['failed 2']);
    expect(await log.get('../../etc/passwd')).toBeUndefined();
    await expect(log.put({ ...(await log.get('req-00000001-Patient'))!, id: '../x' })).rejects.toThrow('unexpected characters');
  });

  test('DynamoDbJobLog: one item per job (record JSON, TTL), scanned page by page', async () => {
    const ddb = mockClient(DynamoDBClient);
    const log = new DynamoDbJobLog(new DynamoDBClient({ region: 'eu-west-2' }), 'jobs', 10);
    const rec: JobRecord = { id: 'a-Patient', kind: 'etl', objectKey: 'k', requestId: 'a', source: 'gp', resourceType: 'Patient', date: '2026-12-03', committedAt: 'c', trigger: 'sqs', startedAt: 's', finishedAt: '2026-12-03T10:00:00.000Z', durationMs: 1, status: 'succeeded', views: [], rows: { x: 1 }, resources: 1, skipped: [], attempts: 1, deadLettered: false };
    ddb.on(PutItemCommand).resolves({});
    await log.put(rec);
    const put = ddb.commandCalls(PutItemCommand)[0]!.args[0].input;
    expect(put.TableName).toBe('jobs');
    expect(JSON.parse(put.Item!.record!.S!)).toEqual(rec);
    expect(Number(put.Item!.expiresAt!.N)).toBe(Date.parse(rec.finishedAt) / 1000 + 10 * 86400);
    ddb.on(ScanCommand).resolvesOnce({ Items: [{ id: { S: 'a' }, record: { S: JSON.stringify(rec) } }], LastEvaluatedKey: { id: { S: 'a' } } }).resolvesOnce({ Items: [{ id: { S: 'b' }, record: { S: JSON.stringify({ ...rec, id: 'b' }) } }] });
    expect((await log.list()).map((r) => r.id)).toEqual(['a-Patient', 'b']);
    expect(ddb.commandCalls(ScanCommand)[1]!.args[0].input.ExclusiveStartKey).toEqual({ id: { S: 'a' } });
    ddb.restore();
  });
});

describe('the ETL dead-letter queue depth (AWS)', () => {
  test('read from the DLQ named by its ARN; shown by the overview (null without a queue)', async () => {
    expect(queueUrlOf('arn:aws:sqs:eu-west-2:123456789012:tributary-prod-etl-dlq')).toBe('https://sqs.eu-west-2.amazonaws.com/123456789012/tributary-prod-etl-dlq');
    expect(() => queueUrlOf('arn:aws:sns:eu-west-2:123456789012:topic')).toThrow('not an SQS queue ARN');
    const sqs = mockClient(SQSClient);
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '7' } });
    const dlq = new SqsDeadLetters(new SQSClient({ region: 'eu-west-2' }), 'arn:aws:sqs:eu-west-2:123456789012:q');
    const deps = {
      jobs: new MemoryJobLog(),
      auditReader: { records: async () => [], verify: async () => ({ ok: true, records: 0, chains: 0, anchors: 0, unanchored: 0, problems: [] }) },
      triage: { list: async () => [] } as any,
      ingestor: {} as any,
      events: { publish: async () => undefined },
      catalogueTables: () => ({ marts: [], raw: [] }),
      clock: { now: () => new Date() },
    };
    expect(await new OpsService({ ...deps, deadLetters: dlq }).overview()).toMatchObject({ deadLetterQueueDepth: 7 });
    expect(sqs.commandCalls(GetQueueAttributesCommand)[0]!.args[0].input).toEqual({ QueueUrl: 'https://sqs.eu-west-2.amazonaws.com/123456789012/q', AttributeNames: ['ApproximateNumberOfMessages'] });
    expect(await new OpsService(deps).overview()).toMatchObject({ deadLetterQueueDepth: null });
    sqs.restore();
  });
});

describe('the ETL writes a job record per event', () => {
  test('rows per table as written; a failed event is recorded failed with its error class; a redelivery is a retry', async () => {
    const h = harness();
    try {
      const jobs = new MemoryJobLog();
      const etl = new Etl({ lake: h.lake, marts: h.marts, codec: h.codec, views: h.views, catalog: h.catalog, jobs });
      const events = await commit(h.lake, [{ resourceType: 'Patient', id: 'p1', gender: 'female' }, { resourceType: 'Patient', id: 'p2', gender: 'male' }], { requestId: 'req-etl-0001' });
      const broken = { ...events[0]!, objectKey: events[0]!.objectKey.replace('req-etl-0001', 'req-etl-0002'), requestId: 'req-etl-0002' };
      const out = await etl.processBatch([...events, broken], { trigger: 'sns' });
      expect(out[1]).toBeInstanceOf(Error);
      const ok = (await jobs.get('req-etl-0001-Patient'))!;
      expect(ok).toMatchObject({ status: 'succeeded', attempts: 1, trigger: 'sns', resources: 2, rows: { patient_history: 2, resource_versions: 2 } });
      expect(ok.views).toEqual(['patient_history', 'patient_link_history', 'resource_versions']);
      // the rows recorded are the rows in the mart files
      const [row] = await h.query(`SELECT count(*)::INTEGER AS n FROM resource_versions WHERE _lake_key = '${events[0]!.objectKey}'`);
      expect(row!.n).toBe(2);
      const bad = (await jobs.get('req-etl-0002-Patient'))!;
      expect(bad).toMatchObject({ status: 'failed', attempts: 1, error: { name: (out[1] as Error).name } });
      await etl.processBatch(events, { trigger: 'sns' });
      expect((await jobs.get('req-etl-0001-Patient'))!).toMatchObject({ status: 'succeeded', attempts: 2, trigger: 'retry' });
    } finally {
      await h.close();
    }
  });
});

describe('activity and quality from the audit trail', () => {
  const rec = (status: number, source: string, interaction: 'create' | 'transaction' = 'create', types: Record<string, number> = { Patient: 1 }): AuditEntry =>
    buildAuditEvent({ time: new Date('2026-12-03T10:00:00Z'), requestId: 'r1234567', source, clientId: 'c', interaction, resourceTypes: types, outcomeStatus: status, outcomeCode: status >= 400 ? 'invalid' : undefined });

  test('request facts and per-source acceptance: refused requests lower the rate', () => {
    const facts = [rec(201, 'gp'), rec(200, 'gp', 'transaction', { Patient: 1, Observation: 4 }), rec(400, 'gp'), rec(400, 'gp'), rec(201, 'lab')].map(requestFacts);
    expect(facts[1]).toMatchObject({ source: 'gp', status: 200, interaction: 'transaction', resources: { Observation: 4, Patient: 1 } });
    const a = activityBySource(facts.filter((f) => f !== undefined));
    expect(a.map((x) => [x.source, x.acceptanceRate, x.refusalsByStatus])).toEqual([
      ['gp', 0.5, { '400': 2 }],
      ['lab', 1, {}],
    ]);
    expect(a[0]!.resourcesAccepted).toEqual({ Patient: 2, Observation: 4 });
    // a record that is not a REST request (an ops action, a release) is not a request fact
    expect(requestFacts({ resourceType: 'AuditEvent', type: { code: '110100' } })).toBeUndefined();
  });

  test('ETL figures: p50/p99 lag, failures, dead letters', () => {
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile([], 50)).toBeUndefined();
    const j = (lagMs: number | undefined, status: 'succeeded' | 'failed', dead = false) => ({ kind: 'etl', status, lagMs, finishedAt: '2026-12-03T10:00:00.000Z', deadLettered: dead }) as JobRecord;
    const f = etlFigures([j(100, 'succeeded'), j(300, 'succeeded'), j(undefined, 'failed', true)]);
    expect(f).toMatchObject({ jobs: 3, succeeded: 2, failed: 1, deadLettered: 1, lagP50Ms: 100, lagP99Ms: 300 });
  });
});

describe('catalogue', () => {
  const view = { name: 'patient', resourceType: 'Patient', description: 'Patients', columns: [{ name: 'postcode_district', type: 'string', collection: false, duckdbType: 'VARCHAR', glueType: 'string', description: 'Outward code' }] } as any;
  const tables = { marts: [{ table: versionsTableDefinition('m'), resourceType: '*' }, { table: historyTableDefinition(view, 'm'), resourceType: 'Patient' }], raw: [] };
  const job = (id: string, rows: Record<string, number>, status: 'succeeded' | 'failed' = 'succeeded') =>
    ({ id, kind: 'etl', status, rows, resources: 1, resourceType: 'Patient', source: 'gp', date: '2026-12-03', finishedAt: `2026-12-03T10:00:0${id}.000Z` }) as unknown as JobRecord;

  test('row counts add up the successful jobs; partitions and freshness; search by column name', () => {
    const c = buildCatalogue({ ...tables, jobs: [job('1', { patient_history: 2, resource_versions: 2 }), job('2', { patient_history: 3, resource_versions: 3 }), job('3', { patient_history: 9 }, 'failed')] });
    const p = c.find((t) => t.name === 'patient_history')!;
    expect(p).toMatchObject({ rows: 5, partitions: [{ source: 'gp', date: '2026-12-03' }], freshness: '2026-12-03T10:00:02.000Z' });
    expect(p.columns[0]).toEqual({ name: 'postcode_district', type: 'VARCHAR', description: 'Outward code' });
    const hits = searchCatalogue(c, 'POSTCODE');
    expect(hits.map((h) => [h.name, h.matched, h.columns.map((x) => x.name)])).toEqual([['patient_history', ['column'], ['postcode_district']]]);
    expect(searchCatalogue(c, 'patient').map((h) => h.name)).toEqual(['patient_history', 'resource_versions']);
    expect(searchCatalogue(c, 'nothing-like-this')).toEqual([]);
  });
});

describe('ops handler', () => {
  const audit: AuditEntry[] = [];
  const jobs = new MemoryJobLog();
  const published: unknown[] = [];
  const ops = new OpsService({
    jobs,
    auditReader: { records: async () => [], verify: async () => ({ ok: true, records: 0, chains: 0, anchors: 0, unanchored: 0, problems: [] }) },
    triage: { list: async () => [] } as any,
    ingestor: {} as any,
    events: { publish: async (e) => void published.push(...e) },
    catalogueTables: () => ({ marts: [], raw: [] }),
    clock: { now: () => new Date('2026-12-03T10:00:00Z') },
  });
  const verifier: TokenVerifier = {
    verify: async (h) => {
      if (!h) throw new TokenError('missing', 'Missing bearer token');
      return { source: 'x', clientId: 'client', subject: 'dev', scope: h.replace(/^Bearer /, ''), scopes: [] } as Principal;
    },
  };
  const config = loadConfig({ TRIBUTARY_RUNTIME: 'local', DATA_DIR: dir, AUTH: 'on', OIDC_ISSUER: 'https://issuer.example' });
  const handler = createOpsHandler({ config, verifier, ops: () => ops, audit: () => ({ append: async (e) => void audit.push(e) }) });
  const ev = (method: string, p: string, token?: string, query?: Record<string, string>): APIGatewayProxyEvent =>
    ({ httpMethod: method, path: p, headers: token ? { Authorization: `Bearer ${token}` } : {}, queryStringParameters: query ?? null, requestContext: { requestId: `req-${audit.length}-abcdef` } }) as unknown as APIGatewayProxyEvent;

  beforeAll(async () => {
    await recordEtlRun(jobs, { event: event(), outcome: new Error('boom'), views: [], trigger: 'sns', startedAt: new Date(), finishedAt: new Date() });
    await recordEtlRun(jobs, { event: event({ requestId: 'req-ok', resourceType: 'Observation' }), outcome: { rows: { r: 1 }, resources: 1, skipped: [] }, views: [], trigger: 'sns', startedAt: new Date(), finishedAt: new Date() });
  });

  test('the operator scope is distinct from the write scopes', () => {
    expect(canOperate('tributary/operator')).toBe(true);
    expect(canOperate('system/*.cu system/*.write system/*.*')).toBe(false);
    expect(canOperate(undefined)).toBe(false);
  });

  test('every route: 401 without a token, 403 with a write-only token, one audit record per request', async () => {
    for (const r of OPS_ROUTES) {
      const p = `/ops/${r.pattern.map((s) => (s === ':id' ? 'x' : s)).join('/')}`;
      const n = audit.length;
      expect((await handler(ev(r.method, p))).statusCode).toBe(401);
      expect((await handler(ev(r.method, p, 'system/*.cu'))).statusCode).toBe(403);
      expect(audit.length).toBe(n + 2);
      expect(audit.slice(n).map((a) => a.outcome)).toEqual(['4', '4']);
    }
  });

  test('an operator lists and retries jobs; each action leaves one audit record naming it', async () => {
    const list = await handler(ev('GET', '/ops/etl/jobs', 'tributary/operator', { status: 'failed' }));
    expect(list.statusCode).toBe(200);
    const body = JSON.parse(list.body);
    expect(body.jobs.map((j: any) => j.id)).toEqual(['req-00000001-Patient']);
    expect(body.jobs[0].event).toBeUndefined(); // the stored event is not shown
    const n = audit.length;
    const retry = await handler(ev('POST', '/ops/etl/jobs/req-00000001-Patient/retry', 'tributary/operator'));
    expect(retry.statusCode).toBe(202);
    expect(published).toHaveLength(1);
    expect(audit.length).toBe(n + 1);
    expect(audit[n]).toMatchObject({ subtype: [{ code: 'etl-retry' }], outcome: '0', action: 'E' });
    // retrying a job that succeeded is a conflict; an unknown job is 404; both audited
    expect((await handler(ev('POST', '/ops/etl/jobs/req-ok-Observation/retry', 'tributary/operator'))).statusCode).toBe(409);
    expect((await handler(ev('GET', '/ops/etl/jobs/nope', 'tributary/operator'))).statusCode).toBe(404);
    expect((await handler(ev('DELETE', '/ops/overview', 'tributary/operator'))).statusCode).toBe(405);
    expect(audit.length).toBe(n + 4);
    expect(audit.slice(n + 1).map((a) => a.outcome)).toEqual(['4', '4', '4']);
  });

  test('a failed audit append fails the request (fail closed)', async () => {
    const h = createOpsHandler({ config, verifier, ops: () => ops, audit: () => ({ append: async () => Promise.reject(new Error('s3 down')) }) });
    expect((await h(ev('GET', '/ops/overview', 'tributary/operator'))).statusCode).toBe(500);
  });

  test('serverless.yml routes the ops function exactly the handler routes, behind the authorizer', () => {
    const sls = YAML.parse(fs.readFileSync(path.resolve(__dirname, '../../serverless.yml'), 'utf8'));
    const events = sls.functions.ops.events.map((e: any) => `${e.http.method.toUpperCase()} /${e.http.path}`);
    expect(events.sort()).toEqual(OPS_ROUTES.map((r) => `${r.method} /ops/${r.pattern.map((s) => (s === ':id' ? '{id}' : s)).join('/')}`).sort());
    for (const e of sls.functions.ops.events) expect(e.http.authorizer).toBe('${self:custom.authorizer}');
  });
});

describe('local issuer: development login (authorization code + PKCE)', () => {
  test('code for a loopback redirect, exchanged once with the right verifier, for the chosen role', async () => {
    const issuer = await startLocalIssuer({ dataDir: path.join(dir, 'issuer-data'), port: 0 });
    try {
      const verifier = randomBytes(32).toString('base64url');
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      const redirect = 'http://127.0.0.1:9999/';
      const q = new URLSearchParams({ response_type: 'code', client_id: 'tributary-console', redirect_uri: redirect, state: 's1', code_challenge: challenge, code_challenge_method: 'S256' });
      const page = await fetch(`${issuer.issuer}/authorize?${q}`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('name="role"');
      expect((await fetch(`${issuer.issuer}/authorize?${new URLSearchParams({ ...Object.fromEntries(q), redirect_uri: 'https://evil.example/' })}`)).status).toBe(400);
      const login = async (role: string): Promise<string> => {
        const r = await fetch(`${issuer.issuer}/authorize`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ ...Object.fromEntries(q), user: 'ops-dev', role }) });
        expect(r.status).toBe(302);
        const to = new URL(r.headers.get('location')!);
        expect(to.origin + to.pathname).toBe(redirect);
        expect(to.searchParams.get('state')).toBe('s1');
        return to.searchParams.get('code')!;
      };
      const token = (code: string, v: string) =>
        fetch(`${issuer.issuer}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: v, redirect_uri: redirect, client_id: 'tributary-console' }) });
      const code = await login('operator');
      expect((await token(code, 'wrong-verifier')).status).toBe(400);
      expect((await token(code, verifier)).status).toBe(400); // a code is used once, even after a wrong attempt
      const code2 = await login('operator');
      const ok = await token(code2, verifier);
      expect(ok.status).toBe(200);
      const claims = decodeJwt((await ok.json()).access_token);
      expect(claims).toMatchObject({ iss: issuer.issuer, sub: 'ops-dev', scope: 'tributary/operator', tributary_source: 'ops-console', client_id: 'tributary-console' });
      const writer = decodeJwt((await (await token(await login('writer'), verifier)).json()).access_token);
      expect(writer.scope).toBe('system/*.cu');
    } finally {
      await issuer.close();
    }
  });
});
