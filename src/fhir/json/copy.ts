/**
 * A shallow copy of a parsed JSON object (https://hl7.org/fhir/R4/json.html) to which the caller then adds keys.
 * Made key by key rather than by a spread: V8 gives every object made by a spread that then gets a new key a hidden
 * class of its own (one per resource in the write path, and megamorphic reads of them downstream), while objects
 * filled key by key from `{}` share their classes. A key named `__proto__`, which the parser keeps as an ordinary
 * property, is defined as one here too (`Object.assign` and plain assignment would set the copy's prototype instead).
 * Pure: no I/O.
 */
export function copyJsonObject<T extends object>(src: T | undefined): T {
  const out = {} as Record<string, unknown>;
  if (src === undefined) return out as T;
  const from = src as Record<string, unknown>;
  for (const k of Object.keys(from)) {
    if (k === '__proto__') Object.defineProperty(out, k, { value: from[k], enumerable: true, writable: true, configurable: true });
    else out[k] = from[k];
  }
  return out as T;
}
