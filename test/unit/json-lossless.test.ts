/**
 * Decimals keep the text they were sent with (https://hl7.org/fhir/R4/datatypes.html#decimal): the parser records
 * the text of numbers a JS number would not reproduce, the serialiser writes it back, and a transformed copy (the
 * pseudonymised lake copy) gets it back by element path and value.
 */
import { carryRawNumbers, hasRawNumbers, parseFhirJson, rawNumberText, restoreRawNumbers, stringifyFhirJson } from '../../src/fhir/json';

const EXACT = ['1.50', '0.10000000000000000001', '1e-400', '-0', '100.000', '1E5', '2.5e+3', '12345678901234567890', '0.0', '-1.10', '9007199254740993'];

describe('parse → stringify is byte-identical for numbers JS would alter', () => {
  it.each(EXACT)('%s', (n) => {
    const text = `{"resourceType":"Observation","valueQuantity":{"value":${n},"unit":"mg"},"component":[{"valueQuantity":{"value":${n}}},{"valueInteger":${n}}],"x":[${n},1,${n}]}`;
    const v = parseFhirJson(text) as any;
    expect(typeof v.valueQuantity.value).toBe('number');
    expect(v.valueQuantity.value).toBe(Number(n));
    expect(hasRawNumbers(v)).toBe(true);
    expect(rawNumberText(v.valueQuantity, 'value', v.valueQuantity.value)).toBe(n);
    expect(stringifyFhirJson(v)).toBe(text);
  });

  it('numbers JS reproduces need no record, and such values go to JSON.stringify whole', () => {
    const text = '{"a":[1,-2,3.25,0.1,1e-7,123456789012345,-0.5],"b":{"c":4.3}}';
    const v = parseFhirJson(text);
    expect(hasRawNumbers(v)).toBe(false);
    expect(stringifyFhirJson(v)).toBe(JSON.stringify(JSON.parse(text)));
  });

  it('a number changed after parsing is written as its new value; one removed is gone', () => {
    const v = parseFhirJson('{"q":{"value":1.50,"other":2.50},"keep":3.0}') as any;
    v.q.value = 7;
    delete v.q.other;
    expect(stringifyFhirJson(v)).toBe('{"q":{"value":7},"keep":3.0}');
  });

  it('leaves out what JSON.stringify leaves out', () => {
    const v = parseFhirJson('{"a":1.50,"b":[2.50]}') as any;
    v.u = undefined;
    v.b.push(undefined);
    expect(stringifyFhirJson(v)).toBe('{"a":1.50,"b":[2.50,null]}');
    expect(stringifyFhirJson(null)).toBe('null');
    expect(stringifyFhirJson('x')).toBe('"x"');
  });

  it('a shallow copy carries the texts of the original (the server adds id and meta)', () => {
    const r = parseFhirJson('{"resourceType":"ChargeItem","factorOverride":0.50,"meta":{"tag":[]}}') as any;
    const copy = { ...r, id: 'x' };
    expect(stringifyFhirJson(copy)).toContain('"factorOverride":0.5,');
    carryRawNumbers(r, copy);
    expect(stringifyFhirJson(copy)).toBe('{"resourceType":"ChargeItem","factorOverride":0.50,"meta":{"tag":[]},"id":"x"}');
  });
});

describe('restoreRawNumbers: the lake copy gets the texts back', () => {
  const source = () =>
    parseFhirJson(
      '{"resourceType":"Observation","id":"client-id","valueQuantity":{"value":1.50},' +
        '"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.5}},{"code":{"text":"b"},"valueQuantity":{"value":1.50}},{"code":{"text":"c"},"valueQuantity":{"value":2.0}}],' +
        '"contained":[{"resourceType":"Observation","valueQuantity":{"value":1e-400}}]}',
    ) as any;

  it('by element path and value, in document order, through new objects', () => {
    const src = source();
    const copy = JSON.parse(JSON.stringify({ ...src, id: 'lake-id', identifier: undefined }));
    expect(restoreRawNumbers(src, copy)).toBe(4);
    expect(stringifyFhirJson(copy)).toBe(
      '{"resourceType":"Observation","id":"lake-id","valueQuantity":{"value":1.50},' +
        '"component":[{"code":{"text":"a"},"valueQuantity":{"value":1.5}},{"code":{"text":"b"},"valueQuantity":{"value":1.50}},{"code":{"text":"c"},"valueQuantity":{"value":2.0}}],' +
        '"contained":[{"resourceType":"Observation","valueQuantity":{"value":1e-400}}]}',
    );
  });

  it('an element the transform dropped does not shift the others; a changed value keeps its own text', () => {
    const src = source();
    const copy = JSON.parse(JSON.stringify(src));
    copy.component.splice(0, 1); // the plain 1.5 dropped
    copy.valueQuantity.value = 3;
    restoreRawNumbers(src, copy);
    expect(stringifyFhirJson(copy)).toContain(
      '"valueQuantity":{"value":3},"component":[{"code":{"text":"b"},"valueQuantity":{"value":1.50}},{"code":{"text":"c"},"valueQuantity":{"value":2.0}}]',
    );
  });

  it('extensions filtered out of an array: the kept ones align by url', () => {
    const src = parseFhirJson(
      '{"resourceType":"Patient","extension":[{"url":"http://a","valueDecimal":1.5},{"url":"http://b","valueDecimal":1.50},{"url":"http://c","valueDecimal":1.500}]}',
    ) as any;
    const copy = { resourceType: 'Patient', extension: [{ url: 'http://b', valueDecimal: 1.5 }, { url: 'http://c', valueDecimal: 1.5 }] };
    expect(restoreRawNumbers(src, copy)).toBe(2);
    expect(stringifyFhirJson(copy)).toBe('{"resourceType":"Patient","extension":[{"url":"http://b","valueDecimal":1.50},{"url":"http://c","valueDecimal":1.500}]}');
  });

  it('does nothing for a source without recorded numbers', () => {
    const src = parseFhirJson('{"a":{"value":1.5}}') as object;
    const copy = { a: { value: 1.5 } };
    expect(restoreRawNumbers(src, copy)).toBe(0);
    expect(stringifyFhirJson(copy)).toBe('{"a":{"value":1.5}}');
  });
});
