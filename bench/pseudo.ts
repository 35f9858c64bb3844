/**
 * Benchmark of the pseudonymisation engine (issue 3): resources per second on one core, warm, with an
 * in-process HMAC KeyService (KMS round trips excluded: in AWS each person costs one GenerateMac per cold start).
 * `npm run bench` calls {@link benchPseudo} with the Synthea bundles from ../shared when present.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { KeyService } from '../src/fhir/pseudo';
import { createPseudonymiser, parsePolicy } from '../src/fhir/pseudo';

/** First existing candidate (this file runs from bench/ under ts-jest and from dist/bench/ once built). */
const firstExisting = (...candidates: string[]): string => candidates.find((c) => existsSync(c)) ?? candidates[0]!;
const POLICY = firstExisting(path.resolve(__dirname, '../policy/pseudonymisation.yaml'), path.resolve(__dirname, '../../policy/pseudonymisation.yaml'));
const SHARED = firstExisting(path.resolve(__dirname, '../../shared/fhir/synthea'), path.resolve(__dirname, '../../../shared/fhir/synthea'));

/** Loads the Synthea bundles from ../shared (both folders), or [] when ../shared is absent. */
export function loadSyntheaBundles(limit = Infinity): unknown[] {
  const out: unknown[] = [];
  for (const d of ['smart-on-fhir-r4', 'covid19']) {
    const dir = path.join(SHARED, d);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
      if (out.length >= limit) return out;
      out.push(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
    }
  }
  return out;
}

/**
 * Pseudonymises `bundles` once to warm up (policy compiled, hash caches filled as they would be in a warm
 * Lambda), then times `rounds` further passes over all of them.
 * @returns resources per second (warm, one core) and the number of resources timed.
 */
export async function benchPseudo(bundles: any[], rounds = 3): Promise<{ resourcesPerSecond: number; resources: number; ms: number }> {
  const key = Buffer.alloc(32, 7);
  const keys: KeyService = { keyVersion: 'bench', mac: async (m) => createHmac('sha256', key).update(m).digest('hex') };
  const p = await createPseudonymiser({ policy: parsePolicy(readFileSync(POLICY, 'utf8')), keys });
  for (const b of bundles) await p.pseudonymise(b, { source: 'bench' });
  let resources = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) {
    for (const b of bundles) resources += (await p.pseudonymise(b, { source: 'bench' })).resources.length;
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { resourcesPerSecond: Math.round((resources / ms) * 1000), resources, ms: Math.round(ms) };
}

if (require.main === module) {
  const bundles = loadSyntheaBundles(Number(process.argv[2] ?? Infinity));
  if (bundles.length === 0) console.log('bench/pseudo: ../shared/fhir/synthea not found, nothing to measure');
  else void benchPseudo(bundles).then((r) => console.log(JSON.stringify({ benchPseudo: { bundles: bundles.length, ...r } })));
}
