/** Shared helpers of the end-to-end suite: where the stack is, raw HTTP, and reading the lake back. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createS3Client, S3ObjectStore } from '../../src/adapters/aws/s3-object-store';
import { mintToken } from '../../src/adapters/local/issuer';

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
  const base = new URL(stack().baseUrl);
  const u = new URL(url);
  if (u.host === base.host && u.pathname.startsWith(base.pathname)) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openApiProblems } = require('./openapi-validator') as typeof import('./openapi-validator');
    const rel = u.pathname.slice(base.pathname.length) || '/';
    const problems = openApiProblems(method, rel, res.status, res.headers, text);
    if (problems.length > 0) throw new Error(`response does not match openapi.yaml: ${problems.join('; ')}`);
  }
  return { status: res.status, headers: res.headers, json, text };
}
