// The inputs of the profile validator model (scripts/gen-profile-validator.mjs): the R4 packages
// hl7.fhir.r4.examples (StructureDefinitions with snapshots, CodeSystems, ValueSets, SearchParameters) and
// hl7.fhir.r4.expansions (the value-set expansions), and the StructureDefinitions loaded by kind.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const examplesDir = path.dirname(require.resolve('hl7.fhir.r4.examples/package.json'));
export const expansionsDir = path.dirname(require.resolve('hl7.fhir.r4.expansions/package.json'));

/** Reads and parses a JSON file. */
export const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
/** Whether a StructureDefinition is one of the core R4 definitions (not an example profile). */
export const isCore = (sd) => sd.url.startsWith('http://hl7.org/fhir/StructureDefinition/');

/**
 * Loads the StructureDefinitions of hl7.fhir.r4.examples (by canonical url) and selects the primitive types, the
 * core complex types, the core resources and the Quantity profiles used as type codes.
 * @returns the package's file names, the definitions by url, all of them, and the selections
 */
export function loadStructureDefinitions() {
  const files = fs.readdirSync(examplesDir);
  const sdByUrl = new Map();
  for (const f of files) {
    if (!f.startsWith('StructureDefinition-') || !f.endsWith('.json')) continue;
    const sd = readJson(path.join(examplesDir, f));
    if (sd.resourceType === 'StructureDefinition') sdByUrl.set(sd.url, sd);
  }
  const sds = [...sdByUrl.values()];
  const primitiveSds = sds.filter((s) => s.kind === 'primitive-type' && s.derivation === 'specialization');
  const complexSds = sds.filter((s) => s.kind === 'complex-type' && (s.derivation === 'specialization' || s.type === 'Element') && isCore(s));
  const resourceSds = sds.filter((s) => s.kind === 'resource' && s.derivation === 'specialization' && isCore(s));
  // Constraint profiles on Quantity that are used as type codes (Age, Count, Distance, Duration, SimpleQuantity, MoneyQuantity).
  const quantityProfiles = sds.filter((s) => s.kind === 'complex-type' && s.derivation === 'constraint' && s.type === 'Quantity');
  return { files, sdByUrl, sds, primitiveSds, complexSds, resourceSds, quantityProfiles };
}
