/**
 * The keyed hasher's base32 (RFC 4648 §6 test vectors, lower case, no padding) and the bound of its memo: a bulk
 * import's workers hash hundreds of thousands of distinct ids, and the memo must not grow with them (issue #15).
 */
import { createHmac } from 'node:crypto';
import { KeyedHasher, HASH_CACHE_GENERATION, MEMO_MAX_VALUE_LENGTH, base32 } from '../../src/fhir/pseudo/pseudonyms';
import type { KeyService } from '../../src/fhir/pseudo';

const keys: KeyService = {
  mac: async (input: string) => createHmac('sha256', 'test-key').update(input).digest('hex'),
} as KeyService;

describe('base32', () => {
  it.each([
    ['', ''],
    ['f', 'my'],
    ['fo', 'mzxq'],
    ['foo', 'mzxw6'],
    ['foob', 'mzxw6yq'],
    ['fooba', 'mzxw6ytb'],
    ['foobar', 'mzxw6ytboi'],
  ])('encodes %j as %j (RFC 4648 §10)', (input, out) => {
    expect(base32(Buffer.from(input))).toBe(out);
  });

  it('encodes 20 bytes of 0xff as 32 "7"s', () => {
    expect(base32(Buffer.alloc(20, 0xff))).toBe('7'.repeat(32));
  });
});

describe('KeyedHasher memo', () => {
  const hasher = async (): Promise<KeyedHasher> => {
    const h = new KeyedHasher(keys, { hashPrefix: 'h-', pseudonymPrefix: 'p-' } as never);
    await h.init();
    return h;
  };

  it('holds at most two generations whatever the number of distinct values', async () => {
    const h = await hasher();
    for (let i = 0; i < HASH_CACHE_GENERATION * 5; i++) h.hashId('src', 'Observation', `obs-${i}`);
    expect(h.memoSize()).toBeLessThanOrEqual(2 * HASH_CACHE_GENERATION);
    expect(h.memoSize()).toBeGreaterThan(HASH_CACHE_GENERATION);
  });

  it('gives the same hash from the memo, after a generation turns over, and from a fresh hasher', async () => {
    const h = await hasher();
    const first = h.hashId('src', 'Patient', 'p-1');
    for (let i = 0; i < HASH_CACHE_GENERATION * 3; i++) {
      h.hashId('src', 'Observation', `obs-${i}`);
      // a recurring value stays (a hit in the previous generation moves it back into the current one)
      if (i % 1000 === 0) expect(h.hashId('src', 'Patient', 'p-1')).toBe(first);
    }
    expect(h.hashId('src', 'Patient', 'p-1')).toBe(first);
    expect((await hasher()).hashId('src', 'Patient', 'p-1')).toBe(first);
    expect(first).toMatch(/^h-[a-z2-7]{32}$/);
  });

  it('does not memoise long values (free text), and hashes them alike each time', async () => {
    const h = await hasher();
    const long = 'x'.repeat(MEMO_MAX_VALUE_LENGTH + 1);
    const first = h.hashString('s', long);
    expect(h.memoSize()).toBe(0);
    expect(h.hashString('s', long)).toBe(first);
    h.hashString('s', 'x'.repeat(MEMO_MAX_VALUE_LENGTH));
    expect(h.memoSize()).toBe(1);
  });

  it('keeps identifier, string and uuid namespaces apart', async () => {
    const h = await hasher();
    const values = [h.hashId('s', 'Patient', 'x'), h.hashIdentifier('s', undefined, 'x'), h.hashString('s', 'x'), h.uuidFor('s', 'x')];
    expect(new Set(values).size).toBe(4);
  });
});
