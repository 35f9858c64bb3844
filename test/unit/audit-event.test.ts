import { auditOutcome, buildAuditEvent, CLIENT_ID_SYSTEM, LAKE_OBJECT_SYSTEM, REQUEST_ID_SYSTEM, SOURCE_SYSTEM } from '../../src/core/audit/event';

const TIME = new Date('2030-05-06T07:08:09.010Z');

describe('buildAuditEvent', () => {
  it('builds a RESTful create AuditEvent with agents, request id, object keys and counts', () => {
    const e = buildAuditEvent({
      time: TIME,
      requestId: 'req-42',
      source: 'gp-feed',
      clientId: 'client-1',
      interaction: 'create',
      resourceTypes: { Observation: 3, Patient: 1 },
      objectKeys: ['lake/gp-feed/Observation/2030/05/06/abc.ndjson'],
      outcomeStatus: 201,
      outcomeCode: 'informational',
      sourceIp: '10.0.0.9',
    }) as Record<string, any>;
    expect(e.resourceType).toBe('AuditEvent');
    expect(e.type).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' });
    expect(e.subtype).toEqual([{ system: 'http://hl7.org/fhir/restful-interaction', code: 'create', display: 'create' }]);
    expect(e.action).toBe('C');
    expect(e.recorded).toBe('2030-05-06T07:08:09.010Z');
    expect(e.outcome).toBe('0');
    expect(e.outcomeDesc).toBe('201 informational');
    expect(e.agent[0]).toMatchObject({ requestor: true, who: { identifier: { system: CLIENT_ID_SYSTEM, value: 'client-1' } }, network: { address: '10.0.0.9', type: '2' } });
    expect(e.agent[1]).toMatchObject({ requestor: false, who: { identifier: { system: SOURCE_SYSTEM, value: 'gp-feed' } } });
    expect(e.source.observer).toEqual({ display: 'tributary' });
    expect(e.entity[0].what.identifier).toEqual({ system: REQUEST_ID_SYSTEM, value: 'req-42' });
    expect(e.entity[1].what.identifier).toEqual({ system: LAKE_OBJECT_SYSTEM, value: 'lake/gp-feed/Observation/2030/05/06/abc.ndjson' });
    expect(e.entity.slice(2).map((x: any) => [x.type.code, x.detail[0].valueString])).toEqual([
      ['Observation', '3'],
      ['Patient', '1'],
    ]);
  });

  it.each([
    ['update', 'U', 'update'],
    ['batch', 'E', 'batch'],
    ['transaction', 'E', 'transaction'],
    ['validate', 'E', 'operation'],
    ['capabilities', 'R', 'capabilities'],
    ['refused', 'E', 'refused'],
  ] as const)('maps %s to action %s and subtype %s', (interaction, action, code) => {
    const e = buildAuditEvent({ time: TIME, requestId: 'r', interaction, outcomeStatus: 200 }) as Record<string, any>;
    expect(e.action).toBe(action);
    expect(e.subtype[0].code).toBe(code);
  });

  it('maps statuses to outcome 0/4/8 and records unauthenticated callers', () => {
    expect([200, 201, 399, 400, 403, 422, 500, 503].map(auditOutcome)).toEqual(['0', '0', '0', '4', '4', '4', '8', '8']);
    const e = buildAuditEvent({ time: TIME, requestId: 'r', interaction: 'refused', outcomeStatus: 401, outcomeCode: 'login' }) as Record<string, any>;
    expect(e.outcome).toBe('4');
    expect(e.agent).toHaveLength(1);
    expect(e.agent[0].who).toEqual({ display: 'unauthenticated' });
  });

  it('never copies free text into outcomeDesc (only an issue code)', () => {
    const e = buildAuditEvent({
      time: TIME,
      requestId: 'r',
      interaction: 'create',
      outcomeStatus: 400,
      outcomeCode: 'Patient.name John Smith is invalid',
    }) as Record<string, any>;
    expect(e.outcomeDesc).toBe('400');
    expect(JSON.stringify(e)).not.toContain('Smith');
  });
});
