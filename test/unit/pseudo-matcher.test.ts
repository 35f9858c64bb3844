/**
 * The value matcher shared by the engine's scrubber (`replace`) and the leak scanner (`findLeaks`): both narrow
 * the values down by token and digit indexes before any regular expression runs, and must still find every form.
 */
import { buildMatcher, type IdentifierValue } from '../../src/fhir/pseudo';

const values: IdentifierValue[] = [
  { kind: 'name', value: 'Richard' },
  { kind: 'name', value: 'Richard Smith' },
  { kind: 'telecom', value: '0113 496 0000' },
  { kind: 'birthDate', value: '1984-03-17' },
  { kind: 'address', value: '1 Acacia Avenue' },
  { kind: 'name', value: 'Åsa-Lena Öberg' },
  { kind: 'name', value: 'Σοφία' },
  { kind: 'identifier', value: '(MRN) 77-123' },
  { kind: 'name', value: 'Li' }, // shorter than the minimum: not hunted
];

describe('buildMatcher', () => {
  const m = buildMatcher(values);

  test.each([
    ['Richard Smith called', '# called'],
    ['RICHARD   SMITH called', '# called'],
    ['Richard called', '# called'],
    ['Richardson called', 'Richardson called'], // token boundaries
    ['call 01134960000 or (0113) 496-0000', 'call # or (#'], // any separators between digits; "(" precedes the match
    ['born 17/03/1984 or 3/17/1984', 'born # or #'],
    ['1984-03-170', '1984-03-170'], // a longer number is not a date
    ['lives at 1 acacia avenue', 'lives at #'],
    ['åsa-lena öberg and ÅSA-LENA ÖBERG', '# and #'],
    ['ΣΟΦΊΑ visited', '# visited'], // non-Latin-1 values always run their expression (Unicode case folding)
    ['ref (MRN) 77-123 here', 'ref # here'],
    ['Li Wei', 'Li Wei'],
    ['no digits nor names here', 'no digits nor names here'],
  ])('replace(%j) → %j', (input, expected) => {
    expect(m.replace(input, '#')).toBe(expected);
    // memoised: the same text again gives the same answer, and a different replacement is honoured
    expect(m.replace(input, '#')).toBe(expected);
    expect(m.replace(input, '@')).toBe(expected.replaceAll('#', '@'));
  });

  test('find() reports what replace() removes', () => {
    const text = 'Richard Smith, 0113-496-0000, 17.03.1984, 1 Acacia Avenue, Åsa-Lena Öberg';
    // (the token index also reports the shorter value inside the longer one)
    expect(m.find(text).sort()).toEqual(['0113-496-0000', '1 Acacia Avenue', '17.03.1984', 'Richard', 'Richard Smith', 'Åsa-Lena Öberg'].sort());
    expect(m.find(m.replace(text, '#'))).toEqual([]);
  });

  test('empty when no value is long enough; the combined regex is still available for diagnostics', () => {
    const none = buildMatcher([{ kind: 'name', value: 'Li' }]);
    expect(none.empty).toBe(true);
    expect(none.regex).toBeUndefined();
    expect(none.replace('Li', '#')).toBe('Li');
    expect(m.empty).toBe(false);
    expect(m.regex!.test('Richard')).toBe(true);
  });
});
