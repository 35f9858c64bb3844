/**
 * Generation of the Postman collection and environment from openapi.yaml: openapi-to-postmanv2 converts the
 * spec (folders by tag, one request per operation, with the parameter descriptions), then each operation becomes
 * the runnable scenarios of ./scenarios.ts, with stable ids so that the output is reproducible.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { convert } from 'openapi-to-postmanv2';
import YAML from 'yaml';
import { COLLECTION_TESTS, status } from './assertions';
import { COLLECTION_FILE, ENVIRONMENT_FILE, OPENAPI_FILE, PLANNED_FOLDER } from './paths';
import { PATIENT_ID, SCENARIOS, type Scenario } from './scenarios';

type Json = Record<string, any>;

/** A stable UUID-shaped id from a name. */
function stableId(...parts: string[]): string {
  const h = crypto.createHash('sha1').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function convertSpec(spec: string): Promise<Json> {
  return new Promise((resolve, reject) => {
    convert(
      { type: 'string', data: spec },
      { folderStrategy: 'Tags', requestNameSource: 'Fallback', parametersResolution: 'Example', includeAuthInfoInExample: false, schemaFaker: false },
      (err, result) => {
        if (err) return reject(new Error(err.message));
        if (!result?.result || !result.output?.[0]) return reject(new Error(`openapi-to-postmanv2: ${(result as { reason?: string } | undefined)?.reason ?? 'no output'}`));
        resolve(result.output[0].data as Json);
      },
    );
  });
}

/** `:type` → `{type}`, `''` (the base) → `/`. */
function templateOf(urlPath: string[]): string {
  const segs = urlPath.filter((s) => s !== '').map((s) => (s.startsWith(':') ? `{${s.slice(1)}}` : s));
  return '/' + segs.join('/');
}

function operationsOf(doc: Json): { method: string; path: string; op: Json }[] {
  const out: { method: string; path: string; op: Json }[] = [];
  for (const [p, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const m of ['get', 'put', 'post', 'delete', 'patch', 'options', 'head']) if (item[m]) out.push({ method: m.toUpperCase(), path: p, op: item[m] });
  }
  return out;
}

function exampleValue(doc: Json, name: string): unknown {
  const ex = doc.components?.examples?.[name];
  if (!ex) throw new Error(`openapi.yaml has no example '${name}'`);
  return structuredClone(ex.value);
}

function bodyOf(doc: Json, s: Scenario): Json | undefined {
  if (!s.body) return undefined;
  let raw: string;
  if ('raw' in s.body) raw = s.body.raw;
  else if ('json' in s.body) raw = JSON.stringify(s.body.json, null, 2);
  else {
    const v = exampleValue(doc, s.body.example);
    raw = JSON.stringify(s.body.edit ? s.body.edit(v) : v, null, 2);
  }
  return { mode: 'raw', raw, options: { raw: { language: 'json' } } };
}

/** The first documented example of the expected response, as a Postman saved response. */
function savedResponse(doc: Json, opId: string, op: Json, s: Scenario, originalRequest: Json): Json[] {
  let r = op.responses?.[String(s.status)];
  for (let i = 0; r?.$ref && i < 5; i++) r = r.$ref.replace(/^#\//, '').split('/').reduce((o: Json, k: string) => o?.[k], doc);
  const media = r?.content?.['application/fhir+json'];
  const first = media?.examples ? Object.values<Json>(media.examples)[0] : undefined;
  const ex = first?.$ref ? first.$ref.replace(/^#\//, '').split('/').reduce((o: Json, k: string) => o?.[k], doc) : first;
  if (!ex?.value) return [];
  return [
    {
      id: stableId('response', opId, s.name),
      name: ex.summary ?? `${s.status}`,
      originalRequest,
      status: httpReason(s.status),
      code: s.status,
      header: [{ key: 'Content-Type', value: 'application/fhir+json; charset=utf-8' }],
      body: JSON.stringify(ex.value, null, 2),
      _postman_previewlanguage: 'json',
    },
  ];
}

function httpReason(code: number): string {
  const reasons: Record<number, string> = {
    200: 'OK', 201: 'Created', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
    409: 'Conflict', 412: 'Precondition Failed', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity',
    429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
  };
  return reasons[code] ?? String(code);
}

/** Builds the Postman item of one scenario from the converted request of its operation. */
function scenarioItem(doc: Json, opId: string, op: Json, converted: Json, s: Scenario): Json {
  const req = converted.request as Json;
  const documented = new Set(Object.keys(op.responses ?? {}));
  if (!documented.has(String(s.status))) throw new Error(`scenario '${s.name}' expects ${s.status}, which ${opId} does not document`);
  const url = req.url as Json;
  const pathSegs: string[] = (url.path as string[]).filter((x) => x !== '');
  const variables = (url.variable ?? []).map((v: Json) => {
    const value = s.path?.[v.key] ?? (v.key === 'type' ? 'Patient' : v.key === 'id' ? PATIENT_ID : v.key === 'vid' ? '1' : String(v.value));
    return { key: v.key, value, description: v.description };
  });
  // documented header parameters keep their description; only those the scenario sets are enabled
  const headers: Json[] = [];
  const given = { ...(s.headers ?? {}) };
  for (const h of (req.header ?? []) as Json[]) {
    if (h.key === 'Content-Type' || h.key === 'Accept') continue;
    const v = given[h.key];
    delete given[h.key];
    headers.push(v === undefined ? { key: h.key, value: '', description: h.description, disabled: true } : { key: h.key, value: v, description: h.description });
  }
  for (const [k, v] of Object.entries(given)) if (k !== 'Content-Type') headers.push({ key: k, value: v });
  headers.push({ key: 'Accept', value: 'application/fhir+json' });
  if (s.body) headers.push({ key: 'Content-Type', value: s.headers?.['Content-Type'] ?? 'application/fhir+json' });

  const request: Json = {
    method: req.method,
    header: headers,
    url: {
      raw: ['{{baseUrl}}', ...pathSegs].join('/') + (s.query ? '?' + s.query.map(([k, v]) => `${k}=${v}`).join('&') : ''),
      host: ['{{baseUrl}}'],
      ...(pathSegs.length ? { path: pathSegs } : {}),
      ...(s.query ? { query: s.query.map(([key, value]) => ({ key, value })) } : {}),
      ...(variables.length ? { variable: variables } : {}),
    },
    description: `operationId: ${opId}\n\n${(op.description ?? op.summary ?? '').trim()}`,
  };
  const body = bodyOf(doc, s);
  if (body) request.body = body;
  const auth = s.auth ?? 'inherit';
  if (auth === 'none') request.auth = { type: 'noauth' };
  else if (auth !== 'inherit') request.auth = { type: 'bearer', bearer: [{ key: 'token', value: auth.bearer, type: 'string' }] };

  const event: Json[] = [];
  if (s.pre?.length) event.push({ listen: 'prerequest', script: { id: stableId('pre', opId, s.name), type: 'text/javascript', exec: s.pre } });
  event.push({ listen: 'test', script: { id: stableId('test', opId, s.name), type: 'text/javascript', exec: [status(s.status), ...(s.tests ?? [])] } });
  return {
    id: stableId('item', opId, s.name),
    name: s.name,
    event,
    request,
    response: savedResponse(doc, opId, op, s, request),
  };
}

/** Generates the collection and environment from openapi.yaml. Writes them unless `write: false`. */
export async function generate(opts: { write?: boolean } = {}): Promise<{ collection: Json; environment: Json }> {
  const spec = fs.readFileSync(OPENAPI_FILE, 'utf8');
  const doc = YAML.parse(spec) as Json;
  const converted = await convertSpec(spec);

  const ops = operationsOf(doc);
  const byId = new Map(ops.map((o) => [o.op.operationId as string, o]));
  for (const s of SCENARIOS) if (!byId.has(s.op)) throw new Error(`scenario '${s.name}' names unknown operation ${s.op}`);
  // the ops routes (x-tributary-ops: beside the FHIR base, e.g. POST /ops/analyses/{id}/run) are not in the collection
  const missing = ops.filter((o) => !o.op['x-tributary-ops'] && !SCENARIOS.some((s) => s.op === o.op.operationId));
  if (missing.length) throw new Error(`no Postman scenario for: ${missing.map((o) => o.op.operationId).join(', ')}`);

  const folders: Json[] = [];
  const planned: Json[] = [];
  for (const folder of converted.item as Json[]) {
    const items: Json[] = [];
    const requests: Json[] = folder.request ? [folder] : (folder.item as Json[]);
    for (const c of requests) {
      const tpl = templateOf(c.request.url.path);
      const o = ops.find((x) => x.method === c.request.method && x.path === tpl);
      if (!o) throw new Error(`converted request ${c.request.method} ${tpl} matches no operation`);
      const opId = o.op.operationId as string;
      const built = SCENARIOS.filter((s) => s.op === opId).map((s) => scenarioItem(doc, opId, o.op, c, s));
      (o.op['x-tributary-planned'] ? planned : items).push(...built);
    }
    if (items.length) {
      const tag = (doc.tags as Json[]).find((x) => x.name === folder.name);
      folders.push({ id: stableId('folder', folder.name), name: folder.name, description: tag?.description?.trim() ?? '', item: items });
    }
  }
  if (planned.length) {
    folders.push({
      id: stableId('folder', PLANNED_FOLDER),
      name: PLANNED_FOLDER,
      description: 'Operations marked x-tributary-planned in openapi.yaml: documented, not deployed yet. `run()` skips this folder.',
      item: planned,
    });
  }

  const collection: Json = {
    info: {
      _postman_id: stableId('collection', doc.info.title),
      name: `${doc.info.title} ${doc.info.version}`,
      description: `Generated from openapi.yaml by scripts/postman.ts (node dist/scripts/postman.js generate): do not edit by hand.\n\n${doc.info.description.trim()}`,
      schema: 'https://schema.getpostman.com/json/collection/v2.1.0/collection.json',
    },
    item: folders,
    auth: { type: 'bearer', bearer: [{ key: 'token', value: '{{token}}', type: 'string' }] },
    event: [{ listen: 'test', script: { id: stableId('collection-test'), type: 'text/javascript', exec: COLLECTION_TESTS } }],
    variable: [
      { key: 'baseUrl', value: doc.servers[0].url, type: 'string' },
      { key: 'token', value: '', type: 'string' },
      { key: 'patientId', value: '', type: 'string' },
      { key: 'updateId', value: '', type: 'string' },
      { key: 'batchPutId', value: '', type: 'string' },
    ],
  };
  const environment: Json = {
    id: stableId('environment', 'local'),
    name: 'Tributary local',
    values: [
      { key: 'baseUrl', value: doc.servers[0].url, type: 'default', enabled: true },
      { key: 'token', value: '', type: 'secret', enabled: true },
    ],
    _postman_variable_scope: 'environment',
  };
  if (opts.write !== false) {
    fs.mkdirSync(path.dirname(COLLECTION_FILE), { recursive: true });
    fs.writeFileSync(COLLECTION_FILE, JSON.stringify(collection, null, 2) + '\n');
    fs.writeFileSync(ENVIRONMENT_FILE, JSON.stringify(environment, null, 2) + '\n');
  }
  return { collection, environment };
}
