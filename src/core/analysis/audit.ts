/**
 * Audit records of the safe-analysis path: FHIR AuditEvents (https://hl7.org/fhir/R4/auditevent.html) appended to
 * the same hash-chained trail as every request (src/core/audit/chain.ts). Like the other records they carry no
 * data: the analysis id, study, SQL digest, who, when, the outcome, the rule of a refusal, and counts.
 *
 * - an approval: subtype `analysis-approve`, action U, DICOM type 110137 (User Security Attributes Changed is the
 *   nearest DICOM code; the subtype is what to filter on);
 * - a run (allowed or refused): subtype `analysis-run`, action E, DICOM 110112 Query, outcome 0 or 4 (refused,
 *   `outcomeDesc` `refused by rule <rule>`) or 8 (failed);
 * - a release: subtype `analysis-release`, action R, DICOM 110106 Export, with the released files' digests and the
 *   number of redacted cells.
 * Purpose of use: v3 ActReason HRESCH (healthcare research).
 */
import type { AuditEntry } from '../ports';
import { TRIBUTARY_FHIR_BASE } from '../audit/event';

/** Code system of Tributary's audit subtypes (shared with `npm run reidentify`). */
export const AUDIT_SUBTYPE_SYSTEM = `${TRIBUTARY_FHIR_BASE}/CodeSystem/audit-subtype`;
/** Identifier system of analyses (`analyses/<id>.sql`). */
export const ANALYSIS_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/analysis`;
/** Identifier system of studies. */
export const STUDY_SYSTEM = `${TRIBUTARY_FHIR_BASE}/NamingSystem/study`;

/** What an analysis audit record is about. */
export type AnalysisAuditAction = 'approve' | 'run' | 'release';

/** Input of {@link analysisAuditEvent}: ids, digests, counts and statuses only. */
export interface AnalysisAuditInput {
  action: AnalysisAuditAction;
  who: string;
  recorded: Date;
  analysis: string;
  study?: string;
  sqlSha256?: string;
  /** 0 success, 4 refused, 8 failed. */
  outcome: '0' | '4' | '8';
  /** The refusal rule (outcome 4). */
  rule?: string;
  /** Short, data-free details (`output=aggregate`, `redacted=3`, `csv=<sha256>` …). */
  details?: Record<string, string | number>;
  /** The request id when the run came through the ops API. */
  requestId?: string;
}

const TYPE: Record<AnalysisAuditAction, { code: string; display: string }> = {
  approve: { code: '110137', display: 'User Security Attributes Changed' },
  run: { code: '110112', display: 'Query' },
  release: { code: '110106', display: 'Export' },
};
const ACTION: Record<AnalysisAuditAction, 'U' | 'E' | 'R'> = { approve: 'U', run: 'E', release: 'R' };

/** Builds the AuditEvent of one approval, run, refusal or release. */
export function analysisAuditEvent(a: AnalysisAuditInput): AuditEntry {
  const detail = Object.entries(a.details ?? {}).map(([type, v]) => ({ type, valueString: String(v) }));
  if (a.sqlSha256) detail.unshift({ type: 'sqlSha256', valueString: a.sqlSha256 });
  const entity: Record<string, unknown>[] = [
    {
      what: { identifier: { system: ANALYSIS_SYSTEM, value: a.analysis } },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '24', display: 'Query' },
      ...(detail.length ? { detail } : {}),
    },
  ];
  if (a.study) entity.push({ what: { identifier: { system: STUDY_SYSTEM, value: a.study } }, type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '4', display: 'Other' } });
  if (a.requestId) {
    entity.push({
      what: { identifier: { system: `${TRIBUTARY_FHIR_BASE}/NamingSystem/request-id`, value: a.requestId } },
      type: { system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType', code: 'XrequestId' },
    });
  }
  const outcomeDesc = a.outcome === '4' && a.rule ? `refused by rule ${a.rule}` : a.outcome === '8' ? 'failed' : undefined;
  return {
    resourceType: 'AuditEvent',
    type: { system: 'http://dicom.nema.org/resources/ontology/DCM', ...TYPE[a.action] },
    subtype: [{ system: AUDIT_SUBTYPE_SYSTEM, code: `analysis-${a.action}` }],
    action: ACTION[a.action],
    recorded: a.recorded.toISOString(),
    outcome: a.outcome,
    ...(outcomeDesc ? { outcomeDesc } : {}),
    purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH', display: 'healthcare research' }] }],
    agent: [{ who: { identifier: { value: a.who } }, requestor: true }],
    source: {
      observer: { display: 'tributary analyse' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    entity,
  };
}
