/**
 * Every official R4 instance example (npm hl7.fhir.r4.examples@4.0.1) is POSTed to the running API:
 * the ones that pass the R4 JSON schema are accepted, the known schema failures are rejected with an
 * expression, and the count of stored resources equals the count accepted.
 *
 * "Instance example" here: every file of the package except the specification's own definitional artefacts
 * (conformance and terminology resources whose file name has no `-example`, and the spec's Bundles made only
 * of such artefacts). That gives 736 files over 140 resource types.
 *
 * Expected rejections at the default `strict` level: the two files the official R4 JSON schema rejects
 * (DiagnosticReport-gingival-mass, StructureDefinition-example-composition), and the examples the HL7 reference
 * validator also finds invalid (test/fixtures/known-invalid.ts, each with its reason), and the batch and transaction
 * Bundles, which are requests for the base URL: POSTed to `/Bundle` they are refused (400 at `Bundle.type`,
 * https://hl7.org/fhir/R4/http.html#transaction). Nothing else.
 */
const SCHEMA_FAILURES = ['DiagnosticReport-gingival-mass.json', 'StructureDefinition-example-composition.json'];
import fs from 'node:fs';
import path from 'node:path';
import { lakeSnapshot, send } from './helpers';
import { INVALID_R4_EXAMPLES } from '../fixtures/known-invalid';

const DIR = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
const CONFORMANCE = new Set([
  'StructureDefinition', 'ValueSet', 'CodeSystem', 'SearchParameter', 'OperationDefinition',
  'CompartmentDefinition', 'CapabilityStatement', 'ConceptMap', 'NamingSystem', 'ImplementationGuide',
]);

/** The instance examples, by file name. */
export function instanceExamples(): { file: string; resource: any }[] {
  const out: { file: string; resource: any }[] = [];
  for (const f of fs.readdirSync(DIR).sort()) {
    if (!f.endsWith('.json') || f === 'package.json' || f === 'ig-r4.json') continue;
    if (CONFORMANCE.has(f.split('-')[0]) && !/-example/.test(f)) continue;
    const r = JSON.parse(fs.readFileSync(path.join(DIR, f), 'utf8'));
    if (r.resourceType === 'Bundle' && r.entry?.length && r.entry.every((e: any) => CONFORMANCE.has(e.resource?.resourceType))) continue;
    out.push({ file: f, resource: r });
  }
  return out;
}

test('all HL7 R4 instance examples: schema-valid ones accepted, invalid ones rejected with an expression', async () => {
  const examples = instanceExamples();
  expect(examples.length).toBe(736);
  expect(new Set(examples.map((e) => e.resource.resourceType)).size).toBe(140);
  const before = await lakeSnapshot();
  const accepted: string[] = [];
  const ids = new Set<string>();
  const rejected: { file: string; status: number; expression: string }[] = [];
  const queue = [...examples];
  const worker = async (): Promise<void> => {
    for (let ex = queue.shift(); ex; ex = queue.shift()) {
      const r = await send('POST', `/${ex.resource.resourceType}`, ex.resource);
      ids.add(r.headers.get('x-request-id') ?? '');
      if (r.status === 201) accepted.push(ex.file);
      else rejected.push({ file: ex.file, status: r.status, expression: r.json?.issue?.[0]?.expression?.[0] });
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const after = await lakeSnapshot();
  // eslint-disable-next-line no-console
  console.log(`HL7 examples: ${examples.length} posted, ${accepted.length} accepted, ${rejected.length} rejected: ${rejected.map((r) => `${r.file} (${r.status} at ${r.expression})`).join('; ')}`);
  const requests = new Set(examples.filter((e) => e.resource.resourceType === 'Bundle' && ['batch', 'transaction'].includes(e.resource.type)).map((e) => e.file));
  expect(requests.size).toBeGreaterThanOrEqual(1);
  const expected = examples.map((e) => e.file).filter((f) => SCHEMA_FAILURES.includes(f) || f in INVALID_R4_EXAMPLES || requests.has(f));
  expect(rejected.map((r) => r.file).sort()).toEqual(expected.sort());
  expect(expected.length).toBeGreaterThanOrEqual(2);
  for (const r of rejected) {
    expect(r.status).toBe(400);
    expect(r.expression).toMatch(/^[A-Z][A-Za-z]+(\.|$)/);
    if (requests.has(r.file)) expect(r.expression).toBe('Bundle.type');
  }
  // the lake objects this test's requests wrote (raw/{Type}/source=…/date=…/{requestId}.ndjson) hold exactly the
  // accepted resources; anything else new in the lake meanwhile is named (it would be another writer's)
  const fresh = after.keys.filter((k) => !before.keys.includes(k));
  const ours = fresh.filter((k) => ids.has(path.basename(k, '.ndjson')));
  const foreign = fresh.filter((k) => !ours.includes(k));
  // eslint-disable-next-line no-console
  if (foreign.length > 0) console.log(`lake objects not of this test, written meanwhile: ${foreign.join(', ')}`);
  expect(ours.length).toBe(accepted.length);
  expect(after.lines - before.lines).toBe(accepted.length);
});
