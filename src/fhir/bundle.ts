/**
 * Pure helpers for FHIR batch/transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction):
 * reading entry requests and rewriting references to `urn:uuid` fullUrls once ids are assigned.
 */

/** Parses an entry `request.url` of a create or update: `Patient`, `Patient/123`, or an absolute URL ending so. */
export function parseRequestUrl(url: string): { type: string; id?: string; query?: string } | undefined {
  const [pathPart, query] = url.split('?', 2);
  const parts = pathPart.replace(/^https?:\/\/[^/]+/, '').split('/').filter(Boolean);
  // take the last one or two segments: ".../Patient" or ".../Patient/123"
  const last = parts[parts.length - 1];
  const prev = parts[parts.length - 2];
  if (!last) return undefined;
  if (prev && /^[A-Z][A-Za-z]+$/.test(prev) && !/^[A-Z][A-Za-z]+$/.test(last)) return { type: prev, id: last, query };
  if (/^[A-Z][A-Za-z]+$/.test(last)) return { type: last, query };
  return undefined;
}

/**
 * Rewrites every `reference` string found in `map` (fullUrl → `Type/id`), in place, walking the whole resource
 * (contained resources and extensions included). Returns how many references were rewritten.
 */
export function rewriteReferences(node: unknown, map: ReadonlyMap<string, string>): number {
  if (map.size === 0) return 0;
  let n = 0;
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
    } else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const x = o[k];
        if (k === 'reference' && typeof x === 'string') {
          const target = map.get(x);
          if (target) {
            o[k] = target;
            n++;
          }
        } else if (x && typeof x === 'object') walk(x);
      }
    }
  };
  walk(node);
  return n;
}

/** True if any `reference` in the tree still starts with `urn:uuid:` (used by tests and checks). */
export function hasUrnReference(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(hasUrnReference);
  if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:')) return true;
      if (v && typeof v === 'object' && hasUrnReference(v)) return true;
    }
  }
  return false;
}

/** `W/"3"` or `"3"` → `3`; anything else → undefined. */
export function parseETag(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^(?:W\/)?"([^"]+)"$/.exec(value.trim());
  return m ? m[1] : undefined;
}

/** The weak ETag of a version: `W/"3"`. */
export const etag = (versionId: string): string => `W/"${versionId}"`;
