/**
 * The exact text of JSON numbers that a JavaScript number would not reproduce (`1.50`, `0.10000000000000000001`,
 * `1e-400`, `-0`), kept beside the parsed objects so that the lake gets the decimal the client sent: FHIR says a
 * decimal's precision is part of its value (https://hl7.org/fhir/R4/datatypes.html#decimal,
 * https://hl7.org/fhir/R4/json.html#primitive).
 *
 * The parsed objects stay plain JSON (each number a JS number, so validators and the JSON schema see numbers); the
 * text is recorded per container and key in a WeakMap, and every container on the way down to such a number is
 * marked, so serialising a resource without any costs one WeakSet lookup. Pure: no I/O.
 */

/** Container → (key or array index → the number's text as sent). */
const RAW = new WeakMap<object, Map<string | number, string>>();
/** Containers that hold, at any depth, a number with recorded text. */
const HAS = new WeakSet<object>();

/**
 * Records the text of `container[key]` (the parser calls this), marking `ancestors` (root first, container last):
 * a decimal's precision is part of its value (https://hl7.org/fhir/R4/datatypes.html#decimal).
 */
export function recordRawNumber(ancestors: readonly object[], depth: number, key: string | number, text: string): void {
  const container = ancestors[depth]!;
  let m = RAW.get(container);
  if (!m) RAW.set(container, (m = new Map()));
  m.set(key, text);
  for (let d = 0; d <= depth; d++) HAS.add(ancestors[d]!);
}

/** True when `value` holds (at any depth) a number whose text as sent differs from the JS number's (datatypes.html#decimal). */
export function hasRawNumbers(value: unknown): boolean {
  return typeof value === 'object' && value !== null && HAS.has(value);
}

/**
 * The text `container[key]` was sent with, when it differs from `String(number)` and the value is still that
 * number (a value changed since parsing has no text of its own any more).
 */
export function rawNumberText(container: object, key: string | number, value: unknown): string | undefined {
  const t = RAW.get(container)?.get(key);
  return t !== undefined && typeof value === 'number' && +t === value ? t : undefined;
}

/** The recorded texts of one container (for serialisers, https://hl7.org/fhir/R4/json.html#primitive), or undefined. */
export function rawNumbersOf(container: object): ReadonlyMap<string | number, string> | undefined {
  return RAW.get(container);
}

/**
 * Makes `to` (a shallow copy of `from`, e.g. `{ ...resource, id, meta }`) carry `from`'s recorded number texts, so
 * the copy serialises as the original did (https://hl7.org/fhir/R4/datatypes.html#decimal).
 */
export function carryRawNumbers(from: object, to: object): void {
  if (!HAS.has(from)) return;
  HAS.add(to);
  const m = RAW.get(from);
  if (m) RAW.set(to, new Map(m));
}

/**
 * Marks containers as leading to recorded numbers (e.g. a batch-response Bundle around resources that hold some,
 * https://hl7.org/fhir/R4/http.html#transaction-response), so the serialiser looks inside them.
 */
export function markRawPath(...containers: object[]): void {
  for (const c of containers) HAS.add(c);
}

type Json = Record<string | number, unknown>;

/** Source items an item of a shortened array is compared with (bounds the work on huge arrays). */
const ALIGN_WINDOW = 32;
const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;

/** How alike two items are: -1 when a number of `copy` differs from `source`'s at the same place, else the count of equal primitives. */
function likeness(source: unknown, copy: unknown, depth = 0): number {
  if (!isContainer(copy) || !isContainer(source)) {
    if (typeof copy === 'number') return copy === source ? 1 : -1;
    return copy === source ? 1 : 0;
  }
  if (Array.isArray(copy) !== Array.isArray(source) || depth > 8) return 0;
  const s = source as Json;
  const c = copy as Json;
  let n = 0;
  for (const k of Object.keys(c)) {
    if (!(k in s)) continue;
    const l = likeness(s[k], c[k], depth + 1);
    if (l < 0) return -1;
    n += l;
  }
  return n;
}

/** Pairs `copy[key]` with `source[srcKey]`: a number gets the source's text, containers are walked together. */
function pair(source: object, srcKey: string | number, copy: object, key: string | number, stack: object[]): number {
  const a = (source as Json)[srcKey];
  const b = (copy as Json)[key];
  if (typeof b === 'number') {
    const t = RAW.get(source)?.get(srcKey);
    if (t === undefined || a !== b || +t !== b) return 0;
    recordRawNumber(stack, stack.length - 1, key, t);
    return 1;
  }
  if (isContainer(a) && isContainer(b) && HAS.has(a)) return walk(a, b, stack);
  return 0;
}

/** Walks `source` (where it leads to recorded numbers) and `copy` together. */
function walk(source: object, copy: object, stack: object[]): number {
  stack.push(copy);
  let n = 0;
  if (Array.isArray(source) && Array.isArray(copy)) {
    if (source.length === copy.length) {
      for (let i = 0; i < copy.length; i++) n += pair(source, i, copy, i, stack);
    } else {
      // the transform dropped items (an extension not allowed, an identifier of another system): align in order,
      // each item of the copy with the most alike item of the source after the last one used
      let from = 0;
      for (let j = 0; j < copy.length && from < source.length; j++) {
        let best = -1;
        let bestScore = -1;
        const to = Math.min(source.length, from + ALIGN_WINDOW);
        for (let i = from; i < to; i++) {
          const l = likeness(source[i], copy[j]);
          if (l > bestScore) {
            best = i;
            bestScore = l;
          }
        }
        if (best < 0) continue;
        n += pair(source, best, copy, j, stack);
        from = best + 1;
      }
    }
  } else if (!Array.isArray(source) && !Array.isArray(copy)) {
    for (const k of Object.keys(copy)) if (Object.prototype.hasOwnProperty.call(source, k)) n += pair(source, k, copy, k, stack);
  }
  stack.pop();
  return n;
}

/**
 * Gives `copy` — a transformed copy of `source` (the pseudonymised lake copy of a resource: new objects, the same
 * element names, some elements or array items dropped or replaced, the order kept) — the recorded texts of
 * `source`'s numbers. The two are walked together by property name; arrays of the same length item by item, and an
 * array the transform shortened by aligning each remaining item, in order, with the most alike of the next 32 source
 * items (equal numbers required, most equal primitives wins). A number the transform changed keeps its own (JS) text.
 * Decimals keep their precision (https://hl7.org/fhir/R4/datatypes.html#decimal).
 * @returns how many numbers of `copy` got their text back
 */
export function restoreRawNumbers(source: object, copy: object): number {
  if (!HAS.has(source)) return 0;
  return walk(source, copy, []);
}

/**
 * A copy of `value` in which every number with recorded text is that text (a JSON string), for readers that must
 * see the decimal as sent (the marts' `{column}_text` columns); containers without such numbers are shared, not
 * copied. `value` itself when it holds none (https://hl7.org/fhir/R4/datatypes.html#decimal).
 */
export function withNumberTexts<T>(value: T): T {
  if (!isContainer(value) || !HAS.has(value)) return value;
  const raws = RAW.get(value);
  const text = (k: string | number, v: unknown): unknown => {
    if (typeof v === 'number') {
      const t = raws?.get(k);
      return t !== undefined && +t === v ? t : v;
    }
    return withNumberTexts(v);
  };
  if (Array.isArray(value)) return value.map((v, i) => text(i, v)) as T;
  const out: Json = {};
  for (const k of Object.keys(value)) out[k] = text(k, (value as Json)[k]);
  return out as T;
}
