/** NDJSON lines split as bytes (src/core/import/byte-lines.ts). */
import { byteLines, type ByteLine } from '../../src/core/import/byte-lines';

async function all(pieces: Uint8Array[]): Promise<ByteLine[]> {
  const out: ByteLine[] = [];
  for await (const l of byteLines(pieces)) out.push(l);
  return out;
}

/** The bytes of `text` cut into pieces of `size` bytes (through multi-byte characters and line ends). */
const cut = (text: string, size: number): Uint8Array[] => {
  const b = Buffer.from(text, 'utf8');
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < b.length; i += size) pieces.push(new Uint8Array(b.subarray(i, i + size)));
  return pieces;
};

test('lines and their exact byte lengths, whatever the pieces, multi-byte characters included', async () => {
  const text = '{"a":"é"}\n{"b":"\u200b"}\r\n\n{"c":"naïve 😀"}\n';
  const expected = [
    { text: '{"a":"é"}', bytes: 11 },
    { text: '{"b":"\u200b"}', bytes: 13 },
    { text: '', bytes: 1 },
    { text: '{"c":"naïve 😀"}', bytes: Buffer.byteLength('{"c":"naïve 😀"}') + 1 },
  ];
  for (const size of [1, 2, 3, 5, 7, 64 * 1024]) expect(await all(cut(text, size))).toEqual(expected);
  // the byte lengths add up to the object's size: chunk ranges cut at line ends
  expect(expected.reduce((n, l) => n + l.bytes, 0)).toBe(Buffer.byteLength(text));
});

test('a last line without a line end counts one byte for it; no empty line after a final LF; empty source, no line', async () => {
  expect(await all(cut('{"a":1}\n{"b":2}', 3))).toEqual([{ text: '{"a":1}', bytes: 8 }, { text: '{"b":2}', bytes: 8 }]);
  expect(await all(cut('{"a":1}\r\n', 4))).toEqual([{ text: '{"a":1}', bytes: 9 }]);
  expect(await all(cut('\n', 1))).toEqual([{ text: '', bytes: 1 }]);
  expect(await all([])).toEqual([]);
});

test('an unfinished line is copied: a source that reuses its buffer does not change it', async () => {
  const shared = new Uint8Array(4);
  async function* reusing(): AsyncGenerator<Uint8Array> {
    for (const part of ['{"a"', ':1}\n']) {
      const b = Buffer.from(part);
      shared.set(b);
      yield shared.subarray(0, b.length);
    }
  }
  const out: ByteLine[] = [];
  for await (const l of byteLines(reusing())) out.push(l);
  expect(out).toEqual([{ text: '{"a":1}', bytes: 8 }]);
});
