/**
 * Contained references (`#id`, https://hl7.org/fhir/R4/references.html#contained) are checked against the
 * element's allowed target types like literal references (issue #13, point 7).
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { createProfileValidator, type ProfileValidator } from '../../src/fhir/validation/profile';
import { readProfileModel } from '../../src/paths';

const errors = (issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] => issues.filter((i) => i.severity === 'error');

let v: ProfileValidator;
beforeAll(() => {
  v = createProfileValidator({ model: readProfileModel() });
});

const condition = (contained: Record<string, unknown>): Record<string, unknown> => ({
  resourceType: 'Condition',
  contained: [contained],
  subject: { reference: '#p1' },
  code: { text: 'x' },
});

describe('contained reference target types', () => {
  test('Condition.subject → contained Practitioner: refused with the element path', () => {
    const e = errors(v.validate(condition({ resourceType: 'Practitioner', id: 'p1' })));
    expect(e).toHaveLength(1);
    expect(e[0].diagnostics).toMatch(/The type 'Practitioner' implied by the reference URL #p1 is not a valid Target for this element \(must be one of \[Patient, Group\]\)/);
    expect(e[0].expression).toEqual(['Condition.subject']);
  });

  test('Condition.subject → contained Patient: accepted', () => {
    expect(errors(v.validate(condition({ resourceType: 'Patient', id: 'p1' })))).toEqual([]);
  });

  test('the literal form is refused the same way', () => {
    const e = errors(v.validate({ resourceType: 'Condition', subject: { reference: 'Practitioner/x' }, code: { text: 'x' } }));
    expect(e.map((i) => i.diagnostics)).toEqual([expect.stringMatching(/The type 'Practitioner' implied by the reference URL Practitioner\/x is not a valid Target/)]);
  });
});
