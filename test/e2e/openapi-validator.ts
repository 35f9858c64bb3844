/**
 * Checks real HTTP responses against the contract in `openapi.yaml` (repository root).
 *
 *     const r = await send('POST', '/Patient', patient);
 *     expectMatchesOpenApi('POST', '/{type}', r.status, r.headers, r.text);
 *
 * For the operation `method pathTemplate` it checks that:
 * - the status is documented for that operation (exactly, or by a `4XX`/`default` range);
 * - every header the response documents as `required` is present and matches its schema, and any other
 *   documented header that is present matches too;
 * - the body is JSON of a documented media type (by `Content-Type`) and matches the response schema; an empty
 *   body is accepted only when the response documents no content or is marked `x-empty-body-allowed`
 *   (`Prefer: return=minimal`).
 *
 * The path may be a template (`/{type}/{id}`) or a concrete path relative to the FHIR base (`/Patient/123`,
 * also `/fhir/Patient/123`); concrete paths are matched to a template, literal segments first.
 * The schemas are compiled once with Ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses), lazily per response.
 */
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import * as helpers from './helpers';

/** Path of the contract. */
export const OPENAPI_FILE = path.resolve(__dirname, '../../openapi.yaml');

type Json = Record<string, any>;
/** Response headers as `fetch` gives them, or a plain record (any case). */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const ROOT_ID = 'tributary-openapi';

let cached: { doc: Json; ajv: Ajv2020 } | undefined;

/** The parsed openapi.yaml and an Ajv instance holding its component schemas. */
export function openApi(): { doc: Json; ajv: Ajv2020 } {
  if (cached) return cached;
  const doc = YAML.parse(fs.readFileSync(OPENAPI_FILE, 'utf8')) as Json;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ $id: ROOT_ID, components: { schemas: rebase(doc.components?.schemas ?? {}) } });
  cached = { doc, ajv };
  return cached;
}

/** Rewrites local `#/components/...` refs so they resolve against the added root schema. */
function rebase<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema), (k, v) => (k === '$ref' && typeof v === 'string' && v.startsWith('#/') ? ROOT_ID + v : v));
}

/** Follows a local `$ref` (one or more hops) inside the document. */
function deref(doc: Json, node: any): any {
  let n = node;
  for (let i = 0; n && typeof n.$ref === 'string' && i < 20; i++) {
    const ptr = (n.$ref as string).replace(/^#\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    n = ptr.reduce((o: any, k) => (o == null ? undefined : o[k]), doc);
  }
  return n;
}

/** All operations: `{ method, path, operation }`. */
export function operations(): { method: string; path: string; operation: Json }[] {
  const { doc } = openApi();
  const out: { method: string; path: string; operation: Json }[] = [];
  for (const [p, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const m of METHODS) if (item[m]) out.push({ method: m.toUpperCase(), path: p, operation: item[m] });
  }
  return out;
}

/** Strips the FHIR base (`/fhir`) and a query; `''` is the base itself (`/`). */
function relative(p: string): string {
  let s = p.split('?')[0];
  if (/^https?:\/\//.test(s)) s = new URL(s).pathname;
  if (s === '/fhir' || s.startsWith('/fhir/')) s = s.slice('/fhir'.length);
  return s === '' ? '/' : s;
}

/**
 * The documented path template for a template or a concrete path (relative to the FHIR base):
 * `/Patient/1` → `/{type}/{id}`, `/$validate` → `/$validate`. Undefined when nothing matches.
 */
export function templateFor(p: string): string | undefined {
  const { doc } = openApi();
  const rel = relative(p);
  if (doc.paths?.[rel]) return rel;
  const segs = rel.split('/').filter(Boolean);
  let best: { t: string; literals: number } | undefined;
  for (const t of Object.keys(doc.paths ?? {})) {
    const ts = t.split('/').filter(Boolean);
    if (ts.length !== segs.length) continue;
    let literals = 0;
    const ok = ts.every((x, i) => {
      if (/^\{[^}]+\}$/.test(x)) return segs[i] !== '';
      if (x === decodeURIComponent(segs[i])) return ++literals > 0;
      return false;
    });
    if (ok && (!best || literals > best.literals)) best = { t, literals };
  }
  return best?.t;
}

function headerOf(h: HeaderSource, name: string): string | undefined {
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const want = name.toLowerCase();
  for (const [k, v] of Object.entries(h as Record<string, string | string[] | undefined>)) {
    if (k.toLowerCase() === want && v !== undefined) return Array.isArray(v) ? v.join(', ') : v;
  }
  return undefined;
}

const compiled = new Map<string, ValidateFunction>();
function validatorFor(key: string, schema: unknown): ValidateFunction {
  let v = compiled.get(key);
  if (!v) {
    const { ajv } = openApi();
    v = ajv.compile({ $id: `${ROOT_ID}-${compiled.size}`, ...(rebase(schema) as object) });
    compiled.set(key, v);
  }
  return v;
}

function describeErrors(errors: ErrorObject[] | null | undefined, max = 8): string {
  return (errors ?? [])
    .slice(0, max)
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params && Object.keys(e.params).length ? ' ' + JSON.stringify(e.params) : ''}`)
    .join('; ');
}

/** Every (method, template) checked so far with its statuses: conformance suites assert their coverage. */
export const exercised = new Map<string, Set<number>>();

/**
 * The ways a response departs from the contract; `[]` when it conforms.
 * `body` may be the raw text, parsed JSON, or undefined/'' for an empty body.
 */
export function openApiProblems(method: string, pathOrTemplate: string, status: number, headers: HeaderSource, body: unknown): string[] {
  const { doc } = openApi();
  const m = method.toLowerCase();
  const template = templateFor(pathOrTemplate);
  const where = `${method.toUpperCase()} ${template ?? pathOrTemplate} → ${status}`;
  if (!template) return [`${where}: path is not in openapi.yaml`];
  const operation = doc.paths[template]?.[m];
  if (!operation) return [`${where}: method is not documented for ${template}`];
  const key = `${method.toUpperCase()} ${template}`;
  if (!exercised.has(key)) exercised.set(key, new Set());
  exercised.get(key)!.add(status);

  const responses: Json = operation.responses ?? {};
  const code = String(status);
  const rangeKey = `${code[0]}XX`;
  const responseKey = code in responses ? code : rangeKey in responses ? rangeKey : 'default' in responses ? 'default' : undefined;
  if (!responseKey) return [`${where}: status ${status} is not documented (documented: ${Object.keys(responses).join(', ')})`];
  const response = deref(doc, responses[responseKey]) as Json;
  const problems: string[] = [];

  // headers
  for (const [name, raw] of Object.entries<Json>(response.headers ?? {})) {
    const h = deref(doc, raw) as Json;
    const value = headerOf(headers, name);
    if (value === undefined) {
      if (h.required) problems.push(`${where}: required header ${name} is missing`);
      continue;
    }
    if (h.schema) {
      const v = validatorFor(`header ${key} ${responseKey} ${name}`, h.schema);
      if (!v(value)) problems.push(`${where}: header ${name}: ${JSON.stringify(value)} ${describeErrors(v.errors)}`);
    }
  }

  // body
  const text = body === undefined || body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const content: Json | undefined = response.content;
  if (text.trim() === '') {
    if (content && Object.keys(content).length > 0 && !response['x-empty-body-allowed']) problems.push(`${where}: body is empty but the response documents content`);
    return problems;
  }
  if (!content || Object.keys(content).length === 0) {
    problems.push(`${where}: body present but the response documents no content`);
    return problems;
  }
  const ct = (headerOf(headers, 'content-type') ?? '').split(';')[0].trim().toLowerCase();
  const mediaType = ct ? Object.keys(content).find((k) => k.toLowerCase() === ct) : Object.keys(content)[0];
  if (!mediaType) {
    problems.push(`${where}: Content-Type '${ct}' is not documented (documented: ${Object.keys(content).join(', ')})`);
    return problems;
  }
  let json: unknown;
  try {
    json = typeof body === 'string' ? JSON.parse(body) : body;
  } catch {
    problems.push(`${where}: body is not JSON: ${text.slice(0, 80)}`);
    return problems;
  }
  const schema = content[mediaType]?.schema;
  if (schema) {
    const v = validatorFor(`body ${key} ${responseKey} ${mediaType}`, schema);
    if (!v(json)) problems.push(`${where}: body does not match the schema: ${describeErrors(v.errors)}`);
  }
  return problems;
}

/** Throws (failing the test) with every problem when the response departs from openapi.yaml. */
export function expectMatchesOpenApi(method: string, pathOrTemplate: string, status: number, headers: HeaderSource, body: unknown): void {
  const problems = openApiProblems(method, pathOrTemplate, status, headers, body);
  if (problems.length > 0) throw new Error(`Response does not match openapi.yaml:\n  - ${problems.join('\n  - ')}`);
}

/** Same, for the result of `send()` from ./helpers. */
export function expectResponseMatchesOpenApi(
  method: string,
  pathOrTemplate: string,
  res: { status: number; headers: HeaderSource; text: string },
): void {
  expectMatchesOpenApi(method, pathOrTemplate, res.status, res.headers, res.text);
}

/** True when the operation is documented but marked `x-tributary-planned` (not deployed yet). */
export function isPlanned(operationId: string): boolean {
  return operations().some((o) => o.operation.operationId === operationId && o.operation['x-tributary-planned'] === true);
}

/**
 * Headers that authenticate a write against the running stack. Uses the e2e helpers' token when they mint
 * one (`authHeaders` in ./helpers), else none (a stack with AUTH=off).
 */
export async function authHeaders(): Promise<Record<string, string>> {
  const fromHelpers = (helpers as { authHeaders?: () => Promise<Record<string, string>> }).authHeaders;
  return typeof fromHelpers === 'function' ? fromHelpers() : {};
}
