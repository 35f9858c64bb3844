/**
 * Types the validation shares with the rest of Tributary: the validation levels, the validator options a
 * deployment may choose, and the shape of the one function the ingest calls per resource. The configuration
 * (`src/config.ts`) and the core (`src/core/ingest.ts`) re-export them from here.
 */
import type { OperationOutcomeIssue, Resource } from 'fhir/r4';

/**
 * Validation levels (after AWS HealthLake; https://hl7.org/fhir/R4/validation.html): `strict` (everything, the
 * default), `structure-only` (structure, cardinality, types, formats; no bindings, invariants or rules), `minimal`
 * (a JSON object with a known resourceType).
 */
export type ValidationLevel = 'strict' | 'structure-only' | 'minimal';

/** The validation levels, `strict` first. */
export const VALIDATION_LEVELS: readonly ValidationLevel[] = ['strict', 'structure-only', 'minimal'];

/**
 * Validator options a deployment may choose, each the counterpart of a setting of the HL7 reference validator:
 * - `exampleUrls` (`VALIDATION_EXAMPLE_URLS`): `allow` (default) or `error` for example.org/example.com/acme.com
 *   URLs in uri/url/canonical values (`-allow-example-urls false`; the test manifest's `examples: false`);
 * - `htmlInMarkdown` (`VALIDATION_HTML_IN_MARKDOWN`): `allow` (default) or `error` for HTML tags in markdown
 *   (`HtmlInMarkdownCheck.ERROR`; the manifest's `noHtmlInMarkdown`);
 * - `contained` (`VALIDATION_CONTAINED`): `validate` (default) or `ignore` (contained resources only need a known
 *   resourceType; the manifest's `validateContains: IGNORE`);
 * - `references` (`VALIDATION_REFERENCES`): `none` (default) or `local` (relative references inside a Parameters
 *   resource must resolve to a resource in it; the manifest's `validateReference: CHECK_EXISTS`).
 */
export interface ValidationOptionsConfig {
  exampleUrls: 'allow' | 'error';
  htmlInMarkdown: 'allow' | 'error';
  contained: 'validate' | 'ignore';
  references: 'none' | 'local';
}

/** Validates one resource; returns issues with expressions rooted at `root` (e.g. `Bundle.entry[2].resource`). */
export type ResourceValidator = (resource: Resource, root: string, level?: string) => OperationOutcomeIssue[];
