/**
 * The hand-kept list of R4 resource types (src/fhir/resource-types.ts) is exactly the generated JSON-schema
 * module's and the generated profile model's, so `isResourceType` needs neither.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

const root = path.resolve(__dirname, '../..');
for (const [file, script] of [
  ['generated/profile-model.json', 'scripts/gen-profile-validator.mjs'],
  ['generated/fhir-schema-validate.js', 'scripts/gen-schema-validator.mjs'],
]) {
  if (!fs.existsSync(path.join(root, file))) execFileSync(process.execPath, [path.join(root, script)], { stdio: 'inherit' });
}
/* eslint-disable import/first */
import { isResourceType, R4_RESOURCE_TYPES, resourceTypeSet } from '../../src/fhir/resource-types';
import { createSchemaValidator } from '../../src/fhir/validation/schema';
import { loadSchemaModule, readProfileModel } from '../../src/paths';
/* eslint-enable import/first */

describe('R4 resource types', () => {
  test('the list is sorted and is the schema module\'s and the profile model\'s', () => {
    expect(R4_RESOURCE_TYPES).toHaveLength(146);
    expect([...R4_RESOURCE_TYPES]).toEqual([...R4_RESOURCE_TYPES].sort());
    expect([...R4_RESOURCE_TYPES]).toEqual([...loadSchemaModule().resourceTypes].sort());
    expect([...R4_RESOURCE_TYPES]).toEqual([...readProfileModel().resourceTypes].sort());
    expect(resourceTypeSet().size).toBe(146);
  });

  test('isResourceType: concrete types only', () => {
    expect(isResourceType('Patient')).toBe(true);
    expect(isResourceType('Bundle')).toBe(true);
    for (const x of ['Resource', 'DomainResource', 'HumanName', 'patient', '', undefined, 1, null]) expect(isResourceType(x)).toBe(false);
  });

  test('the schema validator loads its module on the first validation of a known type only', () => {
    let loads = 0;
    const validate = createSchemaValidator(() => {
      loads++;
      return loadSchemaModule();
    });
    expect(validate({ resourceType: 'Nope' })[0]?.diagnostics).toBe("Unknown resourceType 'Nope'");
    expect(loads).toBe(0);
    expect(validate({ resourceType: 'Patient', id: 'p1' })).toEqual([]);
    expect(validate({ resourceType: 'Patient', gender: 1 }, 'Bundle.entry[0].resource')[0]?.expression).toEqual(['Bundle.entry[0].resource.gender']);
    expect(loads).toBe(1);
  });
});
