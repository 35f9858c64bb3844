/**
 * Writes the V8 code cache of the schema validator (src/lib/code-cache.ts) for the flags this process runs under:
 * `npm run build` runs it with the import runner's V8 flags (`RUNNER_NODE_FLAGS`), so an import's workers start
 * from the cache on the first job. The module's functions are compiled by validating the official R4 examples
 * (`hl7.fhir.r4.examples`, up to 5 a resource type; not needed: without them only the module's top level is in
 * the cache). Does nothing when the cache is there and V8 takes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadWithCodeCache } from '../src/lib/code-cache';
import { codeCacheDir, projectFile } from '../src/paths';
import type { SchemaModule } from '../src/fhir/validation/schema';

/** Up to `perType` example resources per resource type from the R4 examples package, when it is installed. */
function examples(perType: number): unknown[] {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
  } catch {
    return [];
  }
  const taken = new Map<string, number>();
  const out: unknown[] = [];
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json')).sort()) {
    const type = f.split('-', 1)[0]!;
    if ((taken.get(type) ?? 0) >= perType) continue;
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
      taken.set(type, (taken.get(type) ?? 0) + 1);
    } catch {
      /* not a resource */
    }
  }
  return out;
}

const loaded = loadWithCodeCache<SchemaModule>(projectFile('generated/fhir-schema-validate.js'), { cacheDir: codeCacheDir(), writeAfterMs: 0 });
if (loaded.cache === 'used') {
  console.log('schema validator code cache: up to date');
} else {
  const resources = examples(5);
  for (const r of resources) {
    const validate = loaded.exports[(r as { resourceType?: string }).resourceType ?? ''];
    if (typeof validate === 'function') validate(r);
  }
  const saved = loaded.saveCache();
  console.log(`schema validator code cache: ${saved ? 'written' : 'not writable'} (${resources.length} examples run, ${path.basename(loaded.cacheFile)})`);
}
