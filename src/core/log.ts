/**
 * Structured JSON logging with Powertools for AWS Lambda (https://docs.powertools.aws.dev/lambda/typescript/latest/core/logger/).
 *
 * Rules: logs carry ids, counts, keys, statuses and durations only: never a payload, a request path, or a
 * client's resource id (client ids can be MRNs; `PUT /fhir/Patient/MRN-88812` carries one in its path). Every
 * logger made here runs every log item through {@link redactingReplacer}, which replaces the value of obviously
 * unsafe keys ({@link UNSAFE_LOG_KEYS}: `body`, `resource`, `payload`, `name`, `identifier`, tokens, `path`, `url`,
 * `pathParameters`, `headers`, ...) with `[REDACTED]` at any depth, and the id in any FHIR instance path inside a
 * string (`/fhir/Patient/MRN-88812` → `/fhir/Patient/[REDACTED]`, {@link redactFhirPaths}), so a payload or a
 * path logged by mistake does not reach CloudWatch. This is a safety net, not a licence: log neither.
 *
 * The `clientId` key of {@link requestLogger} is the OAuth client of the verified token (the calling system, e.g.
 * `lab-1`), not a resource id.
 *
 * The correlation id is the request id: the `X-Request-Id` response header, the audit record's request entity,
 * the published events and the `correlationId` key of every log line of that request
 * ({@link requestLogger}).
 *
 * Log level and sampling come from Powertools' own environment variables (`POWERTOOLS_LOG_LEVEL`, ...), read by
 * the library, not by this module.
 */
import { Logger } from '@aws-lambda-powertools/logger';

/** Keys whose values are never logged (compared case-insensitively, at any depth). */
export const UNSAFE_LOG_KEYS: ReadonlySet<string> = new Set([
  'body',
  'resource',
  'payload',
  'name',
  'identifier',
  'entry',
  'text',
  'telecom',
  'address',
  'birthdate',
  'contact',
  'token',
  'access_token',
  'accesstoken',
  'id_token',
  'authorization',
  'cookie',
  'password',
  'secret',
  // request paths and their parts (a path carries the client's resource id), headers (Authorization)
  'path',
  'rawpath',
  'url',
  'uri',
  'pathparameters',
  'querystringparameters',
  'multivaluequerystringparameters',
  'headers',
  'multivalueheaders',
]);

/** What replaces an unsafe value. */
export const REDACTED = '[REDACTED]';

/** True when `key` must not be logged. */
export function isUnsafeLogKey(key: string): boolean {
  return UNSAFE_LOG_KEYS.has(key.toLowerCase());
}

/** A FHIR instance path: `/fhir/{type}/{id}` (the id is whatever follows, up to `/`, `?`, `#`, a quote or a space). */
const FHIR_INSTANCE_PATH = /(\/fhir\/[A-Z][A-Za-z]{0,63}\/)(?!\$)[^/?#\s"'`]+/g;

/**
 * `text` with the id of every FHIR instance path replaced: `PUT /fhir/Patient/MRN-88812` →
 * `PUT /fhir/Patient/[REDACTED]` (FHIR R4 RESTful API §3.1.0.1.1 `[base]/[type]/[id]`). Operations
 * (`/fhir/Patient/$validate`) are kept.
 */
export function redactFhirPaths(text: string): string {
  return text.includes('/fhir/') ? text.replace(FHIR_INSTANCE_PATH, `$1${REDACTED}`) : text;
}

/** Formats an error without its `name` member colliding with the unsafe `name` key. */
function errorView(err: Error): Record<string, unknown> {
  const view: Record<string, unknown> = { errorName: err.name, message: redactFhirPaths(err.message) };
  if (err.stack) view.stack = redactFhirPaths(err.stack);
  if (err.cause instanceof Error) view.cause = errorView(err.cause);
  return view;
}

/**
 * A `JSON.stringify` replacer (Powertools `jsonReplacerFn`) that redacts unsafe keys at any depth and the ids in
 * FHIR instance paths inside strings (the `message` included). Errors are rendered as
 * `{ errorName, message, stack, cause }`.
 */
export function redactingReplacer(key: string, value: unknown): unknown {
  if (key !== '' && isUnsafeLogKey(key)) return REDACTED;
  if (typeof value === 'string') return redactFhirPaths(value);
  if (value instanceof Error) return errorView(value);
  return value;
}

/**
 * Returns a deep copy of `value` with unsafe keys redacted (for anything that is logged or exported outside
 * Powertools). Cycles become `[Circular]`.
 */
export function redactUnsafe<T>(value: T): T {
  const seen = new WeakSet<object>();
  const walk = (v: unknown): unknown => {
    if (v instanceof Error) return walk(errorView(v));
    if (typeof v === 'string') return redactFhirPaths(v);
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) return '[Circular]';
    seen.add(v);
    if (Array.isArray(v)) return v.map(walk);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = isUnsafeLogKey(k) ? REDACTED : walk(x);
    return out;
  };
  return walk(value) as T;
}

/** Options for {@link createLogger}. */
export interface CreateLoggerOptions {
  /** Overrides `POWERTOOLS_LOG_LEVEL` (tests). */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT' | 'CRITICAL';
  /** Keys on every line, e.g. `{ stage: 'dev' }` (unsafe keys are redacted too). */
  persistentKeys?: Record<string, string | number | boolean>;
}

/** Creates the service logger (one per handler module): Powertools JSON logs with unsafe keys redacted. */
export function createLogger(serviceName: string, opts: CreateLoggerOptions = {}): Logger {
  return new Logger({
    serviceName,
    jsonReplacerFn: redactingReplacer,
    ...(opts.logLevel !== undefined && { logLevel: opts.logLevel }),
    ...(opts.persistentKeys !== undefined && { persistentKeys: opts.persistentKeys }),
  });
}

/**
 * A child logger for one request, with `correlationId` (the request id) on every line, and optionally the
 * source system and client id from the verified token. A child (rather than `appendKeys` on the shared
 * logger) keeps concurrent requests in one process (`npm start`) from mixing their keys.
 */
export function requestLogger(base: Logger, requestId: string, who?: { source?: string; clientId?: string }): Logger {
  const child = base.createChild();
  const keys: Record<string, string> = { correlationId: requestId };
  if (who?.source) keys.source = who.source;
  if (who?.clientId) keys.clientId = who.clientId;
  child.appendPersistentKeys(keys);
  return child;
}
