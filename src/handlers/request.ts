/**
 * The API Gateway (REST, v1 proxy) event, read ONCE into an {@link HttpRequest}: method, path segments under the
 * FHIR base, headers (case-insensitive), correlation id, base URL, `Prefer`, caller IP and the authorizer context.
 * Routes and use cases see only this object, never the event.
 */
import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import type { PreferReturn } from '../core/ingest';

/** One HTTP request, parsed once. */
export interface HttpRequest {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** The path as routed (`event.path`, no query string). */
  readonly path: string;
  /** Is the path under the FHIR base (`/fhir/...`)? */
  readonly onFhirBase: boolean;
  /** Decoded path segments after `fhir` (`/fhir/Patient/1` → `['Patient', '1']`). */
  readonly segments: readonly string[];
  /** The correlation id: API Gateway's request id when it is key-safe, else a fresh UUID. */
  readonly requestId: string;
  /** Base URL of the FHIR endpoint as the client called it, e.g. `http://localhost:3000/fhir`. */
  readonly baseUrl: string;
  /** `Prefer: return=...` (https://hl7.org/fhir/R4/http.html#ops); default `representation`. */
  readonly prefer: PreferReturn;
  readonly sourceIp?: string;
  /** The API Gateway authorizer's context (AWS), when present. */
  readonly authorizer?: Record<string, unknown>;
  /** The raw body as API Gateway delivered it. */
  readonly body: { readonly text: string; readonly base64: boolean };
  /** A header's value (case-insensitive name), several values joined with `, `. */
  header(name: string): string | undefined;
}

/**
 * Headers as sent, by lower-case name. `multiValueHeaders` come first: they carry the headers exactly as sent
 * (serverless-offline adds a default Content-Type to `headers`, which API Gateway does not do).
 */
function headerMap(event: Partial<Pick<APIGatewayProxyEvent, 'headers' | 'multiValueHeaders'>>): Map<string, string> {
  const out = new Map<string, string>();
  const mv = event.multiValueHeaders;
  if (mv && Object.keys(mv).length > 0) {
    for (const [k, v] of Object.entries(mv)) if (v && !out.has(k.toLowerCase())) out.set(k.toLowerCase(), v.join(', '));
    return out;
  }
  for (const [k, v] of Object.entries(event.headers ?? {})) if (v !== undefined && v !== null && !out.has(k.toLowerCase())) out.set(k.toLowerCase(), v);
  return out;
}

/** `decodeURIComponent`, keeping a malformed segment as sent (it then matches no route). */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function preferOf(value: string | undefined): PreferReturn {
  const m = /return\s*=\s*"?(minimal|representation|OperationOutcome)"?/i.exec(value ?? '');
  if (!m) return 'representation';
  const v = m[1].toLowerCase();
  return v === 'minimal' ? 'minimal' : v === 'operationoutcome' ? 'OperationOutcome' : 'representation';
}

/** Reads an API Gateway event into an {@link HttpRequest}. */
export function parseRequest(event: APIGatewayProxyEvent): HttpRequest {
  const headers = headerMap(event);
  const header = (name: string): string | undefined => headers.get(name.toLowerCase());
  const path = (event.path ?? '').split('?')[0];
  const raw = path.split('/').filter(Boolean);
  const parts = raw.map(decodeSegment);
  const i = parts.indexOf('fhir');
  const id = event.requestContext?.requestId;
  const host = header('host') ?? 'localhost';
  const proto = header('x-forwarded-proto') ?? (/^(localhost|127\.)/.test(host) ? 'http' : 'https');
  const full = event.requestContext?.path ?? event.path;
  const stagePrefix = full && event.path && full.endsWith(event.path) ? full.slice(0, full.length - event.path.length) : '';
  return {
    method: (event.httpMethod ?? 'GET').toUpperCase(),
    path,
    onFhirBase: raw[0] === 'fhir',
    segments: i >= 0 ? parts.slice(i + 1) : parts,
    requestId: id && /^[A-Za-z0-9-]{8,64}$/.test(id) ? id : randomUUID(),
    baseUrl: `${proto}://${host}${stagePrefix}/fhir`,
    prefer: preferOf(header('prefer')),
    sourceIp: event.requestContext?.identity?.sourceIp ?? undefined,
    authorizer: (event.requestContext?.authorizer as Record<string, unknown> | null | undefined) ?? undefined,
    body: { text: event.body ?? '', base64: Boolean(event.isBase64Encoded) },
    header,
  };
}
