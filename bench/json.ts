/**
 * The cost of strict, lossless FHIR JSON (src/fhir/json, issue #17): on the Synthea Bundles, one core, warm,
 * - parsing: `JSON.parse` against `parseFhirJson` (duplicate keys, control characters, lone surrogates, depth and
 *   number range checked; decimals' text recorded): MB/s and resources/s, and the ratio;
 * - strict UTF-8 decoding of the same bytes (`decodeUtf8`, what a base64 body costs before parsing) against
 *   `Buffer#toString('utf8')`;
 * - serialising a resource for the lake: `JSON.stringify` against `stringifyFhirJson` on resources without decimals
 *   to keep (the common case: one WeakSet lookup) and on the same resources with every `valueQuantity.value` sent as
 *   `x.50` (decimals to keep: the hand-written serialiser).
 * Figures only, never pass/fail. `node dist/bench/json.js [dir]` runs it alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { decodeUtf8, parseFhirJson, stringifyFhirJson } from '../src/fhir/json';

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const round = (x: number, d = 0): number => Math.round(x * 10 ** d) / 10 ** d;

/** Calls `fn` over `items` for at least `minMs` (after one warm-up pass); returns passes per second. */
function passes<T>(items: readonly T[], fn: (x: T) => unknown, minMs = 2000): number {
  for (const x of items) fn(x);
  let n = 0;
  const t0 = now();
  do {
    for (const x of items) fn(x);
    n++;
  } while (now() - t0 < minMs);
  return n / ((now() - t0) / 1000);
}

/** JSON parse/serialise figures over Bundle texts (see the module notes). */
export async function benchJson(bundleTexts: readonly string[]): Promise<Record<string, unknown>> {
  const texts = bundleTexts.slice(0, 40);
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  const resources = texts.reduce((n, t) => n + ((JSON.parse(t) as { entry?: unknown[] }).entry?.length ?? 0), 0);
  const buffers = texts.map((t) => Buffer.from(t, 'utf8'));
  const native = passes(texts, (t) => JSON.parse(t));
  const strict = passes(texts, (t) => parseFhirJson(t));
  const utf8Native = passes(buffers, (b) => b.toString('utf8'));
  const utf8Strict = passes(buffers, (b) => decodeUtf8(b));
  // lake serialisation, per resource
  const plain = texts.flatMap((t) => ((parseFhirJson(t) as { entry?: { resource: unknown }[] }).entry ?? []).map((e) => e.resource)).slice(0, 20000);
  const withDecimals = plain
    .map((r) => JSON.stringify(r).replace(/("valueQuantity":\{"value":)(-?\d+)(?:\.\d+)?/g, '$1$2.50'))
    .filter((t) => t.includes('.50'))
    .map((t) => parseFhirJson(t));
  const stringifyNative = passes(plain, (r) => JSON.stringify(r));
  const stringifyPlain = passes(plain, (r) => stringifyFhirJson(r));
  const stringifyKeptNative = passes(withDecimals, (r) => JSON.stringify(r));
  const stringifyKept = passes(withDecimals, (r) => stringifyFhirJson(r));
  return {
    bundles: texts.length,
    megabytes: round(bytes / 1e6, 1),
    resources,
    parse: {
      jsonParseMBps: round((native * bytes) / 1e6),
      strictMBps: round((strict * bytes) / 1e6),
      jsonParseResourcesPerSecond: round(native * resources),
      strictResourcesPerSecond: round(strict * resources),
      strictCostRatio: round(native / strict, 2),
    },
    utf8: { toStringMBps: round((utf8Native * bytes) / 1e6), strictMBps: round((utf8Strict * bytes) / 1e6) },
    stringify: {
      resources: plain.length,
      jsonStringifyPerSecond: round(stringifyNative * plain.length),
      losslessPerSecond: round(stringifyPlain * plain.length),
      withKeptDecimals: withDecimals.length,
      withKeptDecimalsJsonStringifyPerSecond: round(stringifyKeptNative * withDecimals.length),
      withKeptDecimalsLosslessPerSecond: round(stringifyKept * withDecimals.length),
    },
  };
}

if (require.main === module) {
  const dir = process.argv[2] ?? ['../../shared', '../../../shared'].map((d) => path.resolve(__dirname, d, 'fhir/synthea/smart-on-fhir-r4')).find((d) => fs.existsSync(d));
  if (!dir || !fs.existsSync(dir)) {
    console.error('bench/json: ../shared/fhir/synthea/smart-on-fhir-r4 not found, nothing to measure');
    process.exit(2);
  }
  const texts = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
  benchJson(texts).then((r) => console.log(JSON.stringify(r, null, 2)));
}
