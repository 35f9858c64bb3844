/**
 * The validation pipeline exactly as the API runs it (issue 6), in one module with only validation
 * dependencies, so the benchmark and the conformance test measure the same code the ingest uses without loading
 * the AWS adapters: {@link buildProfileValidator} (the generated profile validator with the deployment's user
 * rules and validator options) and {@link buildValidator} (profile validator, then the ajv standalone R4 JSON schema,
 * then the NHS number check, by level). `src/bootstrap.ts` wires these into the app.
 */
import type { OperationOutcomeIssue, Resource } from 'fhir/r4';
import type { Config, ValidationOptionsConfig } from '../../config';
import type { ResourceValidator } from '../../core/ingest';
import { badRequest } from '../outcomes';
import { ClientError } from '../errors';
import { projectFile } from '../../paths';
import { nhsNumberIssues } from '../nhs-number-check';
import { readModel } from './model';
import { createProfileValidator, loadUserRules, type ProfileValidator, type ProfileValidatorOptions, type ValidationLevel } from './profile';
import { validateSchema } from './schema';

const LEVELS: readonly string[] = ['strict', 'structure-only', 'minimal'];

/** The configuration the pipeline reads (a subset of {@link Config}). */
export type ValidationConfig = Pick<Config, 'validationLevel' | 'rulesFile'> & { validation?: ValidationOptionsConfig };

/**
 * The profile validator's options from the deployment's settings (`VALIDATION_EXAMPLE_URLS`,
 * `VALIDATION_HTML_IN_MARKDOWN`, `VALIDATION_CONTAINED`, `VALIDATION_REFERENCES`; defaults keep every check of
 * `strict` as it was).
 */
export function profileOptions(v: ValidationOptionsConfig | undefined): ProfileValidatorOptions {
  const o: ProfileValidatorOptions = {};
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
 */
export function buildValidator(config: ValidationConfig, profile: ProfileValidator): ResourceValidator {
  const ignoreContained = config.validation?.contained === 'ignore';
  return (resource: Resource, root: string, level?: string): OperationOutcomeIssue[] => {
    if (level !== undefined && !LEVELS.includes(level)) {
      throw new ClientError(badRequest(`X-Validation-Level must be one of ${LEVELS.join(', ')}`));
    }
    const lvl = (level ?? config.validationLevel) as ValidationLevel;
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
 */
export function buildProfileValidator(config: ValidationConfig): ProfileValidator {
  const model = readModel();
  const rulesFile = config.rulesFile ?? projectFile('rules/rules.yaml');
  const userRules = loadUserRules(rulesFile, new Set(model.resourceTypes));
  return createProfileValidator({ ...profileOptions(config.validation), model, userRules });
}
