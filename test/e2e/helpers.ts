/** Shared helpers of the end-to-end suite: where the stack is, raw HTTP, and reading the lake back. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createS3Client, S3ObjectStore } from '../../src/adapters/aws/s3-object-store';
import { mintToken } from '../../src/adapters/local/issuer';
import type { HeaderSource } from './openapi-validator';

export interface StackInfo {
  baseUrl: string;
  s3Endpoint: string;
  snsEndpoint: string;
  issuer: string;
  dataDir: string;
  logFile: string;
}

/** The running stack started by global-setup.js. */
export function stack(): StackInfo {
  const port = Number(process.env.E2E_PORT || 3400);
  return JSON.parse(process.env.TRIBUTARY_E2E ?? fs.readFileSync(path.join(os.tmpdir(), `tributary-e2e-${port}.json`), 'utf8'));
}

export const SHARED = path.resolve(__dirname, '../../../shared');
export const hasShared = fs.existsSync(SHARED);
/** `describe` when ../shared is present, else a skipped describe with a message. */
export function describeShared(name: string, fn: () => void): void {
  if (hasShared) describe(name, fn);
  else {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED "${name}": ../shared (reference data) is absent`);
    describe.skip(name, fn);
  }
}

/** A bucket of the local stack, read through the same S3 adapter the API uses. */
export function bucket(name = 'tributary-lake'): S3ObjectStore {
  return new S3ObjectStore(createS3Client({ endpoint: stack().s3Endpoint }), name);
}

/** Lines per lake object: objects under `raw/` are written once per key, so each is read once. */
const lineCache = new Map<string, number>();

/** Every key under `raw/` and the number of NDJSON lines in them. */
export async function lakeSnapshot(): Promise<{ keys: string[]; lines: number }> {
  const b = bucket();
  const keys = await b.list('raw/');
  let lines = 0;
  for (const k of keys) {
    let n = lineCache.get(k);
    if (n === undefined) {
      const body = Buffer.from((await b.get(k)) ?? new Uint8Array()).toString('utf8');
      n = body.split('\n').filter(Boolean).length;
      lineCache.set(k, n);
    }
    lines += n;
  }
  return { keys, lines };
}

/** All objects under a prefix, as text, for scans. */
export async function readAll(prefix: string, name = 'tributary-lake'): Promise<Map<string, string>> {
  const b = bucket(name);
  const out = new Map<string, string>();
  for (const k of await b.list(prefix)) out.set(k, Buffer.from((await b.get(k)) ?? new Uint8Array()).toString('utf8'));
  return out;
}

/** The source system of the default e2e token. */
export const E2E_SOURCE = 'e2e-source';

/** A real token signed by the stack's local issuer. */
export function token(source = E2E_SOURCE, scope = 'system/*.write', extra: Record<string, unknown> = {}): Promise<string> {
  return mintToken({ dataDir: stack().dataDir, issuer: stack().issuer, source, scope, ...extra });
}

let defaultToken: Promise<string> | undefined;
/** `Authorization: Bearer …` for the default e2e source (all writes). */
export async function authHeaders(): Promise<Record<string, string>> {
  defaultToken ??= token();
  return { Authorization: `Bearer ${await defaultToken}` };
}

/**
 * POST/PUT raw JSON with headers (the default e2e token unless `Authorization` is given; `''` sends none);
 * returns status, headers and parsed body.
 */
export async function send(
  method: string,
  pathOrUrl: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${stack().baseUrl}${pathOrUrl}`;
  const h: Record<string, string> = { 'Content-Type': 'application/fhir+json', ...(await authHeaders()), ...headers };
  if (h.Authorization === '') delete h.Authorization;
  const res = await fetch(url, {
    method,
    headers: h,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  // every response of the e2e suite must be one openapi.yaml documents (status, headers, body schema)
  checkOpenApi(method, url, stack().baseUrl, res.status, res.headers, text);
  return { status: res.status, headers: res.headers, json, text };
}

/**
 * Throws when a response of the API at `baseUrl` departs from openapi.yaml (see ./openapi-validator); responses
 * from anything else (another host or path) are not checked (returns false; true when checked). The one check behind `send()`, the fhir-kit-client
 * hook ({@link fhirClient}) and the newman run (newman.test.ts).
 */
export function checkOpenApi(method: string, url: string, baseUrl: string, status: number, headers: HeaderSource, body: unknown): boolean {
  const base = new URL(baseUrl);
  const u = new URL(url);
  const basePath = base.pathname.replace(/\/$/, '');
  if (u.host !== base.host || !(u.pathname === basePath || u.pathname.startsWith(`${basePath}/`))) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { openApiProblems } = require('./openapi-validator') as typeof import('./openapi-validator');
  const rel = u.pathname.slice(basePath.length) || '/';
  const problems = openApiProblems(method, rel, status, headers, body);
  if (problems.length > 0) throw new OpenApiMismatch(problems);
  return true;
}

/** What {@link checkOpenApi} throws. */
export class OpenApiMismatch extends Error {
  constructor(readonly problems: string[]) {
    super(`response does not match openapi.yaml: ${problems.join('; ')}`);
    this.name = 'OpenApiMismatch';
  }
}

/** Requests built by a {@link fhirClient}, with the base URL of their client. */
const fhirKitRequests = new WeakMap<object, string>();
/** How many fhir-kit-client responses the hook has checked and found conforming (in this test file). */
export const fhirClientChecks = { count: 0 };
let unhookedFetch: typeof fetch | undefined;

/**
 * A fhir-kit-client `Client` whose every response is checked against openapi.yaml, like `send()`'s.
 * fhir-kit-client builds a `Request` (HttpClient#requestBuilder) and passes it to the global `fetch`; the
 * client's builder is wrapped to remember its requests, and `fetch` (once per test file) to check the
 * responses to those requests (a clone of the body is read). A response off the contract rejects the call
 * with {@link OpenApiMismatch} (which has no `response`, unlike fhir-kit-client's own HTTP errors).
 */
export function fhirClient(options: { baseUrl: string; bearerToken?: string; customHeaders?: Record<string, string> }): any {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Client = require('fhir-kit-client');
  const client = new Client(options);
  const http = client.httpClient;
  const build = http.requestBuilder.bind(http);
  http.requestBuilder = (...args: unknown[]) => {
    const request = build(...args);
    fhirKitRequests.set(request, http.baseUrl);
    return request;
  };
  if (!unhookedFetch) {
    const real = (unhookedFetch = globalThis.fetch);
    globalThis.fetch = async (input: any, init?: any) => {
      const res = await real(input, init);
      const base = input !== null && typeof input === 'object' ? fhirKitRequests.get(input) : undefined;
      if (base !== undefined && checkOpenApi(input.method, input.url, base, res.status, res.headers, await res.clone().text())) fhirClientChecks.count++;
      return res;
    };
  }
  return client;
}

/** One response newman received, in the shape of the postman-collection objects of its `request` event. */
export interface NewmanExchange {
  request: { method: string; url: { toString(): string } };
  response?: { code: number; headers: { all(): { key: string; value: string }[] }; text(): string | undefined };
}

/**
 * Why a response newman received departs from openapi.yaml (`[]` when it conforms or is not the API's), for a
 * listener on newman's `request` event: `emitter.on('request', (err, args) => problems.push(...newmanProblems(baseUrl, err, args)))`.
 */
export function newmanProblems(baseUrl: string, err: unknown, exchange: NewmanExchange | undefined): string[] {
  const what = exchange?.request ? `${exchange.request.method} ${exchange.request.url.toString()}` : 'a request';
  if (err) return [`${what}: ${(err as Error).message ?? String(err)}`];
  if (!exchange?.response) return [`${what}: no response`];
  const headers: Record<string, string> = {};
  for (const h of exchange.response.headers.all()) headers[h.key] = headers[h.key] === undefined ? h.value : `${headers[h.key]}, ${h.value}`;
  try {
    // the collection only calls the API: a response from elsewhere means nothing was checked
    if (!checkOpenApi(exchange.request.method, exchange.request.url.toString(), baseUrl, exchange.response.code, headers, exchange.response.text() ?? '')) {
      return [`${what}: not a response of the API at ${baseUrl}, so not checked against openapi.yaml`];
    }
    return [];
  } catch (e) {
    if (e instanceof OpenApiMismatch) return e.problems;
    throw e;
  }
}

/** Events published by the stack, as a subscriber of the ingest topic receives them (through the local SNS endpoint). */
export interface EventSubscription {
  /** The events received so far (the SNS envelope's `Message`, parsed). */
  events: { type?: string; requestId?: string; source?: string; objectKey?: string; [k: string]: unknown }[];
  /** Resolves with the events that satisfy `pred` once `count` of them have arrived (or after `ms`, with fewer). */
  waitFor(pred: (e: EventSubscription['events'][number]) => boolean, count?: number, ms?: number): Promise<EventSubscription['events']>;
  close(): Promise<void>;
}

/** Subscribes an HTTP endpoint of this process to the ingest topic. */
export async function subscribeEvents(): Promise<EventSubscription> {
  const http = await import('node:http');
  const events: EventSubscription['events'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        const o = JSON.parse(body);
        if (o?.Type === 'Notification' && typeof o.Message === 'string') events.push(JSON.parse(o.Message));
        else if (o?.Type !== 'SubscriptionConfirmation') events.push(o);
      } catch {
        events.push({ unparsed: body });
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const { SNSClient, SubscribeCommand } = await import('@aws-sdk/client-sns');
  const sns = new SNSClient({ region: 'eu-west-2', endpoint: stack().snsEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  await sns.send(
    new SubscribeCommand({ TopicArn: 'arn:aws:sns:eu-west-2:123456789012:tributary-ingest', Protocol: 'http', Endpoint: `http://127.0.0.1:${port}/` }),
  );
  return {
    events,
    async waitFor(pred, count = 1, ms = 10_000) {
      const until = Date.now() + ms;
      while (events.filter(pred).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      return events.filter(pred);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** The stack's structured log lines (Powertools JSON on the API's stdout, in `logFile`); other lines are skipped. */
export function apiLogLines(): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (const line of fs.readFileSync(stack().logFile, 'utf8').split('\n')) {
    const start = line.indexOf('{');
    if (start < 0) continue;
    try {
      const o = JSON.parse(line.slice(start));
      if (o && typeof o === 'object' && 'level' in o) out.push(o);
    } catch {
      // not a JSON log line
    }
  }
  return out;
}

/**
 * The local audit trail's records: every writer chain (`{dataDir}/audit/chains/{writer}/{sequence}.json`, see
 * src/core/audit/store.ts), ordered by `recorded` time; anchors not included.
 */
export function auditRecords(): Record<string, any>[] {
  const dir = path.join(stack().dataDir, 'audit', 'chains');
  if (!fs.existsSync(dir)) return [];
  const records = fs
    .readdirSync(dir)
    .flatMap((w) => fs.readdirSync(path.join(dir, w)).filter((f) => /^\d+\.json$/.test(f)).sort().map((f) => path.join(dir, w, f)))
    .map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, any>);
  return records.sort((a, b) => String(a.recorded).localeCompare(String(b.recorded)));
}

/** The request (correlation) id of an audit record (its `XrequestId` entity). */
export function auditRequestId(record: Record<string, any>): string | undefined {
  return record.entity?.find((e: any) => e.what?.identifier?.system?.endsWith('/request-id'))?.what.identifier.value;
}
