// Primitives of the profile validator model: the JSON type and the R4 regex of each primitive type (from the
// `.value` element's regex extension).
const NUMBER_PRIMS = new Set(['integer', 'decimal', 'positiveInt', 'unsignedInt']);

/**
 * Records each primitive type's JSON type, regex and maximum length.
 * @param primitiveSds the primitive-type StructureDefinitions
 * @returns the model's `primitives` (type name -> { json, regex?, maxLength? }) and a test for a primitive type name
 */
export function buildPrimitives(primitiveSds) {
  const primitives = {};
  for (const sd of primitiveSds) {
    const v = sd.snapshot.element.find((e) => e.path === `${sd.type}.value`);
    const ext = v?.type?.[0]?.extension ?? [];
    const regex = ext.find((x) => x.url === 'http://hl7.org/fhir/StructureDefinition/regex')?.valueString;
    primitives[sd.type] = {
      json: sd.type === 'boolean' ? 'boolean' : NUMBER_PRIMS.has(sd.type) ? 'number' : 'string',
      ...(regex ? { regex } : {}),
      ...(v?.maxLength ? { maxLength: v.maxLength } : {}),
    };
  }
  const isPrimitive = (t) => Object.prototype.hasOwnProperty.call(primitives, t);
  return { primitives, isPrimitive };
}
