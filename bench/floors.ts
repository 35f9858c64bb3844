/**
 * Benchmark only: the least any store-before-201 ingest can do, served under the same serverless-offline as the API,
 * writing through the same S3 adapter to the same kind of S3-protocol server (s3rver). No validation, no
 * pseudonymisation, no version index, no audit, no event: their rates are ceilings, not targets.
 *
 * - `onePut` (POST /fhir/{type}): parse the resource, give it an id, write it as one object. One PutObject per request.
 * - `perTypePut` (POST /fhir): parse a Bundle, group the entries' resources by type, write one NDJSON object per type
 *   (the layout the brief prescribes: one object per request and type). One PutObject per type.
 */
import { randomUUID } from 'node:crypto';
import { S3ObjectStore, createS3Client } from '../src/adapters/aws/s3-object-store';
import { mapLimit } from '../src/lib/concurrency';

type Result = { statusCode: number; headers: Record<string, string>; body: string };
type Event = { body: string | null; pathParameters?: Record<string, string> | null };

let store: S3ObjectStore | undefined;
// the bench passes S3_ENDPOINT and LAKE_BUCKET (the same settings the real API reads in its bootstrap)
const lake = (): S3ObjectStore => (store ??= new S3ObjectStore(createS3Client({ endpoint: process.env.S3_ENDPOINT }), process.env.LAKE_BUCKET ?? 'tributary-lake'));
const created = (body: string): Result => ({ statusCode: 201, headers: { 'Content-Type': 'application/fhir+json' }, body });

/** One resource in, one object out. */
export async function onePut(event: Event): Promise<Result> {
  const r = JSON.parse(event.body ?? '{}') as { resourceType?: string; id?: string };
  r.id = randomUUID();
  const type = event.pathParameters?.type ?? r.resourceType ?? 'Unknown';
  await lake().put(`floor/${type}/${r.id}.ndjson`, JSON.stringify(r) + '\n', { contentType: 'application/fhir+ndjson' });
  return created('{"resourceType":"OperationOutcome","issue":[]}');
}

/** One Bundle in, one NDJSON object per resource type out. */
export async function perTypePut(event: Event): Promise<Result> {
  const b = JSON.parse(event.body ?? '{}') as { entry?: { resource?: { resourceType: string; id?: string } }[] };
  const request = randomUUID();
  const byType = new Map<string, string[]>();
  for (const e of b.entry ?? []) {
    const r = e.resource;
    if (!r) continue;
    r.id = randomUUID();
    const lines = byType.get(r.resourceType) ?? [];
    lines.push(JSON.stringify(r));
    byType.set(r.resourceType, lines);
  }
  await mapLimit([...byType], 8, ([type, lines]) => lake().put(`floor/${type}/${request}.ndjson`, lines.join('\n') + '\n', { contentType: 'application/fhir+ndjson' }));
  return { statusCode: 200, headers: { 'Content-Type': 'application/fhir+json' }, body: '{"resourceType":"Bundle","type":"transaction-response"}' };
}
