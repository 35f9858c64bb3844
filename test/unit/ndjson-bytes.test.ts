import { ndjsonBytes } from '../../src/core/ingest/commit';

describe('ndjsonBytes (a lake object body)', () => {
  it('is the lines each followed by a newline, UTF-8: ASCII, two-, three- and four-byte characters', () => {
    const lines = ['{"a":1}', '{"n":"Zoë"}', '{"t":"a\u200bb €"}', '{"e":"😀 x"}', ''];
    const bytes = ndjsonBytes(lines);
    expect(bytes.equals(Buffer.from(lines.map((l) => `${l}\n`).join(''), 'utf8'))).toBe(true);
    expect(bytes.length).toBe(lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0));
    expect(bytes.toString('utf8').split('\n')).toEqual([...lines, '']);
  });

  it('is empty for no lines, and one newline for one empty line', () => {
    expect(ndjsonBytes([]).length).toBe(0);
    expect(ndjsonBytes(['']).toString('utf8')).toBe('\n');
  });
});
