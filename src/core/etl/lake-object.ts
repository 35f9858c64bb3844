/** Reading one committed lake object for the ETL: the event checked against the lake, the NDJSON parsed. */
import { createHash } from 'node:crypto';
import { ServerFault } from '../../fhir/errors';
import { MAX_JSON_DEPTH, parseFhirJson } from '../../fhir/json';
import { parseLakeKey, type LakeKeyParts } from '../lake-layout';
import type { IngestEvent, ObjectStore } from '../ports';

/** The event or the lake object cannot be processed (retrying will not help). A server fault: logs only. */
export class EtlError extends ServerFault {
  override readonly name = 'EtlError';
}

/** A lake object as read for the ETL. */
export interface LakeObject {
  /** Type, partition and base name from the object's key. */
  parts: LakeKeyParts;
  /** The NDJSON lines, parsed (not yet checked for their resource type). */
  resources: Record<string, unknown>[];
}

/**
 * Reads the lake object an ingest event names and checks it against the event.
 * @throws EtlError when the event is not an ingest event of this lake, its key is not a lake object key, its type
 *   or source differ from the key's, the object is missing, its SHA-256 differs from the event's or a line is not JSON.
 */
export async function readLakeObject(lake: ObjectStore, event: IngestEvent): Promise<LakeObject> {
  if (event?.type !== 'tributary.ingest.committed') throw new EtlError(`not an ingest event: ${String(event?.type)}`);
  if (event.bucket !== lake.name) throw new EtlError(`event names bucket ${event.bucket}, this ETL reads ${lake.name}`);
  const parts = parseLakeKey(event.objectKey);
  if (!parts) throw new EtlError(`not a lake object key: ${event.objectKey}`);
  if (parts.resourceType !== event.resourceType || parts.source !== event.source) {
    throw new EtlError(`event type/source (${event.resourceType}, ${event.source}) do not match the key ${event.objectKey}`);
  }
  const body = await lake.get(event.objectKey);
  if (!body) throw new EtlError(`lake object ${event.objectKey} does not exist`);
  const checksum = createHash('sha256').update(body).digest('base64');
  if (event.checksumSha256 && checksum !== event.checksumSha256) {
    throw new EtlError(`checksum of ${event.objectKey} does not match the event`);
  }
  return { parts, resources: parseNdjson(Buffer.from(body).toString('utf8'), event.objectKey) };
}

/** Nesting the ETL accepts in a lake line: the API's limit plus what the lake copy adds (meta labels). */
const LAKE_MAX_DEPTH = MAX_JSON_DEPTH + 16;

/**
 * Parses NDJSON (blank lines ignored), losslessly: decimals keep the text they were stored with, for the marts'
 * `{column}_text` columns (src/fhir/json).
 */
function parseNdjson(text: string, key: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    if (end > start) {
      const s = text.slice(start, end);
      if (s.trim() !== '') {
        try {
          out.push(parseFhirJson(s, { maxDepth: LAKE_MAX_DEPTH }) as Record<string, unknown>);
        } catch (err) {
          throw new EtlError(`${key}: line ${line} is not JSON`, { cause: err });
        }
      }
    }
    start = end + 1;
  }
  return out;
}
