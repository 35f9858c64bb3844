// Build step: compiles the official FHIR R4 (4.0.1) StructureDefinitions (snapshots in the
// hl7.fhir.r4.examples package) ONCE, ahead of time, into a compact model that
// src/fhir/validation/profile.ts walks per request: generated/profile-model.json.
//
// Per resource type and complex datatype it records, per JSON property: cardinality, JSON array-ness,
// the type (primitive, complex, inline backbone, `Resource`), choice group (`value[x]`), reference
// targets, the required binding (codes from hl7.fhir.r4.expansions, or from enumerable CodeSystems),
// and the invariants (FHIRPath) with a small pre-analysed form ("fast IR") that the runtime evaluates
// directly over JSON when it can, falling back to the `fhirpath` package otherwise.
// It also records the R4 primitive regexes, the core extension definitions (context and value types)
// and the core SearchParameters (url -> type and base), for a few reference-validator business rules.
// The steps are modules under scripts/profile-validator/: sources.mjs (the R4 packages and their
// StructureDefinitions), primitives.mjs, value-sets.mjs, structures.mjs, fast-ir.mjs and core-definitions.mjs.
//
// Usage: node scripts/gen-profile-validator.mjs [--force]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreExtensions, coreSearchParams } from './profile-validator/core-definitions.mjs';
import { compileFastIr } from './profile-validator/fast-ir.mjs';
import { buildPrimitives } from './profile-validator/primitives.mjs';
import { examplesDir, expansionsDir, loadStructureDefinitions } from './profile-validator/sources.mjs';
import { createStructures, typeCodeFor } from './profile-validator/structures.mjs';
import { createValueSets } from './profile-validator/value-sets.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'generated', 'profile-model.json');
const modulesDir = path.join(root, 'scripts', 'profile-validator');

/** Newest mtime of this script and its modules (the generator's own code). */
const newestCode = () =>
  Math.max(
    fs.statSync(fileURLToPath(import.meta.url)).mtimeMs,
    ...fs.readdirSync(modulesDir).map((f) => fs.statSync(path.join(modulesDir, f)).mtimeMs),
  );
const upToDate = () => {
  try {
    const o = fs.statSync(out).mtimeMs;
    return (
      o > newestCode() &&
      o > fs.statSync(path.join(examplesDir, 'package.json')).mtimeMs &&
      o > fs.statSync(path.join(expansionsDir, 'package.json')).mtimeMs
    );
  } catch {
    return false;
  }
};
if (upToDate() && !process.argv.includes('--force')) {
  console.log('profile validator model: up to date');
  process.exit(0);
}

const t0 = Date.now();

// 1. Load StructureDefinitions
const { files, sdByUrl, sds, primitiveSds, complexSds, resourceSds, quantityProfiles } = loadStructureDefinitions();
// 2. Primitives: JSON type and the R4 regex (from the `.value` element's regex extension)
const { primitives, isPrimitive } = buildPrimitives(primitiveSds);
// 3. Value sets for required bindings
const { valueSets, skippedValueSets, valueSetRef } = createValueSets(files);
// 4. Structures
const { structs, types, invariants, pendingIr, skippedBindings, buildSd } = createStructures({ sdByUrl, isPrimitive, valueSetRef, skippedValueSets });
for (const sd of complexSds) buildSd(sd, sd.type, 'datatype');
for (const sd of quantityProfiles) buildSd(sd, sd.name, 'datatype');
const resourceTypes = [];
for (const sd of resourceSds) {
  buildSd(sd, sd.type, 'resource');
  if (!sd.abstract) resourceTypes.push(sd.type);
}
resourceTypes.sort();

const resourceTypesAll = new Set(resourceSds.map((sd) => sd.type));
// 5. Fast IR for invariants
const { irFull, irPartial, irNone } = compileFastIr({ structs, types, invariants, pendingIr, isPrimitive, resourceTypesAll });
// Complex-type references in elements: keep type names as strings; the runtime maps them via `types`.

// 6. Core extensions (context + value types) and core SearchParameters
const extensions = coreExtensions(sds, typeCodeFor(sdByUrl));
const searchParams = coreSearchParams(files);

// 7. Write
const model = {
  generatedBy: 'scripts/gen-profile-validator.mjs',
  fhirVersion: '4.0.1',
  primitives,
  resourceTypes,
  types,
  structs,
  invariants,
  valueSets,
  extensions,
  searchParams,
  skipped: {
    valueSets: Object.fromEntries(skippedValueSets),
    bindings: skippedBindings,
  },
};
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(model));
console.log(
  `profile validator model: ${resourceTypes.length} resource types, ${Object.keys(types).length} types, ${structs.length} structs, ` +
    `${invariants.length} invariants (fast IR: ${irFull} full, ${irPartial} partial, ${irNone} fhirpath only), ` +
    `${valueSets.length} value sets (${skippedValueSets.size} not enumerable), ${Object.keys(extensions).length} extensions, ` +
    `${Object.keys(searchParams).length} search params, ${(fs.statSync(out).size / 1e6).toFixed(2)} MB, ${Date.now() - t0} ms`,
);
