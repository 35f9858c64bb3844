/** Shared helpers of the end-to-end suite: where the stack is, raw HTTP, and reading the lake back. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createS3Client, S3ObjectStore } from '../../src/adapters/aws/s3-object-store';

export interface StackInfo {
  baseUrl: string;
  s3Endpoint: string;
  snsEndpoint: string;
  dataDir: string;
  logFile: string;
}

/** The running stack started by global-setup.js. */
export function stack(): StackInfo {
  return JSON.parse(process.env.TRIBUTARY_E2E ?? fs.readFileSync(path.join(os.tmpdir(), 'tributary-e2e.json'), 'utf8'));
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

/** Every key under `raw/` and the number of NDJSON lines in them. */
export async function lakeSnapshot(): Promise<{ keys: string[]; lines: number }> {
  const b = bucket();
  const keys = await b.list('raw/');
  let lines = 0;
  for (const k of keys) {
    const body = Buffer.from((await b.get(k)) ?? new Uint8Array()).toString('utf8');
    lines += body.split('\n').filter(Boolean).length;
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

/** POST/PUT raw JSON with headers; returns status, headers and parsed body. */
export async function send(
  method: string,
  pathOrUrl: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: any; text: string }> {
  const url = pathOrUrl.startsWith('http') ? pathOrUrl : `${stack().baseUrl}${pathOrUrl}`;
  const res = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/fhir+json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}
