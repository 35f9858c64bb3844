import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Objects the write path makes per resource, or reads at every node, share their hidden classes (V8 maps). An object
 * made by a spread that adds a key (`{ ...base, k }`) gets a map of its own, so a chunk of 1,000 entries had 1,000 maps
 * (a map and its descriptors allocated per entry, 2.9 KB) and every read of them downstream was megamorphic; the
 * validator's model elements had optional keys added as found, dozens of maps. Measured in a child process of the
 * built code (dist/: `npm test` builds first) with V8's `%HaveSameMap`, which needs `--allow-natives-syntax`.
 */
const DIST = path.resolve(__dirname, '../../dist/src');

const SCRIPT = `
const dist = process.argv[1];
const { readBundleEntries } = require(dist + '/core/ingest/request.js');
const { assignVersions } = require(dist + '/core/ingest/commit.js');
const { linkModel } = require(dist + '/fhir/validation/model.js');
const { readProfileModel } = require(dist + '/paths.js');
/** How many hidden classes the objects of a list have. */
const maps = (list) => { const reps = []; for (const o of list) if (!reps.some((r) => %HaveSameMap(r, o))) reps.push(o); return reps.length; };
const obs = (i, meta) => ({ resourceType: 'Observation', id: 'o' + i, ...(meta ? { meta: { profile: ['http://x/' + (i % 3)] } } : {}), status: 'final', code: { text: 'c' } });
const bundle = (meta) => ({ resourceType: 'Bundle', type: 'batch', entry: Array.from({ length: 200 }, (_, i) => ({ fullUrl: 'Observation/o' + i, resource: obs(i, meta), request: { method: 'PUT', url: 'Observation/o' + i } })) });
const out = {};
// warm the code paths first (a map made before its inline cache settled is not what a long import sees)
for (let k = 0; k < 20; k++) assignVersions(readBundleEntries(bundle(true)), new Date(), () => 'x');
const entries = readBundleEntries(bundle(true));
out.entries = maps(entries);
assignVersions(entries, new Date(), () => 'x');
out.stampedMetas = maps(entries.map((e) => e.resource.meta));
const bare = readBundleEntries(bundle(false));
assignVersions(bare, new Date(), () => 'x');
out.stampedBareResources = maps(bare.map((e) => e.resource));
const model = linkModel(readProfileModel());
out.modelElements = maps([...model.types.values()].flatMap((s) => [...s.byKey.values()]));
out.modelInvariants = maps(model.invariants);
process.stdout.write(JSON.stringify(out));
`;

describe('hidden classes of per-resource objects', () => {
  it('entries, stamped metas and copies, model elements and invariants each share one map', () => {
    const out = JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', '-e', SCRIPT, DIST], { encoding: 'utf8' })) as Record<string, number>;
    expect(out).toEqual({ entries: 1, stampedMetas: 1, stampedBareResources: 1, modelElements: 1, modelInvariants: 1 });
  });
});

describe('the linked model keeps every field of the generated one', () => {
  it('each runtime invariant carries every key of its raw invariant, with the same value (its fields are listed by hand)', async () => {
    const { linkModel } = await import('../../src/fhir/validation/model');
    const { readProfileModel } = await import('../../src/paths');
    const raw = readProfileModel();
    const linked = linkModel(raw);
    expect(linked.invariants).toHaveLength(raw.invariants.length);
    raw.invariants.forEach((r, i) => {
      for (const [k, v] of Object.entries(r)) expect([r.k, k, (linked.invariants[i] as unknown as Record<string, unknown>)[k]]).toEqual([r.k, k, v]);
    });
  });
});
