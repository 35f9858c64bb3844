/**
 * Issue 14 item 8: the sequential round trips of the write path's critical path (outbox put; staged objects and
 * identity records; the commit; copies, identity records made current and the audit record; events and manifest;
 * clean-up), counted with {@link RoundTrips} for a single POST and a Synthea transaction Bundle, with every port
 * the request touches (lake, version index, events, identity vault, audit log). The counts are in
 * docs/commit-protocol.md, beside those of the write path before the commit protocol (measured the same way).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Bundle } from 'fhir/r4';
import { IndexKeys, Ingestor, type WriteRequest } from '../../src/core/ingest';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { FakePseudonymiser, MemoryEventBus, MemoryIdentityVault, MemoryVersionIndex, testKeys } from './ingest-doubles';
import { RoundTrips } from './round-trips';

const SYNTHEA = path.resolve(__dirname, '../../../shared/fhir/synthea/smart-on-fhir-r4');

async function measure(req: WriteRequest): Promise<RoundTrips> {
  const rt = new RoundTrips();
  const audit = { append: async () => undefined };
  const ingestor = new Ingestor({
    lake: rt.wrap('lake', new MemoryObjectStore('lake')),
    versions: rt.wrap('versions', new MemoryVersionIndex()),
    events: rt.wrap('events', new MemoryEventBus()),
    identity: rt.wrap('identity', new MemoryIdentityVault()),
    audit: rt.wrap('audit', audit),
    clock: { now: () => new Date('2024-05-01T10:00:00Z') },
    validate: () => [],
    transform: new FakePseudonymiser(),
    indexKeys: await new IndexKeys(testKeys).init(),
  });
  await ingestor.write(req);
  return rt;
}

const principal = { source: 'gp-a', clientId: 'c' };

test('a single POST: 6 sequential round trips (8 before the commit protocol, audit included)', async () => {
  const rt = await measure({ requestId: 'r1', principal, method: 'POST', type: 'Patient', body: { resourceType: 'Patient', name: [{ family: 'X' }] } });
  console.log(`round trips, single POST: ${rt.depth} sequential, ${rt.calls} calls ${JSON.stringify(rt.byPort)}`);
  expect(rt.depth).toBe(6);
});

(fs.existsSync(SYNTHEA) ? test : test.skip)('a Synthea transaction Bundle: the same 6 sequential steps (up to 16 resource types written at once)', async () => {
  const file = fs.readdirSync(SYNTHEA).filter((f) => f.endsWith('.json')).sort()[0]!;
  const bundle = JSON.parse(fs.readFileSync(path.join(SYNTHEA, file), 'utf8')) as Bundle;
  const rt = await measure({ requestId: 'r1', principal, method: 'POST', body: { ...bundle, type: 'transaction' } });
  const types = new Set((bundle.entry ?? []).map((e) => e.resource?.resourceType)).size;
  console.log(`round trips, Synthea transaction (${bundle.entry?.length} entries, ${types} types, ${file}): ${rt.depth} sequential, ${rt.calls} calls ${JSON.stringify(rt.byPort)}`);
  expect(types).toBeLessThanOrEqual(16);
  expect(rt.depth).toBe(6);
});
