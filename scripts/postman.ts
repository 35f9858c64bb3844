/**
 * The Postman collection of the API, generated from `openapi.yaml`, and its newman run.
 *
 *     node dist/scripts/postman.js generate   # rewrite postman/*.json from openapi.yaml
 *     node dist/scripts/postman.js run        # start a local stack, mint a token, run the collection, stop
 *     node dist/scripts/postman.js run --base-url http://localhost:3000/fhir --token "$TOKEN"   # an existing stack
 *     node dist/scripts/postman.js run --quiet --junit newman/junit.xml                        # CI: JUnit report
 * `run` prints `newman: N assertions, F failed` and exits non-zero on any failure.
 *
 * `generate()` converts openapi.yaml with openapi-to-postmanv2 (folders by tag, one request per operation,
 * with the parameter descriptions), then turns each operation into one or more runnable scenarios below:
 * real FHIR bodies from the OpenAPI examples, `{{baseUrl}}` and `Authorization: Bearer {{token}}`, and
 * `pm.test` assertions on statuses, headers and bodies. Ids are derived from names and the output is sorted,
 * so the committed collection is reproducible (test/unit/openapi.test.ts checks it is in sync).
 *
 * Operations marked `x-tributary-planned` in openapi.yaml (not deployed yet) go to a folder whose name starts
 * with `Planned`; `run()` skips that folder unless asked to include it. Operations marked `x-tributary-ops` (the
 * ops routes beside the FHIR base) are left out: the collection covers the FHIR API.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { convert } from 'openapi-to-postmanv2';
import YAML from 'yaml';
import { startStack } from './start';
import { main as tokenMain } from './token';

/** The repository root (works from scripts/ under ts-jest and from dist/scripts/). */
function repoRoot(): string {
  let d = __dirname;
  for (let i = 0; i < 5; i++) {
    if (fs.existsSync(path.join(d, 'openapi.yaml')) && fs.existsSync(path.join(d, 'package.json'))) return d;
    d = path.dirname(d);
  }
  throw new Error('cannot find the repository root (openapi.yaml)');
}

export const ROOT = repoRoot();
export const OPENAPI_FILE = path.join(ROOT, 'openapi.yaml');
export const COLLECTION_FILE = path.join(ROOT, 'postman', 'tributary.postman_collection.json');
export const ENVIRONMENT_FILE = path.join(ROOT, 'postman', 'local.postman_environment.json');
export const PLANNED_FOLDER = 'Planned (documented, not deployed yet)';

type Json = Record<string, any>;

// ------------------------------------------------------------------------------------------------ scenarios

/** A runnable request for one operation, with its assertions. */
interface Scenario {
  op: string;
  name: string;
  status: number;
  /** Path variable values (default `type` Patient). */
  path?: Record<string, string>;
  query?: [string, string][];
  headers?: Record<string, string>;
  /** An example of openapi.yaml (components/examples), optionally changed; or raw text; or JSON. */
  body?: { example: string; edit?: (v: any) => any } | { raw: string } | { json: unknown };
  auth?: 'inherit' | 'none' | { bearer: string };
  pre?: string[];
  tests?: string[];
}

const status = (n: number): string => `pm.test('status is ${n}', function () { pm.response.to.have.status(${n}); });`;
const t = (name: string, body: string): string => `pm.test(${JSON.stringify(name)}, function () { ${body} });`;
const issueExpr = (expr: string): string =>
  t(
    `an issue names ${expr}`,
    `var ex = pm.response.json().issue.map(function (i) { return (i.expression || []).join(','); }).join(','); pm.expect(ex).to.include(${JSON.stringify(expr)});`,
  );
const issueCode = (code: string): string =>
  t(`issue code is ${code}`, `pm.expect(pm.response.json().issue[0].code).to.eql(${JSON.stringify(code)});`);
const allow = t('Allow: POST, PUT', `pm.expect(pm.response.headers.get('Allow')).to.eql('POST, PUT');`);
const stored = (type: string, version: string): string[] => [
  t(`body is the stored ${type}`, `var b = pm.response.json(); pm.expect(b.resourceType).to.eql('${type}'); pm.expect(b.id).to.be.a('string').and.not.empty; pm.expect(b.meta.versionId).to.eql('${version}'); pm.expect(new Date(b.meta.lastUpdated).getTime()).to.be.above(0);`),
  t(`Location is ${type}/{id}/_history/${version}`, `var b = pm.response.json(); pm.expect(pm.response.headers.get('Location')).to.eql(pm.variables.get('baseUrl') + '/${type}/' + b.id + '/_history/${version}');`),
  t(`ETag is W/"${version}"`, `pm.expect(pm.response.headers.get('ETag')).to.eql('W/"${version}"');`),
  t('Last-Modified is an HTTP date', `pm.expect(pm.response.headers.get('Last-Modified')).to.match(/^[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$/);`),
];
const responseStatuses = (codes: string[]): string =>
  t(
    `entry statuses are ${codes.join(', ')}`,
    `pm.expect(pm.response.json().entry.map(function (e) { return e.response.status.split(' ')[0]; })).to.eql(${JSON.stringify(codes)});`,
  );

const PATIENT_ID = '{{patientId}}';
const UPDATE_ID = '{{updateId}}';

/** Every operation of openapi.yaml needs at least one scenario (generate() fails otherwise). */
const SCENARIOS: Scenario[] = [
  // -------------------------------------------------------------- capabilities
  {
    op: 'capabilities',
    name: 'CapabilityStatement (no token)',
    status: 200,
    auth: 'none',
    tests: [
      t('resourceType is CapabilityStatement', `pm.expect(pm.response.json().resourceType).to.eql('CapabilityStatement');`),
      t('FHIR 4.0.1, JSON', `var b = pm.response.json(); pm.expect(b.fhirVersion).to.eql('4.0.1'); pm.expect(b.format).to.include('application/fhir+json');`),
      t('Patient: create and update only', `var p = pm.response.json().rest[0].resource.find(function (r) { return r.type === 'Patient'; }); pm.expect(p.interaction.map(function (i) { return i.code; }).sort()).to.eql(['create', 'update']);`),
      t('batch and transaction', `pm.expect(pm.response.json().rest[0].interaction.map(function (i) { return i.code; }).sort()).to.eql(['batch', 'transaction']);`),
    ],
  },
  // -------------------------------------------------------------- create
  {
    op: 'create',
    name: 'Create a Patient (201)',
    status: 201,
    body: { example: 'Patient' },
    tests: [
      ...stored('Patient', '1'),
      t('the body keeps what was sent', `var b = pm.response.json(); pm.expect(b.name[0].family).to.eql('Smith'); pm.expect(b.gender).to.eql('female');`),
      `pm.collectionVariables.set('patientId', pm.response.json().id);`,
    ],
  },
  {
    op: 'create',
    name: 'Create an Observation (201)',
    status: 201,
    path: { type: 'Observation' },
    body: { example: 'Observation', edit: (o) => ({ ...o, subject: { reference: `Patient/${PATIENT_ID}` } }) },
    tests: [...stored('Observation', '1'), t('value kept', `pm.expect(pm.response.json().valueQuantity.value).to.eql(72);`)],
  },
  {
    op: 'create',
    name: 'Create with Prefer: return=minimal (201, empty body)',
    status: 201,
    headers: { Prefer: 'return=minimal' },
    body: { example: 'Patient' },
    tests: [
      t('empty body', `pm.expect(pm.response.text()).to.eql('');`),
      t('Location and ETag still sent', `pm.expect(pm.response.headers.get('Location')).to.match(/\\/Patient\\/[A-Za-z0-9\\-.]+\\/_history\\/1$/); pm.expect(pm.response.headers.get('ETag')).to.eql('W/"1"');`),
    ],
  },
  {
    op: 'create',
    name: 'Create with Prefer: return=OperationOutcome (201)',
    status: 201,
    headers: { Prefer: 'return=OperationOutcome' },
    body: { example: 'Patient' },
    tests: [
      t('body is an informational OperationOutcome', `var b = pm.response.json(); pm.expect(b.resourceType).to.eql('OperationOutcome'); pm.expect(b.issue[0].severity).to.eql('information');`),
      t('Location sent', `pm.expect(pm.response.headers.get('Location')).to.include('/Patient/');`),
    ],
  },
  {
    op: 'create',
    name: 'Schema-invalid Patient (400 with FHIRPath)',
    status: 400,
    body: { example: 'Patient', edit: (p) => ({ ...p, gender: 'yes' }) },
    tests: [issueExpr('Patient.gender')],
  },
  {
    op: 'create',
    name: 'Unknown element (400)',
    status: 400,
    body: { json: { resourceType: 'Patient', colour: 'blue' } },
    tests: [issueExpr('Patient.colour')],
  },
  {
    op: 'create',
    name: 'Malformed JSON (400)',
    status: 400,
    body: { raw: '{"resourceType": "Patient",' },
    tests: [t('diagnostics say malformed JSON', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/Malformed JSON/);`)],
  },
  {
    op: 'create',
    name: 'resourceType not matching the URL (400)',
    status: 400,
    path: { type: 'Patient' },
    body: { example: 'Observation' },
    tests: [issueExpr('resourceType')],
  },
  {
    op: 'create',
    name: 'Conditional create on an unsupported search parameter (400)',
    status: 400,
    headers: { 'If-None-Exist': 'name=Smith' },
    body: { example: 'Patient' },
    tests: [issueCode('invalid')],
  },
  {
    op: 'create',
    name: 'Unsupported content type (415)',
    status: 415,
    headers: { 'Content-Type': 'application/fhir+xml' },
    body: { raw: '<Patient xmlns="http://hl7.org/fhir"><gender value="female"/></Patient>' },
    tests: [issueCode('not-supported'), t('diagnostics name the content type', `pm.expect(pm.response.json().issue[0].diagnostics).to.include('application/fhir+xml');`)],
  },
  {
    op: 'create',
    name: 'Body over 5 MiB (413)',
    status: 413,
    pre: [
      `var div = '<div xmlns="http://www.w3.org/1999/xhtml">' + new Array(5 * 1024 * 1024 + 2).join('x') + '</div>';`,
      `pm.variables.set('bigBody', JSON.stringify({ resourceType: 'Patient', text: { status: 'generated', div: div } }));`,
    ],
    body: { raw: '{{bigBody}}' },
    tests: [issueCode('too-costly')],
  },
  {
    op: 'create',
    name: 'Unknown resource type (404)',
    status: 404,
    path: { type: 'Patientt' },
    body: { json: { resourceType: 'Patientt' } },
    tests: [issueCode('not-found'), t('diagnostics name the type', `pm.expect(pm.response.json().issue[0].diagnostics).to.include('Patientt');`)],
  },
  {
    op: 'create',
    name: 'No bearer token (401)',
    status: 401,
    auth: 'none',
    body: { example: 'Patient' },
    tests: [issueCode('login'), t('WWW-Authenticate: Bearer', `pm.expect(pm.response.headers.get('WWW-Authenticate')).to.match(/^Bearer realm=/);`)],
  },
  {
    op: 'create',
    name: 'Invalid bearer token (401)',
    status: 401,
    auth: { bearer: 'not-a-jwt' },
    body: { example: 'Patient' },
    tests: [issueCode('login'), t('challenge says invalid_token', `pm.expect(pm.response.headers.get('WWW-Authenticate')).to.include('error="invalid_token"');`)],
  },
  // -------------------------------------------------------------- update
  {
    op: 'update',
    name: 'Update: PUT a new id (201)',
    status: 201,
    path: { type: 'Patient', id: UPDATE_ID },
    pre: [`pm.collectionVariables.set('updateId', 'pm-' + Date.now().toString(36) + '-' + Math.floor(Math.random() * 1e9).toString(36));`],
    body: { example: 'PatientWithId', edit: (p) => ({ ...p, id: UPDATE_ID }) },
    tests: [...stored('Patient', '1'), t('the id is the client id', `pm.expect(pm.response.json().id).to.eql(pm.collectionVariables.get('updateId'));`)],
  },
  {
    op: 'update',
    name: 'Update: PUT again, new version (200)',
    status: 200,
    path: { type: 'Patient', id: UPDATE_ID },
    body: { example: 'PatientWithId', edit: (p) => ({ ...p, id: UPDATE_ID, gender: 'other' }) },
    tests: [...stored('Patient', '2'), t('the change is kept', `pm.expect(pm.response.json().gender).to.eql('other');`)],
  },
  {
    op: 'update',
    name: 'Update with the current If-Match (200)',
    status: 200,
    path: { type: 'Patient', id: UPDATE_ID },
    headers: { 'If-Match': 'W/"2"' },
    body: { example: 'PatientWithId', edit: (p) => ({ ...p, id: UPDATE_ID }) },
    tests: [t('ETag is W/"3"', `pm.expect(pm.response.headers.get('ETag')).to.eql('W/"3"');`)],
  },
  {
    op: 'update',
    name: 'Update with a stale If-Match (412)',
    status: 412,
    path: { type: 'Patient', id: UPDATE_ID },
    headers: { 'If-Match': 'W/"1"' },
    body: { example: 'PatientWithId', edit: (p) => ({ ...p, id: UPDATE_ID }) },
    tests: [issueCode('conflict'), t('diagnostics name both versions', `var d = pm.response.json().issue[0].diagnostics; pm.expect(d).to.include('W/"1"'); pm.expect(d).to.include('W/"3"');`)],
  },
  {
    op: 'update',
    name: 'Update with a body id different from the URL (400)',
    status: 400,
    path: { type: 'Patient', id: UPDATE_ID },
    body: { example: 'PatientWithId', edit: (p) => ({ ...p, id: 'some-other-id' }) },
    tests: [issueExpr('Patient.id')],
  },
  // -------------------------------------------------------------- bundles
  {
    op: 'batchOrTransaction',
    name: 'Transaction with urn:uuid references (200)',
    status: 200,
    body: { example: 'TransactionBundle' },
    tests: [
      t('transaction-response, every entry 201', `var b = pm.response.json(); pm.expect(b.type).to.eql('transaction-response'); pm.expect(b.entry.map(function (e) { return e.response.status.split(' ')[0]; })).to.eql(['201', '201', '201']);`),
      t('entries in request order', `pm.expect(pm.response.json().entry.map(function (e) { return e.response.location.split('/')[0]; })).to.eql(['Patient', 'Encounter', 'Observation']);`),
      t('urn:uuid references rewritten to the assigned ids', `var b = pm.response.json(); var pid = b.entry[0].response.location.split('/')[1]; var eid = b.entry[1].response.location.split('/')[1]; var obs = b.entry[2].resource; pm.expect(obs.subject.reference).to.eql('Patient/' + pid); pm.expect(obs.encounter.reference).to.eql('Encounter/' + eid); pm.expect(b.entry[1].resource.subject.reference).to.eql('Patient/' + pid);`),
      t('no urn:uuid left in the response', `pm.expect(pm.response.text()).to.not.include('urn:uuid:');`),
    ],
  },
  {
    op: 'batchOrTransaction',
    name: 'Batch (200)',
    status: 200,
    pre: [`pm.collectionVariables.set('batchPutId', 'pm-batch-' + Date.now().toString(36) + '-' + Math.floor(Math.random() * 1e9).toString(36));`],
    body: {
      example: 'BatchBundle',
      edit: (b) => ({
        ...b,
        entry: b.entry.map((e: any) =>
          e.request.method === 'PUT' ? { ...e, resource: { ...e.resource, id: '{{batchPutId}}' }, request: { ...e.request, url: 'Patient/{{batchPutId}}' } } : e,
        ),
      }),
    },
    tests: [t('batch-response', `pm.expect(pm.response.json().type).to.eql('batch-response');`), responseStatuses(['201', '201'])],
  },
  {
    op: 'batchOrTransaction',
    name: 'Batch with refused entries (200, per-entry status)',
    status: 200,
    body: {
      json: {
        resourceType: 'Bundle',
        type: 'batch',
        entry: [
          { resource: { resourceType: 'Patient', gender: 'female' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Patient', gender: 'yes' }, request: { method: 'POST', url: 'Patient' } },
          { request: { method: 'DELETE', url: 'Patient/1' } },
        ],
      },
    },
    tests: [
      responseStatuses(['201', '400', '405']),
      t('the refused entry carries its OperationOutcome', `var o = pm.response.json().entry[1].response.outcome; pm.expect(o.resourceType).to.eql('OperationOutcome'); pm.expect(o.issue[0].expression[0]).to.eql('Bundle.entry[1].resource.gender');`),
    ],
  },
  {
    op: 'batchOrTransaction',
    name: 'Transaction with a bad entry (400, nothing stored)',
    status: 400,
    body: {
      json: {
        resourceType: 'Bundle',
        type: 'transaction',
        entry: [
          { resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
          { resource: { resourceType: 'Observation', status: 'done', code: { text: 'x' } }, request: { method: 'POST', url: 'Observation' } },
        ],
      },
    },
    tests: [issueExpr('Bundle.entry[1].resource.status')],
  },
  {
    op: 'batchOrTransaction',
    name: 'A collection Bundle on the base (400)',
    status: 400,
    body: { json: { resourceType: 'Bundle', type: 'collection' } },
    tests: [issueExpr('Bundle.type')],
  },
  // -------------------------------------------------------------- $import (docs/import.md)
  {
    op: 'bulkImport',
    name: '$import without a token (401)',
    status: 401,
    auth: 'none',
    body: { json: { resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUri: 'Patient.ndjson' }] }] } },
    tests: [issueCode('login')],
  },
  {
    op: 'bulkImportStatus',
    name: 'Import job status without a token (401)',
    status: 401,
    auth: 'none',
    path: { id: 'no-such-job' },
    tests: [issueCode('login')],
  },
  // -------------------------------------------------------------- $validate
  {
    op: 'validateAny',
    name: '$validate a valid Patient (200)',
    status: 200,
    body: { example: 'Patient' },
    tests: [t('an OperationOutcome without errors', `var b = pm.response.json(); pm.expect(b.resourceType).to.eql('OperationOutcome'); pm.expect(b.issue.filter(function (i) { return i.severity === 'error' || i.severity === 'fatal'; })).to.eql([]);`)],
  },
  {
    op: 'validateAny',
    name: '$validate a Patient wrapped in Parameters (200)',
    status: 200,
    body: { example: 'Patient', edit: (p) => ({ resourceType: 'Parameters', parameter: [{ name: 'resource', resource: p }] }) },
    tests: [t('no error issues', `pm.expect(pm.response.json().issue.filter(function (i) { return i.severity === 'error' || i.severity === 'fatal'; })).to.eql([]);`)],
  },
  {
    op: 'validateAny',
    name: '$validate an invalid Patient (422)',
    status: 422,
    body: { example: 'Patient', edit: (p) => ({ ...p, gender: 'yes' }) },
    tests: [issueExpr('Patient.gender')],
  },
  {
    op: 'validateAny',
    name: '$validate without a token (401)',
    status: 401,
    auth: 'none',
    body: { example: 'Patient' },
    tests: [issueCode('login')],
  },
  {
    op: 'validate',
    name: 'Observation/$validate a valid Observation (200)',
    status: 200,
    path: { type: 'Observation' },
    body: { example: 'Observation' },
    tests: [t('no error issues', `pm.expect(pm.response.json().issue.filter(function (i) { return i.severity === 'error' || i.severity === 'fatal'; })).to.eql([]);`)],
  },
  {
    op: 'validate',
    name: 'Observation/$validate an invalid Observation (422)',
    status: 422,
    path: { type: 'Observation' },
    body: { example: 'Observation', edit: (o) => ({ ...o, status: 'done' }) },
    tests: [issueExpr('Observation.status'), t('every error has an expression', `pm.response.json().issue.forEach(function (i) { pm.expect(i.expression).to.be.an('array').that.is.not.empty; });`)],
  },
  {
    op: 'validate',
    name: 'Observation/$validate a Patient (400, type mismatch)',
    status: 400,
    path: { type: 'Observation' },
    body: { example: 'Patient' },
    tests: [issueExpr('resourceType')],
  },
  {
    op: 'validate',
    name: 'Unknown type/$validate (404)',
    status: 404,
    path: { type: 'NotAType' },
    body: { json: { resourceType: 'NotAType' } },
    tests: [issueCode('not-found')],
  },
  // -------------------------------------------------------------- not supported
  { op: 'searchAll', name: 'System search (405)', status: 405, auth: 'none', tests: [allow] },
  {
    op: 'search',
    name: 'Search Patient (405)',
    status: 405,
    auth: 'none',
    query: [['family', 'Smith']],
    tests: [allow, t('diagnostics say search', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/^search is not supported/);`)],
  },
  { op: 'conditionalUpdate', name: 'Conditional update (405)', status: 405, auth: 'none', body: { example: 'Patient' }, tests: [allow] },
  { op: 'conditionalDelete', name: 'Conditional delete (405)', status: 405, auth: 'none', query: [['family', 'Smith']], tests: [allow] },
  {
    op: 'read',
    name: 'Read the created Patient (405)',
    status: 405,
    auth: 'none',
    path: { type: 'Patient', id: PATIENT_ID },
    tests: [allow, issueCode('not-supported'), t('diagnostics say read', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/^read is not supported/);`)],
  },
  { op: 'read', name: 'Read an unknown type (404)', status: 404, auth: 'none', path: { type: 'NotAType', id: '1' }, tests: [issueCode('not-found')] },
  { op: 'postToInstance', name: 'POST to an instance (405)', status: 405, auth: 'none', path: { type: 'Patient', id: PATIENT_ID }, body: { example: 'Patient' }, tests: [allow] },
  {
    op: 'delete',
    name: 'Delete (405)',
    status: 405,
    auth: 'none',
    path: { type: 'Patient', id: PATIENT_ID },
    tests: [allow, t('diagnostics say delete', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/^delete is not supported/);`)],
  },
  {
    op: 'patch',
    name: 'Patch (405)',
    status: 405,
    auth: 'none',
    path: { type: 'Patient', id: PATIENT_ID },
    headers: { 'Content-Type': 'application/json-patch+json' },
    body: { json: [{ op: 'replace', path: '/gender', value: 'male' }] },
    tests: [allow, t('diagnostics say patch', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/^patch is not supported/);`)],
  },
  {
    op: 'history',
    name: 'History (405)',
    status: 405,
    auth: 'none',
    path: { type: 'Patient', id: PATIENT_ID },
    tests: [allow, t('diagnostics say history', `pm.expect(pm.response.json().issue[0].diagnostics).to.match(/^history is not supported/);`)],
  },
  { op: 'vread', name: 'Version read of the created Patient (405)', status: 405, auth: 'none', path: { type: 'Patient', id: PATIENT_ID, vid: '1' }, tests: [allow] },
];

/** Assertions run after every request (collection level). */
const COLLECTION_TESTS = [
  `if (pm.response.code !== 429) {`,
  `  pm.test('X-Request-Id is a correlation id', function () { pm.expect(pm.response.headers.get('X-Request-Id')).to.match(/^[A-Za-z0-9-]{8,64}$/); });`,
  `}`,
  `if (pm.response.text() !== '') {`,
  `  pm.test('Content-Type is application/fhir+json', function () { pm.expect(pm.response.headers.get('Content-Type')).to.match(/^application\\/fhir\\+json/); });`,
  `}`,
  `if (pm.response.code >= 400) {`,
  `  pm.test('the error is an OperationOutcome with issues', function () {`,
  `    var b = pm.response.json();`,
  `    pm.expect(b.resourceType).to.eql('OperationOutcome');`,
  `    pm.expect(b.issue).to.be.an('array').that.is.not.empty;`,
  `    b.issue.forEach(function (i) { pm.expect(i.severity).to.be.oneOf(['fatal', 'error', 'warning', 'information']); pm.expect(i.code).to.be.a('string'); });`,
  `    pm.expect(b.issue.some(function (i) { return i.severity === 'error' || i.severity === 'fatal'; })).to.eql(true);`,
  `  });`,
  `}`,
];

// ------------------------------------------------------------------------------------------------ generation

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

// ------------------------------------------------------------------------------------------------ newman

/** Options of {@link run}. */
export interface RunOptions {
  baseUrl: string;
  token?: string;
  /** A collection object or file; default the committed collection. */
  collection?: Json | string;
  /** Top-level folders to run; default every folder except the planned one. */
  folders?: string[];
  includePlanned?: boolean;
  /** newman reporters, e.g. ['cli', 'junit']; default none. */
  reporters?: string[];
  /** newman reporter options, e.g. `{ junit: { export: 'newman/junit.xml' } }`. */
  reporter?: Json;
  /** Per-request timeout, ms (default 60 s). */
  timeoutRequest?: number;
}

/** What a newman run found. */
export interface RunSummary {
  assertions: { total: number; failed: number };
  requests: { total: number; failed: number };
  failures: { item: string; test: string; message: string }[];
}

interface NewmanSummary {
  run: {
    stats: { assertions: { total: number; failed: number }; requests: { total: number; failed: number } };
    failures: { error: { test?: string; name?: string; message: string }; source?: { name?: string } }[];
    error?: unknown;
  };
}
type NewmanRun = (options: Json, cb: (err: Error | null, summary: NewmanSummary) => void) => unknown;

/** Runs the collection with newman against a live stack; resolves with the assertion counts and failures. */
export async function run(o: RunOptions): Promise<RunSummary> {
  // newman ships no typings
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const newman = require('newman') as { run: NewmanRun };
  const collection = typeof o.collection === 'string' || o.collection === undefined ? JSON.parse(fs.readFileSync(o.collection ?? COLLECTION_FILE, 'utf8')) : o.collection;
  const folders =
    o.folders ?? (collection.item as Json[]).map((f) => f.name as string).filter((n) => o.includePlanned || !n.startsWith('Planned'));
  const summary = await new Promise<NewmanSummary>((resolve, reject) => {
    newman.run(
      {
        collection,
        envVar: [
          { key: 'baseUrl', value: o.baseUrl.replace(/\/$/, '') },
          { key: 'token', value: o.token ?? '' },
        ],
        folder: folders,
        reporters: o.reporters ?? [],
        ...(o.reporter ? { reporter: o.reporter } : {}),
        timeoutRequest: o.timeoutRequest ?? 60_000,
      },
      (err, s) => (err ? reject(err) : resolve(s)),
    );
  });
  const st = summary.run.stats;
  return {
    assertions: { total: st.assertions.total, failed: st.assertions.failed },
    requests: { total: st.requests.total, failed: st.requests.failed },
    failures: summary.run.failures.map((f) => ({ item: f.source?.name ?? '?', test: f.error.test ?? f.error.name ?? '', message: f.error.message })),
  };
}

// ------------------------------------------------------------------------------------------------ CLI

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A port p with p, p+1 and p+2 free (serverless-offline uses all three). */
async function freePortTriple(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 30000);
    if ((await isFree(p)) && (await isFree(p + 1)) && (await isFree(p + 2))) return p;
  }
  throw new Error('no free ports');
}

/** Mints a local token with scripts/token.ts (the same code as `npm run token`). */
async function mint(dataDir: string, issuer: string | undefined, source: string, scope: string): Promise<string> {
  const lines: string[] = [];
  const args = ['--source', source, '--scope', scope, '--data-dir', dataDir, ...(issuer ? ['--issuer', issuer] : [])];
  const code = await tokenMain(args, { env: process.env, stdout: (l) => lines.push(l), stderr: () => undefined });
  if (code !== 0 || lines.length === 0) throw new Error(`token minting failed (exit ${code})`);
  return lines[lines.length - 1].trim();
}

async function cli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'generate') {
    const { collection } = await generate();
    const count = (items: Json[]): number => items.reduce((n, i) => n + (i.item ? count(i.item) : 1), 0);
    console.log(`wrote ${path.relative(ROOT, COLLECTION_FILE)} (${count(collection.item)} requests) and ${path.relative(ROOT, ENVIRONMENT_FILE)}`);
    return 0;
  }
  if (command !== 'run') {
    console.error('usage: node dist/scripts/postman.js generate | run [--base-url URL --token T] [--include-planned] [--quiet] [--junit FILE]');
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      'base-url': { type: 'string' },
      token: { type: 'string' },
      'include-planned': { type: 'boolean' },
      quiet: { type: 'boolean' },
      junit: { type: 'string' },
    },
    strict: true,
  });
  const reporters = [...(values.quiet ? [] : ['cli']), ...(values.junit ? ['junit'] : [])];
  const reporter = values.junit ? { junit: { export: path.resolve(values.junit) } } : undefined;
  let stack: { baseUrl: string; stop(): Promise<void> } | undefined;
  let dataDir: string | undefined;
  try {
    let baseUrl = values['base-url'];
    let token = values.token;
    if (!baseUrl) {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-newman-'));
      const port = await freePortTriple();
      const started = await startStack({ port, s3Port: await freePort(), snsPort: await freePort(), issuerPort: 0, dataDir, quiet: true } as Parameters<typeof startStack>[0]);
      stack = started;
      baseUrl = started.baseUrl;
      console.log(`stack up at ${baseUrl} (data in ${dataDir})`);
      token ??= await mint(dataDir, (started as { issuer?: string }).issuer, 'postman', 'system/*.cu');
    }
    const summary = await run({ baseUrl, token, includePlanned: values['include-planned'], reporters, reporter });
    console.log(`newman: ${summary.assertions.total} assertions, ${summary.assertions.failed} failed`);
    for (const f of summary.failures) console.log(`  ✗ ${f.item}: ${f.test}: ${f.message}`);
    return summary.assertions.failed === 0 && summary.failures.length === 0 && summary.assertions.total > 0 ? 0 : 1;
  } finally {
    if (stack) await stack.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack ?? err.message : err);
      process.exit(1);
    },
  );
}
