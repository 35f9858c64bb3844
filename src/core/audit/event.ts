/**
 * Builds the FHIR AuditEvent (https://hl7.org/fhir/R4/auditevent.html) recorded for every request.
 *
 * What goes in: time, request (correlation) id, the source system and OAuth client from the verified token,
 * the interaction, resource types with counts, the lake object keys written, the HTTP status and the
 * OperationOutcome issue code, and optionally the caller's IP address. What never goes in: request or
 * response payloads, resource ids from the client, business identifiers, names, tokens, diagnostics text.
 * The input type only has room for the former, so a caller cannot pass a payload by mistake.
 *
 * Codings used:
 * - `type`: http://terminology.hl7.org/CodeSystem/audit-event-type#rest
 * - `subtype`: http://hl7.org/fhir/restful-interaction (create, update, batch, transaction, operation,
 *   capabilities); a refused request (before routing) uses {@link TRIBUTARY_INTERACTION_SYSTEM}#refused.
 * - `action`: C create, U update, R capabilities, E everything else (batch, transaction, $validate, refused).
 * - `outcome`: 0 success (< 400), 4 minor failure (4xx), 8 serious failure (5xx).
 * - the request id is an entity typed like IHE BALP's `XrequestId`
 *   (https://profiles.ihe.net/ITI/BALP/CodeSystem-BasicAuditEntityType.html).
 */
import type { AuditEntry } from '../ports';

/** Base URL of Tributary's own FHIR definitions. */
export const TRIBUTARY_FHIR_BASE = 'https://tributary.nhs.example/fhir';
/** Identifier system of OAuth client ids. */
export const CLIENT_ID_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/oauth-client-id`;
/** Identifier system of source systems (the token's source claim). */
export const SOURCE_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/source-system`;
/** Identifier system of lake object keys. */
export const LAKE_OBJECT_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/lake-object-key`;
/** Identifier system of request (correlation) ids, the `X-Request-Id` header. */
export const REQUEST_ID_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/request-id`;
/** Code system for interactions FHIR's restful-interaction has no code for. */
export const TRIBUTARY_INTERACTION_SYSTEM = `${TRIBUTARY_FHIR_BASE}/CodeSystem/audit-interaction`;
/** Code system for Tributary agent roles. */
export const TRIBUTARY_AGENT_SYSTEM = `${TRIBUTARY_FHIR_BASE}/CodeSystem/audit-agent-type`;

/** The interactions Tributary audits. */
export type AuditInteraction = 'create' | 'update' | 'batch' | 'transaction' | 'validate' | 'capabilities' | 'refused' | 'import';

/** Input of {@link buildAuditEvent}: ids, counts, keys and statuses only. */
export interface AuditEventInput {
  /** When the request completed. */
  time: Date;
  /** Correlation id (`X-Request-Id`), shared with logs and events. */
  requestId: string;
  /** Source system from the token; absent when the request was refused before authentication. */
  source?: string;
  /** OAuth client id from the token; absent when unauthenticated. */
  clientId?: string;
  interaction: AuditInteraction;
  /** Resource types touched and how many of each, e.g. `{ Observation: 12, Patient: 1 }`. */
  resourceTypes?: Record<string, number>;
  /** Lake object keys written. */
  objectKeys?: string[];
  /** HTTP status of the response. */
  outcomeStatus: number;
  /** Issue code of the response's OperationOutcome (`forbidden`, `invalid`, ...), never its diagnostics. */
  outcomeCode?: string;
  /** Caller's IP address (API Gateway `requestContext.identity.sourceIp`). */
  sourceIp?: string;
  /** Name of the observing system. Default `tributary`. */
  observer?: string;
}

type Coding = { system: string; code: string; display?: string };

const REST_SUBTYPE: Record<AuditInteraction, Coding> = {
  create: { system: 'http://hl7.org/fhir/restful-interaction', code: 'create', display: 'create' },
  update: { system: 'http://hl7.org/fhir/restful-interaction', code: 'update', display: 'update' },
  batch: { system: 'http://hl7.org/fhir/restful-interaction', code: 'batch', display: 'batch' },
  transaction: { system: 'http://hl7.org/fhir/restful-interaction', code: 'transaction', display: 'transaction' },
  validate: { system: 'http://hl7.org/fhir/restful-interaction', code: 'operation', display: 'operation' },
  capabilities: { system: 'http://hl7.org/fhir/restful-interaction', code: 'capabilities', display: 'capabilities' },
  refused: { system: TRIBUTARY_INTERACTION_SYSTEM, code: 'refused', display: 'Request refused before routing' },
  import: { system: 'http://hl7.org/fhir/restful-interaction', code: 'operation', display: 'operation' },
};

const ACTION: Record<AuditInteraction, 'C' | 'R' | 'U' | 'D' | 'E'> = {
  create: 'C',
  update: 'U',
  batch: 'E',
  transaction: 'E',
  import: 'C',
  validate: 'E',
  capabilities: 'R',
  refused: 'E',
};

/** An OperationOutcome issue code (anything else, e.g. diagnostics text, is dropped). */
const ISSUE_CODE = /^[a-z][a-z-]{0,39}$/;

/** AuditEvent.outcome for an HTTP status: 0 success, 4 minor failure (4xx), 8 serious failure (5xx). */
export function auditOutcome(status: number): '0' | '4' | '8' {
  if (status < 400) return '0';
  if (status < 500) return '4';
  return '8';
}

/** Builds the AuditEvent for one request (no `id`, no chain fields: the audit log adds those). */
export function buildAuditEvent(input: AuditEventInput): AuditEntry {
  const agent: Record<string, unknown>[] = [];
  const requestor: Record<string, unknown> = {
    type: { coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110153', display: 'Source Role ID' }] },
    who: input.clientId
      ? { identifier: { system: CLIENT_ID_SYSTEM, value: input.clientId } }
      : { display: 'unauthenticated' },
    requestor: true,
  };
  if (input.sourceIp) requestor.network = { address: input.sourceIp, type: '2' };
  agent.push(requestor);
  if (input.source) {
    agent.push({
      type: { coding: [{ system: TRIBUTARY_AGENT_SYSTEM, code: 'source-system', display: 'Source system' }] },
      who: { identifier: { system: SOURCE_SYSTEM, value: input.source } },
      requestor: false,
    });
  }

  const entity: Record<string, unknown>[] = [
    {
      what: { identifier: { system: REQUEST_ID_SYSTEM, value: input.requestId } },
      type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' },
    },
  ];
  for (const key of input.objectKeys ?? []) {
    entity.push({
      what: { identifier: { system: LAKE_OBJECT_SYSTEM, value: key } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '4', display: 'Domain Resource' },
    });
  }
  for (const [type, count] of Object.entries(input.resourceTypes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    entity.push({
      type: { system: 'http://hl7.org/fhir/resource-types', code: type },
      detail: [{ type: 'count', valueString: String(count) }],
    });
  }

  const event: AuditEntry = {
    resourceType: 'AuditEvent',
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' },
    subtype: [REST_SUBTYPE[input.interaction]],
    action: ACTION[input.interaction],
    recorded: input.time.toISOString(),
    outcome: auditOutcome(input.outcomeStatus),
    outcomeDesc:
      input.outcomeCode && ISSUE_CODE.test(input.outcomeCode)
        ? `${input.outcomeStatus} ${input.outcomeCode}`
        : String(input.outcomeStatus),
    agent,
    source: {
      observer: { display: input.observer ?? 'tributary' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity,
  };
  return event;
}
