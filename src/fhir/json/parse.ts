/**
 * A strict, lossless JSON parser for FHIR resources (https://hl7.org/fhir/R4/json.html), one pass, no recursion
 * deeper than {@link MAX_JSON_DEPTH}. Beyond RFC 8259 it refuses what FHIR's JSON rules or its data types forbid and
 * `JSON.parse` lets through or alters silently:
 * - a property given twice in one object (RFC 8259 §4: names SHOULD be unique; FHIR json.html: an element appears
 *   once; `JSON.parse` keeps the last);
 * - a string holding a control character other than tab, CR and LF, or a lone UTF-16 surrogate (FHIR `string`:
 *   https://hl7.org/fhir/R4/datatypes.html#string; a lone surrogate is not a Unicode character and cannot be
 *   written as UTF-8);
 * - nesting deeper than {@link MAX_JSON_DEPTH} arrays and objects (checked before descending, so no caller's
 *   recursion can overflow on a parsed value);
 * - a number beyond the range of a double (it would become `Infinity`).
 * A number whose text a JS number would not reproduce (`1.50`, `1e-400`, `-0`, 17+ significant digits) is parsed to
 * the nearest double AND its text is recorded ({@link recordRawNumber}) for the serialisers, so decimals keep their
 * precision (https://hl7.org/fhir/R4/datatypes.html#decimal). A leading byte-order mark is ignored (RFC 8259 §8.1).
 * Pure: no I/O.
 */
import { recordRawNumber } from './raw-numbers';

/**
 * Deepest nesting of arrays and objects accepted. Real FHIR stays far below it (a Bundle entry's resource with a
 * contained resource, a 20-level Questionnaire item tree and an extension on a primitive is about 50); 128 keeps
 * every recursive walker (validators, pseudonymisation, views) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 128;

/** What is wrong with a JSON text. */
export type JsonProblem = 'syntax' | 'duplicate-key' | 'control-character' | 'lone-surrogate' | 'depth' | 'number-range' | 'empty';

/** A JSON text FHIR cannot accept: what, where (FHIRPath-like path and line/column) and why. */
export class JsonInputError extends Error {
  override readonly name = 'JsonInputError';
  constructor(
    message: string,
    readonly problem: JsonProblem,
    /** FHIRPath of the element at fault (`Patient.name[0].family`), or undefined at the top. */
    readonly expression: string | undefined,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

/** Options of {@link parseFhirJson}. */
export interface ParseOptions {
  /** Deepest nesting accepted (default {@link MAX_JSON_DEPTH}). */
  maxDepth?: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const hasOwn = Object.prototype.hasOwnProperty;

/** A key as a FHIRPath step (backticks for names that are not identifiers), at most 64 characters. */
function step(key: string): string {
  const k = key.length > 64 ? `${key.slice(0, 64)}…` : key;
  return IDENT.test(k) ? k : `\`${k.replace(/[`\\]/g, (c) => `\\${c}`).replace(/[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/g, '?')}\``;
}

const hex4 = (c: number): string => `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;

class Parser {
  private pos = 0;
  private depth = -1;
  /** Key (or index) of each open container's current member, by depth. */
  private readonly keys: (string | number)[] = [];
  /** The open containers, root first. */
  private readonly stack: object[] = [];
  /** `resourceType` of the root object, once read (for expressions). */
  private rootType: string | undefined;

  constructor(
    private readonly s: string,
    private readonly maxDepth: number,
  ) {}

  parse(): unknown {
    const s = this.s;
    if (s.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.ws();
    if (this.pos >= s.length) throw this.fail('The body is empty', 'empty', false);
    const v = this.value();
    this.ws();
    if (this.pos < s.length) throw this.fail('Unexpected text after the JSON value', 'syntax');
    return v;
  }

  /** The FHIRPath of the current member (`depth` levels down). */
  private expression(levels: number): string | undefined {
    let out = this.rootType ?? '';
    for (let d = 0; d < levels; d++) {
      const k = this.keys[d];
      if (k === undefined) break;
      out += typeof k === 'number' ? `[${k}]` : out === '' ? step(k) : `.${step(k)}`;
    }
    return out === '' ? undefined : out;
  }

  private fail(message: string, problem: JsonProblem, withPlace = true, at = this.pos): JsonInputError {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.s.length; i++) {
      if (this.s.charCodeAt(i) === 10) {
        line++;
        col = 1;
      } else col++;
    }
    const expr = this.expression(this.depth + 1);
    const where = withPlace ? ` (line ${line}, column ${col}${expr ? `, at ${expr}` : ''})` : '';
    return new JsonInputError(`${message}${where}`, problem, expr, line, col);
  }

  private ws(): void {
    const s = this.s;
    let i = this.pos;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.pos = i;
  }

  private value(): unknown {
    const c = this.s.charCodeAt(this.pos);
    switch (c) {
      case 123: // {
        return this.object();
      case 91: // [
        return this.array();
      case 34: // "
        return this.string();
      case 116: // t
        return this.literal('true', true);
      case 102: // f
        return this.literal('false', false);
      case 110: // n
        return this.literal('null', null);
      default:
        if (c === 45 || (c >= 48 && c <= 57)) return this.number();
        if (c !== c) throw this.fail('Unexpected end of the JSON text', 'syntax');
        throw this.fail(`Unexpected character ${c < 32 || c > 126 ? hex4(c) : `'${String.fromCharCode(c)}'`}`, 'syntax');
    }
  }

  private literal(word: string, v: unknown): unknown {
    if (this.s.startsWith(word, this.pos)) {
      this.pos += word.length;
      return v;
    }
    throw this.fail('Unexpected token (expected a JSON value)', 'syntax');
  }

  private enter(container: object): void {
    const d = ++this.depth;
    if (d >= this.maxDepth) {
      this.depth--;
      throw this.fail(`JSON nested deeper than ${this.maxDepth} levels of arrays and objects`, 'depth');
    }
    this.stack[d] = container;
    this.keys[d] = undefined as never;
  }

  private leave(): void {
    this.keys[this.depth] = undefined as never;
    this.depth--;
  }

  private object(): Record<string, unknown> {
    const o: Record<string, unknown> = {};
    this.enter(o);
    const s = this.s;
    const d = this.depth;
    this.pos++;
    this.ws();
    if (s.charCodeAt(this.pos) === 125) {
      this.pos++;
      this.leave();
      return o;
    }
    for (;;) {
      if (s.charCodeAt(this.pos) !== 34) throw this.fail('Expected a property name in double quotes', 'syntax');
      const keyAt = this.pos;
      const key = this.string();
      this.keys[d] = key;
      if (o[key] !== undefined && hasOwn.call(o, key)) {
        throw this.fail(`Property '${step(key)}' appears twice in the same object: each JSON property may appear only once`, 'duplicate-key', true, keyAt);
      }
      this.ws();
      if (s.charCodeAt(this.pos) !== 58) throw this.fail("Expected ':' after a property name", 'syntax');
      this.pos++;
      this.ws();
      const v = this.value();
      if (key === '__proto__') Object.defineProperty(o, key, { value: v, enumerable: true, writable: true, configurable: true });
      else o[key] = v;
      if (d === 0 && key === 'resourceType' && typeof v === 'string' && IDENT.test(v)) this.rootType = v;
      if (!this.next(125, "Expected ',' or '}' after a property value")) return o;
    }
  }

  /** After a member or an item: true on `,` (another follows), false on `close` (the container is left). */
  private next(close: number, expected: string): boolean {
    this.ws();
    const c = this.s.charCodeAt(this.pos);
    this.pos++;
    if (c === 44) {
      this.ws();
      return true;
    }
    if (c === close) {
      this.leave();
      return false;
    }
    this.pos--;
    throw this.fail(expected, 'syntax');
  }

  private array(): unknown[] {
    const a: unknown[] = [];
    this.enter(a);
    const s = this.s;
    const d = this.depth;
    this.pos++;
    this.ws();
    if (s.charCodeAt(this.pos) === 93) {
      this.pos++;
      this.leave();
      return a;
    }
    for (let i = 0; ; i++) {
      this.keys[d] = i;
      a.push(this.value());
      if (!this.next(93, "Expected ',' or ']' after an array item")) return a;
    }
  }

  /** A string token at `pos` (on its opening quote). */
  private string(): string {
    const s = this.s;
    const start = this.pos + 1;
    const n = s.length;
    let i = start;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        this.pos = i + 1;
        return s.slice(start, i);
      }
      if (c === 92 || c < 32 || (c >= 0xd800 && c <= 0xdfff)) return this.slowString(start, i);
      i++;
    }
    this.pos = n;
    throw this.fail('Unterminated string', 'syntax', true, start - 1);
  }

  /** The rest of a string from `i` (escapes, surrogate pairs, refusals); `start` is after the opening quote. */
  private slowString(start: number, i: number): string {
    const s = this.s;
    const n = s.length;
    let out = s.slice(start, i);
    let from = i;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        this.pos = i + 1;
        return out + s.slice(from, i);
      }
      if (c < 32) {
        this.pos = i;
        throw this.fail(`Unescaped control character ${hex4(c)} in a string`, c === 9 || c === 10 || c === 13 ? 'syntax' : 'control-character');
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = s.charCodeAt(i + 1);
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          i += 2;
          continue;
        }
        this.pos = i;
        throw this.fail(`Lone surrogate ${hex4(c)} in a string: not a Unicode character`, 'lone-surrogate');
      }
      if (c !== 92) {
        i++;
        continue;
      }
      out += s.slice(from, i);
      const e = s.charCodeAt(i + 1);
      let ch: number;
      switch (e) {
        case 34:
        case 92:
        case 47:
          ch = e;
          break;
        case 110:
          ch = 10;
          break;
        case 116:
          ch = 9;
          break;
        case 114:
          ch = 13;
          break;
        case 98:
          ch = 8;
          break;
        case 102:
          ch = 12;
          break;
        case 117: {
          ch = this.hex(i + 2);
          if (ch >= 0xd800 && ch <= 0xdbff) {
            const lo = s.charCodeAt(i + 6) === 92 && s.charCodeAt(i + 7) === 117 ? this.hex(i + 8) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) {
              this.pos = i;
              throw this.fail(`Lone surrogate \\u${ch.toString(16).toUpperCase()} in a string: not a Unicode character`, 'lone-surrogate');
            }
            out += String.fromCharCode(ch, lo);
            i += 12;
            from = i;
            continue;
          }
          if (ch >= 0xdc00 && ch <= 0xdfff) {
            this.pos = i;
            throw this.fail(`Lone surrogate \\u${ch.toString(16).toUpperCase()} in a string: not a Unicode character`, 'lone-surrogate');
          }
          i += 4;
          break;
        }
        default:
          this.pos = i;
          throw this.fail('Invalid escape sequence in a string', 'syntax');
      }
      if (ch < 32 && ch !== 9 && ch !== 10 && ch !== 13) {
        this.pos = i;
        throw this.fail(`Control character ${hex4(ch)} in a string: FHIR strings may hold tab, CR and LF only`, 'control-character');
      }
      out += String.fromCharCode(ch);
      i += 2;
      from = i;
    }
    this.pos = n;
    throw this.fail('Unterminated string', 'syntax', true, start - 1);
  }

  private hex(at: number): number {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = this.s.charCodeAt(at + k);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
      if (h < 0) {
        this.pos = at - 2;
        throw this.fail('Invalid \\u escape in a string', 'syntax');
      }
      v = v * 16 + h;
    }
    return v;
  }

  /** A number token (RFC 8259 §6 grammar); its text is recorded when a JS number would not reproduce it. */
  private number(): number {
    const s = this.s;
    const start = this.pos;
    let i = start;
    let c = s.charCodeAt(i);
    if (c === 45) c = s.charCodeAt(++i);
    if (c === 48) c = s.charCodeAt(++i);
    else if (c >= 49 && c <= 57) {
      do c = s.charCodeAt(++i);
      while (c >= 48 && c <= 57);
    } else {
      this.pos = i;
      throw this.fail('Invalid number', 'syntax');
    }
    let simple = true;
    if (c === 46) {
      simple = false;
      c = s.charCodeAt(++i);
      if (!(c >= 48 && c <= 57)) {
        this.pos = i;
        throw this.fail('Invalid number: digits expected after the decimal point', 'syntax');
      }
      do c = s.charCodeAt(++i);
      while (c >= 48 && c <= 57);
    }
    if (c === 101 || c === 69) {
      simple = false;
      c = s.charCodeAt(++i);
      if (c === 43 || c === 45) c = s.charCodeAt(++i);
      if (!(c >= 48 && c <= 57)) {
        this.pos = i;
        throw this.fail('Invalid number: digits expected in the exponent', 'syntax');
      }
      do c = s.charCodeAt(++i);
      while (c >= 48 && c <= 57);
    }
    if ((c >= 48 && c <= 57) || c === 46) {
      this.pos = i;
      throw this.fail('Invalid number (leading zeros are not allowed)', 'syntax');
    }
    this.pos = i;
    const text = s.slice(start, i);
    const v = +text;
    // integers of up to 15 digits are exact doubles and print as sent (except -0)
    if (simple && i - start <= 15 && text !== '-0') return v;
    if (v === Infinity || v === -Infinity) {
      this.pos = start;
      throw this.fail(`Number ${text.length > 40 ? `${text.slice(0, 40)}…` : text} is beyond the range of a decimal this server can hold (about ±1.8e308)`, 'number-range');
    }
    if (this.depth >= 0 && String(v) !== text) recordRawNumber(this.stack, this.depth, this.keys[this.depth]!, text);
    return v;
  }
}

/**
 * Parses a FHIR JSON text strictly and losslessly (see the module notes; https://hl7.org/fhir/R4/json.html).
 * @throws JsonInputError for anything FHIR's JSON format does not accept, with the element's FHIRPath and the
 *   line and column.
 */
export function parseFhirJson(text: string, options: ParseOptions = {}): unknown {
  return new Parser(text, options.maxDepth ?? MAX_JSON_DEPTH).parse();
}
