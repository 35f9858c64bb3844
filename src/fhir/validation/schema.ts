/**
 * Validation against the official FHIR R4 (4.0.1) JSON schema (https://hl7.org/fhir/R4/json.html#schema),
 * using ajv code generated AHEAD OF TIME by `scripts/gen-schema-validator.mjs` (ajv standalone), so a cold
 * start loads plain functions instead of compiling the 3 MB schema. The generated module is handed in by the
 * caller (a loader, called on the first validation): this module reads no file.
 */
import type { OperationOutcomeIssue } from 'fhir/r4';
import { isResourceType } from '../resource-types';

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
}
/** One generated ajv standalone validator (one per resource type). */
export type StandaloneValidator = ((data: unknown) => boolean) & { errors?: AjvError[] | null };
/** The generated module (`generated/fhir-schema-validate.js`): a validator per resource type, and their list. */
export type SchemaModule = Record<string, StandaloneValidator> & { resourceTypes: string[] };

/**
 * Validates one resource against the R4 JSON schema.
 * @param resource the parsed resource
 * @param root FHIRPath of the resource in the request (default: its resourceType)
 * @returns issues (empty when valid); the schema stops at the first error of a resource
 */
export type SchemaValidator = (resource: unknown, root?: string) => OperationOutcomeIssue[];

/**
 * Converts an ajv JSON pointer (`/name/0/given`) into a FHIRPath-style expression (`Patient.name[0].given`).
 * `root` is the expression of the resource itself, e.g. `Patient` or `Bundle.entry[3].resource`.
 */
export function pointerToExpression(root: string, pointer: string, extra?: string): string {
  let expr = root;
  const parts = pointer === '' ? [] : pointer.slice(1).split('/');
  for (const raw of parts) {
    const p = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(p)) expr += `[${p}]`;
    else expr += `.${p}`;
  }
  if (extra) expr += `.${extra}`;
  return expr;
}

function describe(e: AjvError): { code: OperationOutcomeIssue['code']; text: string; extra?: string } {
  const p = e.params;
  switch (e.keyword) {
    case 'required':
      return { code: 'required', text: `Missing required element '${String(p.missingProperty)}'`, extra: String(p.missingProperty) };
    case 'additionalProperties':
      return { code: 'structure', text: `Unknown element '${String(p.additionalProperty)}'`, extra: String(p.additionalProperty) };
    case 'enum':
      return { code: 'code-invalid', text: `Value is not one of the allowed codes (${(p.allowedValues as unknown[] | undefined)?.join(', ') ?? ''})` };
    case 'const':
      return { code: 'value', text: `Value must be '${String(p.allowedValue)}'` };
    case 'type':
      return { code: 'structure', text: `Wrong JSON type: expected ${String(p.type)}` };
    case 'pattern':
      return { code: 'value', text: `Value does not match the FHIR format (${String(p.pattern)})` };
    case 'minItems':
      return { code: 'required', text: `Array must not be empty` };
    case 'maxItems':
      return { code: 'structure', text: `Too many items (max ${String(p.limit)})` };
    case 'oneOf':
    case 'anyOf':
      return { code: 'structure', text: `Value matches none of the allowed shapes` };
    default:
      return { code: 'structure', text: `Schema rule '${e.keyword}' failed` };
  }
}

/**
 * Creates the R4 JSON-schema validation (https://hl7.org/fhir/R4/json.html#schema) over the generated ajv module.
 * @param load returns the generated module; called once, on the first validation of a known resource type (the
 *   module is 6 MB: loading it costs about 200 ms, which a cold start that never validates does not pay)
 * @returns the validator: issues for one resource (empty when valid); the schema stops at the first error
 */
export function createSchemaValidator(load: () => SchemaModule): SchemaValidator {
  let mod: SchemaModule | undefined;
  const validate = (resource: unknown, root?: string): OperationOutcomeIssue[] => {
    const r = resource as { resourceType?: unknown } | null;
    const type = r && typeof r === 'object' && !Array.isArray(r) ? r.resourceType : undefined;
    const base = root ?? (typeof type === 'string' ? type : 'Resource');
    if (!isResourceType(type)) {
      return [
        {
          severity: 'error',
          code: 'structure',
          diagnostics:
            type === undefined ? 'Missing resourceType' : `Unknown resourceType '${String(type).slice(0, 64)}'`,
          expression: [root ? `${root}.resourceType` : 'resourceType'],
        },
      ];
    }
    const fn = (mod ??= load())[type as string];
    if (fn(resource)) return [];
    const errors = fn.errors ?? [];
    // A resource nested in a "one of all resources" slot (contained, Bundle.entry.resource, Parameters) fails every
    // branch; ajv then reports the first branch's `resourceType` const. Validate the nested one as its own type.
    const first = errors[0];
    if (first && first.keyword === 'const' && first.instancePath.endsWith('/resourceType')) {
      const nestedPath = first.instancePath.slice(0, -'/resourceType'.length);
      const nested = nestedPath
        .slice(1)
        .split('/')
        .reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), resource);
      const nestedType = (nested as { resourceType?: unknown } | undefined)?.resourceType;
      if (nested !== resource && isResourceType(nestedType)) {
        const inner = validate(nested, pointerToExpression(base, nestedPath));
        if (inner.length > 0) return inner;
      }
    }
    return errors.map((e) => {
      const d = describe(e);
      return {
        severity: 'error' as const,
        code: d.code,
        diagnostics: `${d.text} [schema]`,
        expression: [pointerToExpression(base, e.instancePath, d.extra)],
      };
    });
  };
  return validate;
}
