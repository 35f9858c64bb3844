/**
 * The validation pipeline exactly as the API runs it (issue 6; https://hl7.org/fhir/R4/validation.html), in one
 * module with only validation dependencies, so the benchmark and the conformance test measure the same code the
 * ingest uses without loading the AWS adapters: {@link buildProfileValidator} (the generated profile validator with
 * the deployment's user rules and validator options) and {@link buildValidator} (profile validator, then the ajv
 * standalone R4 JSON schema, then the NHS number check, by level). The bootstrap reads the files (model, rules,
 * schema module: `src/paths.ts`) and wires these into the app.
 */
import type { OperationOutcomeIssue, Resource } from 'fhir/r4';
import { badRequest } from '../outcomes';
import { ClientError } from '../errors';
import { nhsNumberIssues } from '../nhs-number-check';
import type { RawModel } from './model';
import { createProfileValidator, type ProfileValidator, type ProfileValidatorOptions } from './profile';
import { loadUserRules } from './rules';
import { createSchemaValidator, type SchemaModule } from './schema';
import { VALIDATION_LEVELS, type ResourceValidator, type ValidationLevel, type ValidationOptionsConfig } from './types';

const LEVELS: readonly string[] = VALIDATION_LEVELS;

/** What the profile validator is built from (the bootstrap reads the files). */
export interface ProfileInputs {
  /** The generated R4 model (`generated/profile-model.json`, parsed). */
  model: RawModel;
  /** The deployment's user rules: the YAML text and its file name (for messages); none when absent. */
  rules?: { text: string; source?: string };
  /** The deployment's validator options (`Config.validation`; defaults: the FHIR rules). */
  validation?: ValidationOptionsConfig;
}

/** The settings of the whole pipeline (the configuration's fields of the same names, plus the schema module). */
export interface PipelineSettings {
  /** The level used when a request names none (`VALIDATION_LEVEL`). */
  validationLevel: ValidationLevel;
  /** The deployment's validator options (`Config.validation`; defaults: the FHIR rules). */
  validation?: ValidationOptionsConfig;
  /**
   * Returns the generated R4 JSON-schema module (`generated/fhir-schema-validate.js`); called once, on the first
   * validation that reaches the schema step, so a cold start does not load its 6 MB before it needs them.
   */
  schemaModule: () => SchemaModule;
}

/**
 * The profile validator's options from the deployment's settings (`VALIDATION_EXAMPLE_URLS`,
 * `VALIDATION_HTML_IN_MARKDOWN`, `VALIDATION_CONTAINED`, `VALIDATION_REFERENCES`; defaults keep every check of
 * `strict` as it was).
 */
export function profileOptions(v: ValidationOptionsConfig | undefined): Omit<ProfileValidatorOptions, 'model'> {
  const o: Omit<ProfileValidatorOptions, 'model'> = {};
  if (!v) return o;
  if (v.exampleUrls === 'error') o.allowExampleUrls = false;
  if (v.htmlInMarkdown === 'error') o.htmlInMarkdown = 'error';
  if (v.contained === 'ignore') o.validateContained = false;
  if (v.references === 'local') o.referenceResolution = 'local';
  return o;
}

/**
 * A copy of `x` without the `contained` resources of any resource in it (`VALIDATION_CONTAINED=ignore`, for the
 * JSON-schema step, so it skips contained resources as the profile validator does). Returns `x` itself when there
 * is nothing to remove.
 */
function withoutContained(x: unknown): unknown {
  if (Array.isArray(x)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < x.length; i++) {
      const y = withoutContained(x[i]);
      if (y !== x[i]) (out ??= x.slice())[i] = y;
    }
    return out ?? x;
  }
  if (x === null || typeof x !== 'object') return x;
  const o = x as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  const isResource = typeof o.resourceType === 'string';
  for (const k in o) {
    if (isResource && k === 'contained') {
      if (!out) out = { ...o };
      delete out.contained;
      continue;
    }
    const y = withoutContained(o[k]);
    if (y !== o[k]) (out ??= { ...o })[k] = y;
  }
  return out ?? x;
}

/**
 * Validation as configured, by level (like AWS HealthLake's):
 * - `strict`: the validator generated from the R4 StructureDefinitions (cardinality, types, formats, required
 *   bindings, invariants) plus the deployment's user rules, then the official R4 JSON schema (ajv standalone code);
 * - `structure-only`: the same without bindings, invariants and user rules;
 * - `minimal`: a known resourceType and JSON structure only.
 * The profile validator runs first because it reports every issue (the schema stops at the first).
 * @param settings the default level, the options and the schema module's loader
 * @param profile the profile validator ({@link buildProfileValidator})
 * @throws ClientError (from the returned function) when a request names an unknown level
 */
export function buildValidator(settings: PipelineSettings, profile: ProfileValidator): ResourceValidator {
  const ignoreContained = settings.validation?.contained === 'ignore';
  const validateSchema = createSchemaValidator(settings.schemaModule);
  return (resource: Resource, root: string, level?: string): OperationOutcomeIssue[] => {
    if (level !== undefined && !LEVELS.includes(level)) {
      throw new ClientError(badRequest(`X-Validation-Level must be one of ${LEVELS.join(', ')}`));
    }
    const lvl = (level ?? settings.validationLevel) as ValidationLevel;
    const issues = profile.validate(resource, lvl, root);
    if (lvl === 'minimal' || issues.some((i) => i.severity === 'error' || i.severity === 'fatal')) return issues;
    const schema = validateSchema(ignoreContained ? withoutContained(resource) : resource, root);
    if (schema.length > 0) return [...schema, ...issues];
    const nhs = nhsNumberIssues(resource, root);
    return nhs.length > 0 ? [...nhs, ...issues] : issues;
  };
}

/**
 * The profile validator with the deployment's user rules (validated at start-up: a bad rules file stops the start)
 * and validator options.
 * @throws RulesConfigError naming the rule when the rules are invalid
 */
export function buildProfileValidator(inputs: ProfileInputs): ProfileValidator {
  const { model, rules } = inputs;
  const userRules = rules ? loadUserRules(rules.text, new Set(model.resourceTypes), rules.source) : [];
  return createProfileValidator({ ...profileOptions(inputs.validation), model, userRules });
}
