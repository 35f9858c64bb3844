/**
 * The API handlers of src/handlers/api.ts in process, over an application built like the local runtime's but with
 * in-memory stores: the real validation pipeline (strict by default, `X-Validation-Level` allowed), the real
 * pseudonymisation engine and policy (keys in a temp dir), the in-memory lake, version index and event bus, and an
 * audit log that keeps its entries. Tests mock `src/bootstrap` with {@link harnessApp} (see bad-input.test.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import type { App } from '../../src/bootstrap';
import { loadConfig } from '../../src/config';
import { IndexKeys, Ingestor } from '../../src/core/ingest';
import type { AuditEntry } from '../../src/core/ports';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../../src/core/pseudonymise';
import { TriageArea } from '../../src/core/triage';
import { LocalKeyService } from '../../src/adapters/local/key-service';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { buildProfileValidator, buildValidator } from '../../src/fhir/validation/pipeline';
import { createPseudonymiser, parsePolicy } from '../../src/fhir/pseudo';
import { loadSchemaModule, projectFile, readPolicyText, readProfileModel, readRulesText } from '../../src/paths';
import { MemoryEventBus, MemoryIdentityVault, MemoryVersionIndex } from './ingest-doubles';

/** The harness application, with its stores open for inspection. */
export interface Harness {
  app: App;
  lake: MemoryObjectStore;
  versions: MemoryVersionIndex;
  events: MemoryEventBus;
  audit: AuditEntry[];
  dataDir: string;
  /** The version index's keyed keys (`Type/{HMAC}`): a client's `Type/id` is never a key. */
  indexKeys: IndexKeys;
}

let harness: Harness | undefined;

/** The one harness application of this test file (built on first use). */
export function harnessApp(): App {
  return getHarness().app;
}

/** The harness with its stores. */
export function getHarness(): Harness {
  if (harness) return harness;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-harness-'));
  const config = loadConfig({ TRIBUTARY_RUNTIME: 'local', AUTH: 'off', DATA_DIR: dataDir, SOURCE_SYSTEM: 'harness', ALLOW_VALIDATION_LEVEL_OVERRIDE: 'true' });
  const lake = new MemoryObjectStore(config.buckets.lake);
  const versions = new MemoryVersionIndex();
  const events = new MemoryEventBus();
  const identity = new MemoryIdentityVault();
  const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
  const validate = buildValidator({ ...config, schemaModule: loadSchemaModule }, profile);
  const keyService = LocalKeyService.open(dataDir);
  const indexKeys = new IndexKeys(keyService);
  const transform = new PseudonymiseTransform(
    Promise.all([readPolicyText(projectFile('policy/pseudonymisation.yaml')).then(parsePolicy), keyService]).then(([policy, keys]) =>
      createPseudonymiser({ policy, keys, patientResolver: new VersionIndexPatientResolver(versions, indexKeys) }),
    ),
  );
  const audit: AuditEntry[] = [];
  const auditLog = { append: async (e: AuditEntry) => void audit.push(e) };
  // a committed write's audit record is written by its commit (the outbox), the others by the handler
  const ingestor = new Ingestor({ lake, versions, events, clock: { now: () => new Date() }, validate, transform, identity, indexKeys, audit: auditLog });
  const triage = new TriageArea(new MemoryObjectStore(config.buckets.triage), { seal: async (p) => p, open: async (b) => b }, events, { now: () => new Date() });
  const app: App = {
    config,
    lake,
    versions,
    events,
    ingestor,
    validate,
    identityStore: new MemoryObjectStore(config.buckets.identity),
    identity,
    transform,
    triage,
    triageEnabled: () => false,
    audit: auditLog,
  };
  harness = { app, lake, versions, events, audit, dataDir, indexKeys };
  return harness;
}

/** Removes the harness's temp dir. */
export function closeHarness(): void {
  if (harness) fs.rmSync(harness.dataDir, { recursive: true, force: true });
  harness = undefined;
}

/** A synthetic API Gateway (REST, v1 proxy) event. `body` as bytes is sent base64-encoded, as API Gateway does for binary media types. */
export function apiEvent(method: string, pathName: string, headers: Record<string, string> = {}, body?: string | Uint8Array | null): APIGatewayProxyEvent {
  const base64 = body instanceof Uint8Array;
  return {
    httpMethod: method,
    path: pathName,
    resource: pathName,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { requestId: `req-${Math.random().toString(36).slice(2, 12)}`, identity: { sourceIp: '127.0.0.1' } } as never,
    body: body === undefined || body === null ? null : base64 ? Buffer.from(body).toString('base64') : body,
    isBase64Encoded: base64,
  } as APIGatewayProxyEvent;
}

/** A response's OperationOutcome issues (empty when the body is not one). */
export function issuesOf(r: APIGatewayProxyResult): { code?: string; diagnostics?: string; expression?: string[] }[] {
  try {
    const b = JSON.parse(r.body);
    return b?.resourceType === 'OperationOutcome' ? b.issue : [];
  } catch {
    return [];
  }
}
