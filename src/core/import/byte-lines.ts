/**
 * The lines of an NDJSON object (https://hl7.org/fhir/R4/nd-json.html, https://github.com/ndjson/ndjson-spec: a line
 * ends at LF, a CR before it is not part of it), split as bytes and decoded one line at a time. Decoding a stream's
 * pieces whole (what `readline` does) makes every line of a piece holding one character beyond Latin-1 (Synthea's
 * Observations hold zero-width spaces) a two-byte string, which every later step then reads, hashes and encodes at
 * twice the cost; a line decoded alone is a one-byte string unless it holds such a character itself. The byte
 * length of each line comes with it, so chunk byte ranges are exact (a CRLF line is one byte longer than its text
 * and LF; counting its text in UTF-8 plus one made the ranges of a CRLF file drift by one byte a line).
 * Pure: reads only the iterable it is given.
 */

/** One line: its text (without LF, or CR LF) and the bytes it takes in the object. */
export interface ByteLine {
  text: string;
  /** Bytes of the line with its line end; a last line without one counts one byte for it, as if it had. */
  bytes: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** A line's text: its bytes decoded as UTF-8 (malformed sequences become U+FFFD), a final CR left out. */
function decode(line: Buffer): string {
  const end = line.length > 0 && line[line.length - 1] === CR ? line.length - 1 : line.length;
  return line.toString('utf8', 0, end);
}

/**
 * Splits a stream of byte pieces into lines, given a piece's worth at a time (one await per piece, not per line). An
 * empty source gives no line; a source ending with LF gives no empty line after it (as `readline` did). A piece's
 * unfinished line is copied before the next piece is read, so a source that reuses its buffers cannot change it.
 * @param source - the object's bytes, in pieces of any size
 */
export async function* byteLineBatches(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<ByteLine[]> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of source) {
    const buf = Buffer.isBuffer(piece) ? piece : Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    const batch: ByteLine[] = [];
    let start = 0;
    for (let nl = buf.indexOf(LF, start); nl >= 0; nl = buf.indexOf(LF, start)) {
      let line = buf.subarray(start, nl);
      if (pendingBytes > 0) {
        pending.push(line);
        line = Buffer.concat(pending, pendingBytes + line.length);
        pending = [];
        pendingBytes = 0;
      }
      batch.push({ text: decode(line), bytes: line.length + 1 });
      start = nl + 1;
    }
    if (start < buf.length) {
      pending.push(Buffer.from(buf.subarray(start)));
      pendingBytes += buf.length - start;
    }
    if (batch.length > 0) yield batch;
  }
  if (pendingBytes > 0) yield [{ text: decode(Buffer.concat(pending, pendingBytes)), bytes: pendingBytes + 1 }];
}

/** The lines of {@link byteLineBatches} one at a time. */
export async function* byteLines(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<ByteLine> {
  for await (const batch of byteLineBatches(source)) yield* batch;
}
