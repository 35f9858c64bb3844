/**
 * The API's request parsing and route table (src/handlers/request.ts, routes.ts): each function answers only its
 * own routes, a `:type` segment is checked once, and refusals carry the status and message clients rely on.
 */
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { parseRequest } from '../../src/handlers/request';
import { findRoute, refusal, fallbackInteraction, ROUTES, type FunctionName } from '../../src/handlers/routes';
import { getStatus } from '../../src/fhir/outcomes';

const ev = (method: string, path: string, extra: Partial<APIGatewayProxyEvent> = {}): APIGatewayProxyEvent =>
  ({ httpMethod: method, path, headers: {}, multiValueHeaders: {}, body: null, isBase64Encoded: false, requestContext: {}, ...extra }) as unknown as APIGatewayProxyEvent;

describe('parseRequest', () => {
  it('reads method, segments, headers (case-insensitive, multi-value first), request id, base URL and Prefer once', () => {
    const r = parseRequest(
      ev('post', '/fhir/Patient', {
        headers: { 'Content-Type': 'text/plain', Host: 'ignored' },
        multiValueHeaders: { 'content-type': ['application/fhir+json'], Host: ['api.example'], Prefer: ['return=minimal'] },
        requestContext: { requestId: 'req-12345678', path: '/prod/fhir/Patient', identity: { sourceIp: '203.0.113.1' } } as never,
      }),
    );
    expect(r.method).toBe('POST');
    expect(r.segments).toEqual(['Patient']);
    expect(r.onFhirBase).toBe(true);
    expect(r.header('CONTENT-TYPE')).toBe('application/fhir+json');
    expect(r.requestId).toBe('req-12345678');
    expect(r.baseUrl).toBe('https://api.example/prod/fhir');
    expect(r.prefer).toBe('minimal');
    expect(r.sourceIp).toBe('203.0.113.1');
  });

  it('replaces an unsafe request id with a UUID and keeps a malformed %-escape as sent', () => {
    const r = parseRequest(ev('GET', '/fhir/Patient/%E0%A4%A', { requestContext: { requestId: 'bad id!' } as never }));
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.segments).toEqual(['Patient', '%E0%A4%A']);
  });
});

describe('route table', () => {
  const route = (fn: FunctionName, method: string, path: string) => findRoute(fn, parseRequest(ev(method, path)));

  it.each([
    ['ingest', 'POST', '/fhir', 'transaction', {}],
    ['ingest', 'POST', '/fhir/Observation', 'create', { type: 'Observation' }],
    ['ingest', 'PUT', '/fhir/Patient/p1', 'update', { type: 'Patient', id: 'p1' }],
    ['validate', 'POST', '/fhir/$validate', 'validate', {}],
    ['validate', 'POST', '/fhir/Patient/$validate', 'validate', { type: 'Patient' }],
    ['metadata', 'GET', '/fhir/metadata', 'capabilities', {}],
  ] as const)('%s %s %s → %s', (fn, method, path, interaction, params) => {
    const found = route(fn, method, path);
    expect(found?.route.interaction).toBe(interaction);
    expect(found?.params).toEqual(params);
  });

  it('a function answers only its own routes', () => {
    expect(route('ingest', 'GET', '/fhir/metadata')).toBeUndefined();
    expect(route('notAllowed', 'POST', '/fhir/Patient')).toBeUndefined();
    expect(route('metadata', 'POST', '/fhir')).toBeUndefined();
    expect(ROUTES.filter((r) => r.fn === 'notAllowed')).toHaveLength(0);
  });

  it('an unknown resource type is 404, for every route with a :type', () => {
    for (const [fn, method, path] of [
      ['ingest', 'POST', '/fhir/NotAType'],
      ['ingest', 'PUT', '/fhir/NotAType/1'],
      ['validate', 'POST', '/fhir/NotAType/$validate'],
    ] as const) {
      let status = 0;
      try {
        route(fn, method, path);
      } catch (err) {
        status = (err as { status: number }).status;
      }
      expect({ fn, path, status }).toEqual({ fn, path, status: 404 });
    }
  });

  it('POST /fhir/metadata is a 405 route, not an unknown type', async () => {
    const found = route('ingest', 'POST', '/fhir/metadata');
    expect(found).toBeDefined();
    await expect(found!.route.run({} as never)).rejects.toMatchObject({ status: 405, message: expect.stringMatching(/GET \/fhir\/metadata/) });
  });
});

describe('refusals', () => {
  const refuse = (fn: FunctionName, method: string, path: string) => {
    const r = refusal(fn, parseRequest(ev(method, path)));
    return { status: getStatus(r.error.outcome), message: r.error.message, allow: r.headers?.Allow };
  };

  it('ingest: conditional update and other shapes are 405', () => {
    expect(refuse('ingest', 'PUT', '/fhir/Patient')).toMatchObject({ status: 405, message: expect.stringMatching(/Conditional update/) });
    expect(refuse('ingest', 'POST', '/fhir/Patient/1')).toMatchObject({ status: 405, message: expect.stringMatching(/POST \/fhir\/Patient\/1 is not supported/) });
  });

  it('notAllowed: read, search, history, delete, patch are 405 with Allow; unknown types and paths are 404', () => {
    expect(refuse('notAllowed', 'GET', '/fhir/Patient/1')).toEqual({ status: 405, message: expect.stringMatching(/^read is not supported/), allow: 'POST, PUT' });
    expect(refuse('notAllowed', 'GET', '/fhir/Patient')).toMatchObject({ message: expect.stringMatching(/^search/) });
    expect(refuse('notAllowed', 'GET', '/fhir/Patient/1/_history')).toMatchObject({ message: expect.stringMatching(/^history/) });
    expect(refuse('notAllowed', 'DELETE', '/fhir/Patient/1')).toMatchObject({ message: expect.stringMatching(/^delete/) });
    expect(refuse('notAllowed', 'PATCH', '/fhir/Patient/1')).toMatchObject({ message: expect.stringMatching(/^patch/) });
    expect(refuse('notAllowed', 'GET', '/fhir/NotAType/1')).toMatchObject({ status: 404 });
    expect(refuse('notAllowed', 'GET', '/elsewhere')).toMatchObject({ status: 404, message: expect.stringMatching(/FHIR base is \/fhir/) });
  });

  it('the audit interaction of a refused request', () => {
    expect(fallbackInteraction('ingest', parseRequest(ev('POST', '/fhir')))).toBe('transaction');
    expect(fallbackInteraction('ingest', parseRequest(ev('PUT', '/fhir/Patient')))).toBe('update');
    expect(fallbackInteraction('ingest', parseRequest(ev('POST', '/fhir/Patient/1')))).toBe('create');
    expect(fallbackInteraction('notAllowed', parseRequest(ev('GET', '/fhir/Patient')))).toBe('refused');
  });
});
