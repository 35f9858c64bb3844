import { assignVersions } from '../../src/core/ingest/commit';
import type { Entry } from '../../src/core/ingest/request';
import { copyJsonObject, parseFhirJson, stringifyFhirJson } from '../../src/fhir/json';

describe('copyJsonObject (a copy the write path then adds keys to)', () => {
  it('copies every own key in order, and keeps a "__proto__" key an ordinary property', () => {
    const src = parseFhirJson('{"a":1,"__proto__":{"tag":[{"code":"x"}]},"b":[2]}') as Record<string, unknown>;
    const copy = copyJsonObject(src);
    expect(Object.keys(copy)).toEqual(['a', '__proto__', 'b']);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { tag?: unknown }).tag).toBeUndefined();
    expect(copy.b).toBe(src.b);
    expect(copyJsonObject(undefined)).toEqual({});
  });

  it('a stamped resource keeps a "__proto__" key of its meta, and of itself, as data (Object.assign made it the prototype)', () => {
    const resource = parseFhirJson('{"resourceType":"Observation","__proto__":{"status":"x"},"status":"final","meta":{"__proto__":{"tag":[{"code":"x"}]},"profile":["p"]}}');
    const e = { index: 0, method: 'POST', type: 'Observation', resource, root: 'Observation', entryPath: 'Observation' } as unknown as Entry;
    assignVersions([e], new Date('2026-01-02T03:04:05Z'), () => 'new-id');
    const out = JSON.parse(stringifyFhirJson(e.resource)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(e.resource)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(e.resource.meta)).toBe(Object.prototype);
    expect((e.resource.meta as { tag?: unknown }).tag).toBeUndefined();
    expect(stringifyFhirJson(e.resource)).toContain('"meta":{"__proto__":{"tag":[{"code":"x"}]},"profile":["p"],"versionId":"1","lastUpdated":"2026-01-02T03:04:05.000Z"}');
    expect(out.id).toBe('new-id');
  });
});
