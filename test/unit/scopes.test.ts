import {
  can,
  canValidate,
  canWrite,
  checkEntryScopes,
  insufficientScopeChallenge,
  parseScopes,
  requireScope,
} from '../../src/fhir/auth/scopes';
import { getStatus } from '../../src/fhir/outcomes';
import { AuthError } from '../../src/fhir/errors';

describe('parseScopes', () => {
  it('parses v1 and v2 system scopes and maps v1 permissions onto letters', () => {
    const s = parseScopes('system/*.write system/Observation.cu system/Patient.read system/*.*');
    expect(s.map((x) => [x.resourceType, x.version, [...x.permissions].sort().join('')])).toEqual([
      ['*', 1, 'cdu'],
      ['Observation', 2, 'cu'],
      ['Patient', 1, 'rs'],
      ['*', 1, 'cdrsu'],
    ]);
  });

  it('accepts an array claim (scp) and ignores non-resource and malformed scopes', () => {
    const s = parseScopes(['openid', 'launch/patient', 'system/Patient.uc', 'system/Patient.', 'system/patient.c', 'admin/Patient.c', 'system/Encounter.crud']);
    expect(s.map((x) => x.raw)).toEqual(['system/Encounter.crud']);
  });

  it('keeps v2 query restrictions and refuses them on v1 scopes', () => {
    const s = parseScopes('system/Observation.c?category=laboratory system/Observation.write?category=x');
    expect(s).toHaveLength(1);
    expect(s[0].query).toBe('category=laboratory');
  });

  it('returns [] for empty input', () => {
    expect(parseScopes(undefined)).toEqual([]);
    expect(parseScopes('')).toEqual([]);
  });
});

describe('canWrite', () => {
  it('system/Patient.write can create and update Patient but not Observation', () => {
    const s = parseScopes('system/Patient.write');
    expect(canWrite(s, 'Patient', 'create')).toBe(true);
    expect(canWrite(s, 'Patient', 'update')).toBe(true);
    expect(canWrite(s, 'Observation', 'create')).toBe(false);
  });

  it('v2 c grants create only, u grants update only', () => {
    expect(canWrite(parseScopes('system/Observation.c'), 'Observation', 'create')).toBe(true);
    expect(canWrite(parseScopes('system/Observation.c'), 'Observation', 'update')).toBe(false);
    expect(canWrite(parseScopes('system/Observation.u'), 'Observation', 'update')).toBe(true);
    expect(canWrite(parseScopes('system/Observation.u'), 'Observation', 'create')).toBe(false);
    expect(canWrite(parseScopes('system/Observation.cu'), 'Observation', 'update')).toBe(true);
  });

  it('wildcards cover every type', () => {
    for (const scope of ['system/*.write', 'system/*.*', 'system/*.cruds', 'system/*.cu']) {
      expect(canWrite(parseScopes(scope), 'MedicationRequest', 'create')).toBe(true);
    }
  });

  it('read scopes cannot write', () => {
    const s = parseScopes('system/*.read system/Observation.rs');
    expect(canWrite(s, 'Observation', 'create')).toBe(false);
    expect(canWrite(s, 'Observation', 'update')).toBe(false);
  });

  it('user/ and patient/ scopes grant nothing to this system API', () => {
    const s = parseScopes('user/*.write patient/Observation.cu');
    expect(canWrite(s, 'Observation', 'create')).toBe(false);
  });

  it('query-restricted v2 scopes do not grant writes (conservative)', () => {
    const s = parseScopes('system/Observation.c?category=laboratory');
    expect(canWrite(s, 'Observation', 'create')).toBe(false);
  });
});

describe('canValidate', () => {
  it('needs an unrestricted c, u or r on the type', () => {
    expect(canValidate(parseScopes('system/Patient.r'), 'Patient')).toBe(true);
    expect(canValidate(parseScopes('system/*.c'), 'Patient')).toBe(true);
    expect(canValidate(parseScopes('system/Patient.u'), 'Patient')).toBe(true);
    expect(canValidate(parseScopes('system/Patient.ds'), 'Patient')).toBe(false);
    expect(canValidate(parseScopes('system/Observation.cu'), 'Patient')).toBe(false);
    expect(canValidate(parseScopes('system/Patient.c?x=y'), 'Patient')).toBe(false);
    expect(can(parseScopes('system/Patient.read'), 'Patient', 'validate')).toBe(true);
  });
});

describe('checkEntryScopes', () => {
  it('returns a 403 outcome for each refused entry, with its Bundle.entry expression', () => {
    const principal = { scopes: parseScopes('system/Patient.cu system/Observation.u') };
    const refused = checkEntryScopes(principal, [
      { resourceType: 'Patient', interaction: 'create', index: 0 },
      { resourceType: 'Observation', interaction: 'update', index: 1 },
      { resourceType: 'Observation', interaction: 'create', index: 3 },
      { resourceType: 'Encounter', interaction: 'update', index: 4 },
    ]);
    expect(refused.map((r) => r.index)).toEqual([3, 4]);
    expect(getStatus(refused[0].outcome)).toBe(403);
    expect(refused[0].outcome.issue[0].diagnostics).toBe('Scope does not permit create of Observation');
    expect(refused[0].outcome.issue[0].expression).toEqual(['Bundle.entry[3]']);
    expect(refused[1].outcome.issue[0].diagnostics).toBe('Scope does not permit update of Encounter');
  });

  it('returns [] when everything is allowed', () => {
    expect(checkEntryScopes({ scopes: parseScopes('system/*.cu') }, [{ resourceType: 'Patient', interaction: 'update', index: 0 }])).toEqual([]);
  });
});

describe('requireScope', () => {
  it('throws AuthError mapping to 403 when not permitted, and passes otherwise', () => {
    const principal = { scopes: parseScopes('system/*.read') };
    let thrown: unknown;
    try {
      requireScope(principal, 'Observation', 'create');
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(AuthError);
    expect(getStatus((thrown as AuthError).outcome)).toBe(403);
    expect(() => requireScope({ scopes: parseScopes('system/Observation.cu') }, 'Observation', 'update')).not.toThrow();
  });

  it('builds an insufficient_scope challenge', () => {
    expect(insufficientScopeChallenge('Observation', 'update')).toBe(
      'Bearer realm="tributary", error="insufficient_scope", scope="system/Observation.u"',
    );
  });
});
