/**
 * The pseudonymisation policy: its shape, its JSON Schema (ajv), parsing from YAML and the semantic checks
 * against the FHIR R4 model that run once at start-up. A bad policy fails start-up with a {@link PolicyError}
 * naming the rule at fault.
 */
import type Ajv from 'ajv';
import { resolveRulePath, type ResolvedPath } from './model';

/** What a rule does to the elements it addresses. */
export type PolicyMethod = 'vault' | 'pseudonym' | 'hash' | 'generalize' | 'redact' | 'keep';

/** One FHIRPath-addressed rule. */
export interface PolicyRule {
  /** `Patient.address`, `Resource.text`, `HumanName` (or `nodesByType('HumanName')`), `Coding.display`, `Questionnaire`. */
  path: string;
  method: PolicyMethod;
  /** With `vault`: what stays in the resource in place of the moved element. */
  keep?: 'generalize' | 'pseudonym';
  /** Identifier rules only: the rule applies to identifiers of these systems; others fall through. */
  systems?: string[];
  comment?: string;
}

/** Tunables of the policy (all optional in the file; defaults in {@link DEFAULT_PARAMETERS}). */
export interface PolicyParameters {
  pseudonymPrefix: string;
  hashPrefix: string;
  datePrecision: 'year' | 'month';
  zipDigits: number;
  narrative: 'placeholder' | 'remove';
  scrubReplacement: string;
  defaultString: 'redact' | 'keep';
  defaultBase64Binary: 'redact' | 'keep';
  datesEqualToBirthDate: 'generalize' | 'keep';
  generalizedAddress: string[];
  pseudonymIdentifierSystem: string;
  publicReferenceTypes: string[];
}

/** A parsed, validated policy. */
export interface Policy {
  /** Policy version, recorded on every output resource (meta.tag) and identity record. A FHIR code. */
  version: string;
  description?: string;
  parameters: PolicyParameters;
  extensions: { allow: string[] };
  rules: PolicyRule[];
}

/** Parameter defaults. */
export const DEFAULT_PARAMETERS: PolicyParameters = {
  pseudonymPrefix: 'p-',
  hashPrefix: 'h-',
  datePrecision: 'year',
  zipDigits: 3,
  narrative: 'placeholder',
  scrubReplacement: '[redacted]',
  defaultString: 'redact',
  defaultBase64Binary: 'redact',
  datesEqualToBirthDate: 'generalize',
  generalizedAddress: ['use', 'type', 'state', 'postalCode', 'country'],
  pseudonymIdentifierSystem: 'https://tributary.nhs.example/Id/pseudonym',
  publicReferenceTypes: ['Organization', 'Location', 'HealthcareService', 'Endpoint', 'Medication', 'Substance'],
};

/** Raised when a policy is malformed; the message names the rule (index and path) at fault. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

const METHODS: PolicyMethod[] = ['vault', 'pseudonym', 'hash', 'generalize', 'redact', 'keep'];
const PREFIX = { type: 'string', pattern: '^[A-Za-z0-9.\\-]{1,8}$' };

/** JSON Schema of the policy file (draft-07, checked with ajv). */
export const POLICY_SCHEMA = {
  type: 'object',
  required: ['version', 'rules'],
  additionalProperties: false,
  properties: {
    version: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}$' },
    description: { type: 'string' },
    parameters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        pseudonymPrefix: PREFIX,
        hashPrefix: PREFIX,
        datePrecision: { enum: ['year', 'month'] },
        zipDigits: { type: 'integer', minimum: 0, maximum: 5 },
        narrative: { enum: ['placeholder', 'remove'] },
        scrubReplacement: { type: 'string', minLength: 1, pattern: '\\S' },
        defaultString: { enum: ['redact', 'keep'] },
        defaultBase64Binary: { enum: ['redact', 'keep'] },
        datesEqualToBirthDate: { enum: ['generalize', 'keep'] },
        generalizedAddress: {
          type: 'array',
          items: { enum: ['use', 'type', 'state', 'postalCode', 'country', 'district'] },
          uniqueItems: true,
        },
        pseudonymIdentifierSystem: { type: 'string', pattern: '^\\S+$' },
        publicReferenceTypes: { type: 'array', items: { type: 'string', pattern: '^[A-Z][A-Za-z]+$' } },
      },
    },
    extensions: {
      type: 'object',
      additionalProperties: false,
      properties: { allow: { type: 'array', items: { type: 'string', pattern: '^\\S+$' } } },
    },
    rules: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['path', 'method'],
        additionalProperties: false,
        properties: {
          path: { type: 'string', minLength: 1 },
          method: { enum: METHODS },
          keep: { enum: ['generalize', 'pseudonym'] },
          systems: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^\\S+$' } },
          comment: { type: 'string' },
        },
      },
    },
  },
} as const;

let validateFn: ReturnType<Ajv['compile']> | undefined;

function ruleLabel(raw: unknown, i: number): string {
  const r = (Array.isArray(raw) ? raw[i] : undefined) as { path?: unknown; method?: unknown } | undefined;
  const path = typeof r?.path === 'string' ? ` (path "${r.path}"${typeof r.method === 'string' ? `, method "${r.method}"` : ''})` : '';
  return `rule ${i}${path}`;
}

/** A string type that may be hashed / pseudonymised. */
const STRINGISH = new Set(['string', 'id', 'code', 'uri', 'url', 'canonical', 'oid', 'uuid', 'System.String', 'markdown']);

function checkMethod(rule: PolicyRule, at: ResolvedPath): string | undefined {
  const t = at.type;
  const method = rule.method;
  if (at.kind === 'resource') {
    return method === 'keep' ? undefined : `a whole resource type only takes method "keep"`;
  }
  if (rule.systems && t !== 'Identifier') return `"systems" applies to Identifier elements, not ${t}`;
  if (rule.keep && method !== 'vault') return `"keep" goes with method "vault" only`;
  const generalizable = (ty: string, p: string) =>
    ty === 'date' || ty === 'dateTime' || ty === 'Address' || (ty === 'string' && /(^|\.)postalCode$/.test(p));
  if ((method === 'generalize' || rule.keep === 'generalize') && !generalizable(t, at.path)) {
    return `cannot generalize an element of type ${t} (dates, dateTimes, Address and Address.postalCode can be)`;
  }
  if (method === 'pseudonym' || rule.keep === 'pseudonym') {
    if (at.root !== 'Patient') return `"pseudonym" applies to Patient elements only`;
    if (t !== 'Identifier' && !STRINGISH.has(t)) return `cannot put a pseudonym in an element of type ${t}`;
  }
  if (method === 'hash' && t !== 'Identifier' && !STRINGISH.has(t)) {
    return `cannot hash an element of type ${t} (Identifier and string-like primitives can be)`;
  }
  return undefined;
}

/**
 * Validates a policy object (already parsed from YAML/JSON): structure with ajv, then every rule against the
 * R4 model (the path exists, the method fits the element's type). Fills parameter defaults.
 * @throws {@link PolicyError} naming the first bad rule or field.
 */
export function validatePolicy(raw: unknown): Policy {
  // ajv is loaded when a policy is first checked (after the cold start's module loading), not at import
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  validateFn ??= new (require('ajv') as { default: typeof Ajv }).default({ allErrors: false, strict: true }).compile(POLICY_SCHEMA);
  if (!validateFn(raw)) {
    const e = validateFn.errors![0]!;
    const m = /^\/rules\/(\d+)(.*)$/.exec(e.instancePath);
    const where = m ? `${ruleLabel((raw as { rules: unknown }).rules, Number(m[1]))}${m[2] ? ` at ${m[2]}` : ''}` : e.instancePath || '(root)';
    const allowed = e.params && 'allowedValues' in e.params ? ` (${(e.params.allowedValues as unknown[]).join(', ')})` : '';
    const extra = e.params && 'additionalProperty' in e.params ? ` "${String(e.params.additionalProperty)}"` : '';
    throw new PolicyError(`Invalid pseudonymisation policy: ${where}: ${e.message}${extra}${allowed}`);
  }
  const p = raw as Omit<Policy, 'parameters' | 'extensions'> & { parameters?: Partial<PolicyParameters>; extensions?: { allow?: string[] } };
  p.rules.forEach((rule, i) => {
    let at: ResolvedPath;
    try {
      at = resolveRulePath(rule.path);
    } catch (err) {
      throw new PolicyError(`Invalid pseudonymisation policy: ${ruleLabel(p.rules, i)}: ${(err as Error).message}`);
    }
    const problem = checkMethod(rule, at);
    if (problem) throw new PolicyError(`Invalid pseudonymisation policy: ${ruleLabel(p.rules, i)}: ${problem}`);
  });
  return {
    version: p.version,
    ...(p.description !== undefined ? { description: p.description } : {}),
    parameters: { ...DEFAULT_PARAMETERS, ...(p.parameters ?? {}) },
    extensions: { allow: [...(p.extensions?.allow ?? [])] },
    rules: p.rules.map((r) => ({ ...r })),
  };
}

/** Parses and validates a policy from YAML (or JSON) text. @throws {@link PolicyError} */
export function parsePolicy(text: string): Policy {
  let raw: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    raw = (require('yaml') as typeof import('yaml')).parse(text);
  } catch (err) {
    throw new PolicyError(`Invalid pseudonymisation policy: not valid YAML: ${(err as Error).message}`);
  }
  return validatePolicy(raw);
}
