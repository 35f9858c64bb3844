/**
 * Strict UTF-8 decoding of a request body: FHIR JSON is UTF-8 (https://hl7.org/fhir/R4/json.html; RFC 8259 §8.1),
 * and a byte sequence that is not UTF-8 (Latin-1 text, a truncated sequence, an encoded surrogate, an overlong
 * form) is refused instead of being replaced by U+FFFD, which would change the data silently. Pure: no I/O.
 */

/** The decoded text, or where and why the bytes are not UTF-8. */
export type Utf8Result = { ok: true; text: string } | { ok: false; offset: number; message: string };

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Length of a valid UTF-8 sequence starting at `i`, or 0 (RFC 3629 §4 table of well-formed sequences). */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/**
 * Offset of the first byte that does not start a well-formed UTF-8 sequence (-1 when all are well formed); FHIR JSON
 * is UTF-8 (https://hl7.org/fhir/R4/json.html).
 */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const n = sequenceLength(b, i);
    if (n === 0) return i;
    i += n;
  }
  return -1;
}

/**
 * Decodes UTF-8 bytes strictly (a byte-order mark is kept, for the parser to skip); https://hl7.org/fhir/R4/json.html.
 * @returns the text, or the offset of the first byte that is not UTF-8 with a message naming it
 */
export function decodeUtf8(bytes: Uint8Array): Utf8Result {
  try {
    return { ok: true, text: decoder.decode(bytes) };
  } catch {
    const at = firstInvalidUtf8(bytes);
    const offset = at < 0 ? bytes.length : at;
    const byte = bytes[offset];
    const hex = byte === undefined ? 'end of body' : `byte 0x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    return { ok: false, offset, message: `The body is not valid UTF-8 (${hex} at offset ${offset}); FHIR JSON must be encoded in UTF-8` };
  }
}
