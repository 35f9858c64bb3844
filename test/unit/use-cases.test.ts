/** The API's core use cases (src/core/use-cases): the triage hold, the $validate scope check, the fail-closed audit record. */
import type { OperationOutcome } from 'fhir/r4';
import { writeResources, validateResource, recordRequest, AuditUnavailableError } from '../../src/core/use-cases';
import { ValidationError } from '../../src/fhir/errors';
import { getStatus, outcomeWithIssues } from '../../src/fhir/outcomes';
import type { WriteRequest, WriteResult } from '../../src/core/ingest';

const principal = { source: 'gp', clientId: 'c1', canWrite: () => true };
const req = (over: Partial<WriteRequest> = {}): WriteRequest => ({ requestId: 'r1', method: 'POST', type: 'Patient', body: { resourceType: 'Patient' }, principal, ...over });
const invalid: OperationOutcome = outcomeWithIssues(400, [{ severity: 'error', code: 'invalid', expression: ['Patient.gender'] }]);

function deps(write: () => Promise<WriteResult>, enabled: boolean) {
  const held: { id: string; source: string; type?: string }[] = [];
  return {
    held,
    d: {
      ingestor: { write },
      triage: { hold: async (id: string, p: { source: string }, r: { type?: string }) => void held.push({ id, source: p.source, type: r.type }) } as never,
      triageEnabled: () => enabled,
    },
  };
}

describe('writeResources (triage hold)', () => {
  it('holds a refused request of a triage-enabled source, and still refuses it', async () => {
    const { d, held } = deps(async () => Promise.reject(new ValidationError(invalid)), true);
    await expect(writeResources(d, req())).rejects.toBeInstanceOf(ValidationError);
    expect(held).toEqual([{ id: 'r1', source: 'gp', type: 'Patient' }]);
  });

  it('holds nothing for a source without triage, nor for a refusal that is not a validation failure', async () => {
    const a = deps(async () => Promise.reject(new ValidationError(invalid)), false);
    await expect(writeResources(a.d, req())).rejects.toBeInstanceOf(ValidationError);
    expect(a.held).toEqual([]);
    const b = deps(async () => Promise.reject(new Error('store down')), true);
    await expect(writeResources(b.d, req())).rejects.toThrow('store down');
    expect(b.held).toEqual([]);
  });

  it("holds each refused batch entry under the request id and the entry's index", async () => {
    const result = {
      response: [outcomeWithIssues(200, [])],
      interaction: 'batch',
      validationFailures: [
        { index: 2, method: 'POST', type: 'Observation', resource: { resourceType: 'Observation' }, outcome: invalid },
        { index: 5, method: 'PUT', type: 'Patient', id: 'p', resource: { resourceType: 'Patient' }, outcome: invalid },
      ],
    } as unknown as WriteResult;
    const { d, held } = deps(async () => result, true);
    expect(await writeResources(d, req({ type: undefined }))).toBe(result);
    expect(held).toEqual([
      { id: 'r1-2', source: 'gp', type: 'Observation' },
      { id: 'r1-5', source: 'gp', type: 'Patient' },
    ]);
  });
});

describe('validateResource ($validate scope check)', () => {
  const ok = () => [];
  it('refuses (403) a type the token may not validate, from the URL or the body', () => {
    const p = { ...principal, canValidate: (t: string) => t === 'Observation' };
    expect(() => validateResource(ok, { type: 'Patient', body: { resourceType: 'Patient' }, principal: p })).toThrow(/do not permit \$validate of Patient/);
    expect(() => validateResource(ok, { body: { resourceType: 'Patient' }, principal: p })).toThrow(/Patient/);
    expect(getStatus(validateResource(ok, { body: { resourceType: 'Observation', status: 'final' }, principal: p })[0])).toBe(200);
  });

  it('a Parameters scope permits any type; no scope check when auth is off', () => {
    const p = { ...principal, canValidate: (t: string) => t === 'Parameters' };
    expect(getStatus(validateResource(ok, { body: { resourceType: 'Patient' }, principal: p })[0])).toBe(200);
    expect(getStatus(validateResource(ok, { body: { resourceType: 'Patient' }, principal })[0])).toBe(200);
  });

  it('422 with the issues when the validator finds errors', () => {
    const bad = () => [{ severity: 'error' as const, code: 'invalid' as const, expression: ['Patient.gender'] }];
    const [o] = validateResource(bad, { body: { resourceType: 'Patient' }, principal });
    expect(getStatus(o)).toBe(422);
    expect(o.issue[0].expression).toEqual(['Patient.gender']);
  });
});

describe('recordRequest (fail closed)', () => {
  const clock = { now: () => new Date('2026-12-03T10:00:00Z') };
  it('appends one AuditEvent with the request id, source, interaction and status', async () => {
    const records: { resource: Record<string, unknown> }[] = [];
    await recordRequest({ append: async (e: unknown) => void records.push(e as never) } as never, clock, {
      requestId: 'req-1', principal: { source: 'gp', clientId: 'c1' }, interaction: 'create', status: 201, counts: { Patient: 1 },
    });
    expect(records).toHaveLength(1);
    const text = JSON.stringify(records[0]);
    expect(text).toContain('req-1');
    expect(text).toContain('2026-12-03T10:00:00');
    expect(text).toContain('gp');
  });

  it('throws AuditUnavailableError (a 500 ServerFault) when the record cannot be written', async () => {
    const err = await recordRequest({ append: async () => Promise.reject(new Error('bucket gone')) } as never, clock, { requestId: 'r', interaction: 'create', status: 201 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuditUnavailableError);
    expect(getStatus((err as AuditUnavailableError).outcome)).toBe(500);
  });
});
