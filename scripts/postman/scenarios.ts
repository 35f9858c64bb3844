/**
 * The runnable scenarios of the Postman collection: one or more per operation of openapi.yaml, each a request
 * (path, query, headers, body from the OpenAPI examples, auth) with its expected status and `pm.test` assertions.
 */
import { allow, issueCode, issueExpr, responseStatuses, stored, t } from './assertions';

/** A runnable request for one operation, with its assertions. */
export interface Scenario {
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

/** The id of the Patient created by the first create scenario (a collection variable). */
export const PATIENT_ID = '{{patientId}}';
/** The client-chosen id of the update scenarios (a collection variable set by the first one). */
export const UPDATE_ID = '{{updateId}}';

/** Every operation of openapi.yaml needs at least one scenario (generate() fails otherwise). */
export const SCENARIOS: Scenario[] = [
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
