/**
 * Structural validation of a ViewDefinition with a JSON Schema (ajv), following the element definitions
 * and constraints of https://sql-on-fhir.org/ig/StructureDefinition-ViewDefinition.html:
 * required `resource` and `select`, column/constant name pattern, at most one of `forEach` /
 * `forEachOrNull` / `repeat` per select, exactly one `value[x]` per constant.
 * Semantic checks (FHIRPath parses, constants exist, unionAll branches agree, names unique) are done by
 * the compiler, which runs this first.
 */
import Ajv, { type ErrorObject } from 'ajv';
import { ViewDefinitionError } from './errors';
import type { ViewDefinition } from './types';

/** The `value[x]` names a constant may use, with the JSON type each holds. */
export const CONSTANT_VALUE_TYPES: Readonly<Record<string, 'string' | 'number' | 'integer' | 'boolean'>> = {
  valueBase64Binary: 'string',
  valueBoolean: 'boolean',
  valueCanonical: 'string',
  valueCode: 'string',
  valueDate: 'string',
  valueDateTime: 'string',
  valueDecimal: 'number',
  valueId: 'string',
  valueInstant: 'string',
  valueInteger: 'integer',
  valueInteger64: 'integer',
  valueOid: 'string',
  valueString: 'string',
  valuePositiveInt: 'integer',
  valueTime: 'string',
  valueUnsignedInt: 'integer',
  valueUri: 'string',
  valueUrl: 'string',
  valueUuid: 'string',
};

const NAME = '^[A-Za-z][A-Za-z0-9_]*$';

const schema = {
  $id: 'tributary:ViewDefinition',
  type: 'object',
  required: ['resource', 'select'],
  properties: {
    resourceType: { const: 'ViewDefinition' },
    url: { type: 'string' },
    name: { type: 'string', pattern: NAME },
    title: { type: 'string' },
    status: { enum: ['draft', 'active', 'retired', 'unknown'] },
    experimental: { type: 'boolean' },
    publisher: { type: 'string' },
    description: { type: 'string' },
    resource: { type: 'string', pattern: '^[A-Z][A-Za-z]*$' },
    fhirVersion: { type: 'array', items: { type: 'string' } },
    constant: { type: 'array', items: { $ref: '#/definitions/constant' } },
    select: { type: 'array', minItems: 1, items: { $ref: '#/definitions/select' } },
    where: {
      type: 'array',
      items: {
        type: 'object',
        required: ['path'],
        properties: { path: { type: 'string', minLength: 1 }, description: { type: 'string' } },
        additionalProperties: false,
      },
    },
  },
  definitions: {
    constant: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: NAME },
        ...Object.fromEntries(Object.entries(CONSTANT_VALUE_TYPES).map(([k, t]) => [k, { type: t }])),
      },
      additionalProperties: false,
      oneOf: Object.keys(CONSTANT_VALUE_TYPES).map((k) => ({ required: [k] })),
    },
    column: {
      type: 'object',
      required: ['name', 'path'],
      properties: {
        name: { type: 'string', pattern: NAME },
        path: { type: 'string', minLength: 1 },
        description: { type: 'string' },
        collection: { type: 'boolean' },
        type: { type: 'string', minLength: 1 },
        tag: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'value'],
            properties: { name: { type: 'string' }, value: { type: 'string' } },
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
    select: {
      type: 'object',
      properties: {
        column: { type: 'array', minItems: 1, items: { $ref: '#/definitions/column' } },
        select: { type: 'array', items: { $ref: '#/definitions/select' } },
        forEach: { type: 'string', minLength: 1 },
        forEachOrNull: { type: 'string', minLength: 1 },
        repeat: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        unionAll: { type: 'array', minItems: 1, items: { $ref: '#/definitions/select' } },
      },
      additionalProperties: false,
      not: {
        anyOf: [
          { required: ['forEach', 'forEachOrNull'] },
          { required: ['forEach', 'repeat'] },
          { required: ['forEachOrNull', 'repeat'] },
        ],
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile<ViewDefinition>(schema);

/** Renders an ajv instance path (`/select/0/column/1`) as a FHIRPath-like location (`select[0].column[1]`). */
function location(instancePath: string): string {
  return instancePath
    .split('/')
    .filter((s) => s !== '')
    .reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc ? `${acc}.${seg}` : seg), '');
}

function describe(e: ErrorObject): string {
  const where = location(e.instancePath) || 'ViewDefinition';
  if (e.keyword === 'additionalProperties') return `${where}: unknown element '${String(e.params.additionalProperty)}'`;
  if (e.keyword === 'not') return `${where}: only one of forEach, forEachOrNull and repeat is allowed`;
  if (e.keyword === 'oneOf') return `${where}: a constant needs exactly one value[x]`;
  return `${where}: ${e.message ?? e.keyword}`;
}

/**
 * Checks a value is structurally a ViewDefinition.
 * @throws ViewDefinitionError listing every structural problem found.
 */
export function assertViewDefinitionShape(view: unknown): asserts view is ViewDefinition {
  if (validate(view)) return;
  const errors = (validate.errors ?? []).filter((e) => e.keyword !== 'if');
  // The constant's oneOf also reports each failed `required`; keep only the summary line.
  const lines = [...new Set(errors.filter((e) => !(e.keyword === 'required' && /\/constant\/\d+$/.test(e.instancePath) && e.params.missingProperty !== 'name')).map(describe))];
  const first = errors[0];
  throw new ViewDefinitionError(`invalid ViewDefinition: ${lines.join('; ')}`, first ? location(first.instancePath) || undefined : undefined);
}
