/**
 * The validator options a deployment can set (src/config.ts: VALIDATION_EXAMPLE_URLS, VALIDATION_HTML_IN_MARKDOWN,
 * VALIDATION_CONTAINED, VALIDATION_REFERENCES), through the same config loader and pipeline the API uses
 * (src/fhir/validation/pipeline.ts): defaults keep `strict` as it was; each setting changes exactly its check; a
 * bad value stops the start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { OperationOutcomeIssue, Resource } from 'fhir/r4';

const root = path.resolve(__dirname, '../..');
for (const [file, script] of [
  ['generated/profile-model.json', 'scripts/gen-profile-validator.mjs'],
  ['generated/fhir-schema-validate.js', 'scripts/gen-schema-validator.mjs'],
]) {
  if (!fs.existsSync(path.join(root, file))) execFileSync(process.execPath, [path.join(root, script)], { stdio: 'inherit' });
}
/* eslint-disable import/first */
import { loadConfig } from '../../src/config';
import { buildProfileValidator, buildValidator } from '../../src/fhir/validation/pipeline';
import { loadSchemaModule, readProfileModel, readRulesText } from '../../src/paths';
/* eslint-enable import/first */

const errorsOf = (issues: OperationOutcomeIssue[]): OperationOutcomeIssue[] => issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
const strictWith = (env: Record<string, string>) => {
  const config = loadConfig({ VALIDATION_LEVEL: 'strict', ...env });
  const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
  const validate = buildValidator({ ...config, schemaModule: loadSchemaModule }, profile);
  return (r: unknown): OperationOutcomeIssue[] => errorsOf(validate(r as Resource, (r as Resource).resourceType));
};

const exampleUrl = {
  resourceType: 'DocumentReference',
  status: 'current',
  content: [{ attachment: { contentType: 'text/plain', url: 'http://repository.example.org/fhir/Binary/1' } }],
};
const htmlMarkdown = { resourceType: 'Communication', status: 'completed', note: [{ text: 'see <b>this</b>' }] };
const longId = 'x'.repeat(65);
const badContained = {
  resourceType: 'Condition',
  contained: [{ resourceType: 'Practitioner', id: longId }],
  subject: { reference: 'Patient/1' },
  asserter: { reference: `#${longId}` },
};
const unresolved = {
  resourceType: 'Parameters',
  parameter: [
    { name: 'patient', resource: { resourceType: 'Patient', id: '1' } },
    { name: 'coverage', resource: { resourceType: 'Coverage', id: 'c1', status: 'active', beneficiary: { reference: 'Patient/2' }, payor: [{ reference: 'Patient/1' }] } },
  ],
};

describe('deployment validation settings', () => {
  test('defaults: the spec rules (example URLs and HTML in markdown allowed, contained validated, references not resolved)', () => {
    const config = loadConfig({});
    expect(config.validation).toEqual({ exampleUrls: 'allow', htmlInMarkdown: 'allow', contained: 'validate', references: 'none' });
    const v = strictWith({});
    expect(v(exampleUrl)).toEqual([]);
    expect(v(htmlMarkdown)).toEqual([]);
    expect(v(unresolved)).toEqual([]);
    expect(v(badContained).map((i) => i.expression?.[0])).toContain('Condition.contained[0].id');
  });

  test('VALIDATION_EXAMPLE_URLS=error rejects example.org URLs', () => {
    const errs = strictWith({ VALIDATION_EXAMPLE_URLS: 'error' })(exampleUrl);
    expect(errs.map((i) => i.expression?.[0])).toEqual(['DocumentReference.content[0].attachment.url']);
  });

  test('VALIDATION_HTML_IN_MARKDOWN=error rejects HTML tags in markdown', () => {
    const errs = strictWith({ VALIDATION_HTML_IN_MARKDOWN: 'error' })(htmlMarkdown);
    expect(errs.map((i) => i.expression?.[0])).toEqual(['Communication.note[0].text']);
  });

  test('VALIDATION_REFERENCES=local: references inside a Parameters must resolve within it', () => {
    const errs = strictWith({ VALIDATION_REFERENCES: 'local' })(unresolved);
    expect(errs.map((i) => i.expression?.[0])).toEqual(['Parameters.parameter[1].resource.beneficiary']);
  });

  test('VALIDATION_CONTAINED=ignore: contained resources only need a known type, in the profile validator and the schema step', () => {
    const v = strictWith({ VALIDATION_CONTAINED: 'ignore' });
    expect(v(badContained)).toEqual([]);
    expect(v({ ...badContained, contained: [{ resourceType: 'NoSuchType', id: 'a' }] }).length).toBeGreaterThan(0);
    // the resource itself is still validated in full, by both
    expect(v({ ...badContained, id: longId }).length).toBeGreaterThan(0);
    // the caller's object is not changed
    expect(badContained.contained).toHaveLength(1);
  });

  test('an unknown value stops the start', () => {
    expect(() => loadConfig({ VALIDATION_EXAMPLE_URLS: 'warn' })).toThrow(/VALIDATION_EXAMPLE_URLS must be one of allow, error/);
    expect(() => loadConfig({ VALIDATION_CONTAINED: 'no' })).toThrow(/VALIDATION_CONTAINED/);
  });
});
