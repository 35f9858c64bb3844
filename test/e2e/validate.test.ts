/**
 * `$validate` and validation levels over the running stack: the OperationOutcome comes back, nothing is stored,
 * and every issue says where (`expression`), including inside Bundles.
 */
import { lakeSnapshot, send, token } from './helpers';

const badObservation = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 'high' } };
// obs-6: dataAbsentReason only when there is no value[x]
const invariantBreaker = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'y', dataAbsentReason: { text: 'n/a' } };

describe('$validate', () => {
  test('a valid resource: 200 OperationOutcome, nothing stored', async () => {
    const before = await lakeSnapshot();
    const r = await send('POST', '/Patient/$validate', { resourceType: 'Patient', gender: 'female' });
    expect(r.status).toBe(200);
    expect(r.json.resourceType).toBe('OperationOutcome');
    expect(r.json.issue.every((i: any) => i.severity !== 'error')).toBe(true);
    expect((await lakeSnapshot()).lines).toBe(before.lines);
  });

  test('an invalid resource: 422 with every issue located, nothing stored (also via Parameters on the base)', async () => {
    const before = await lakeSnapshot();
    const r = await send('POST', '/Observation/$validate', badObservation);
    expect(r.status).toBe(422);
    expect(r.json.issue[0].expression[0]).toMatch(/^Observation\.valueQuantity/);
    const p = await send('POST', '/$validate', { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: badObservation }] });
    expect(p.status).toBe(422);
    expect((await lakeSnapshot()).lines).toBe(before.lines);
  });

  test('issues inside a Bundle point into the entry', async () => {
    const r = await send('POST', '/$validate', {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:1b0a4e1c-6a11-4f1e-9a1a-1a1a1a1a1a1a', resource: { resourceType: 'Patient' }, request: { method: 'POST', url: 'Patient' } },
        { fullUrl: 'urn:uuid:2b0a4e1c-6a11-4f1e-9a1a-1a1a1a1a1a1a', resource: invariantBreaker, request: { method: 'POST', url: 'Observation' } },
      ],
    });
    expect(r.status).toBe(422);
    expect(r.json.issue.every((i: any) => typeof i.expression?.[0] === 'string')).toBe(true);
    expect(r.json.issue.some((i: any) => i.expression[0].startsWith('Bundle.entry[1].resource'))).toBe(true);
  });

  test('needs a token with a scope on the type', async () => {
    expect((await send('POST', '/Patient/$validate', { resourceType: 'Patient' }, { Authorization: '' })).status).toBe(401);
    const t = await token('e2e-source', 'system/Observation.write');
    expect((await send('POST', '/Patient/$validate', { resourceType: 'Patient' }, { Authorization: `Bearer ${t}` })).status).toBe(403);
  });
});

describe('validation levels', () => {
  test('strict (default) applies invariants; structure-only and minimal do not', async () => {
    const strict = await send('POST', '/Observation', invariantBreaker);
    expect(strict.status).toBe(400);
    expect(strict.json.issue.some((i: any) => /obs-6/.test(i.diagnostics))).toBe(true);
    const structure = await send('POST', '/Observation', invariantBreaker, { 'X-Validation-Level': 'structure-only' });
    expect(structure.status).toBe(201);
    const minimal = await send('POST', '/Observation', { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'ok' }, { 'X-Validation-Level': 'minimal' });
    expect(minimal.status).toBe(201);
    const bad = await send('POST', '/Patient', { resourceType: 'Patient' }, { 'X-Validation-Level': 'lax' });
    expect(bad.status).toBe(400);
  });

  test('the CapabilityStatement names the active level', async () => {
    const cs = await send('GET', '/metadata');
    expect(cs.json.extension.find((e: any) => e.url.endsWith('validation-level')).valueCode).toBe('strict');
  });
});
