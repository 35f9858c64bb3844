/**
 * Refusals of the safe-analysis path. Every refusal names the rule that refused, so the analyst, the audit
 * record and the output checker all speak of the same thing (docs/safe-analysis.md lists the rules).
 */
import { ClientError } from '../../fhir/errors';
import { forbidden, notFound, processingError } from '../../fhir/outcomes';

/**
 * The rules a run can be refused by:
 * - `analysis-unknown`: no such analysis in the registry;
 * - `spec-invalid`: its metadata is malformed;
 * - `approval-missing`: never approved;
 * - `approval-sql-changed`: the SQL changed since it was approved (SHA-256 mismatch);
 * - `approval-spec-changed`: the metadata (output kind, columns, date handling) changed since it was approved;
 * - `approval-four-eyes`: the approver is the analyst who asked for the analysis;
 * - `study-unknown`: the study is not in the study registry;
 * - `threshold-floor` / `rounding-floor`: a study asks for less protection than the deployment's minimum;
 * - `select-only`: the SQL is not exactly one SELECT (or WITH … SELECT) statement;
 * - `aggregate-shape`: an aggregate output is not grouped counts or statistics with their counts;
 * - `undeclared-identifier`: a row-level extract has an id column whose handling the approval does not say;
 * - `date-shift-needs-person`: dates are to be shifted per person, but the extract has no person column;
 * - `lake-identifier`: a lake pseudonym or lake id would leave (found by the scan of the output).
 */
export type RefusalRule =
  | 'analysis-unknown'
  | 'spec-invalid'
  | 'approval-missing'
  | 'approval-sql-changed'
  | 'approval-spec-changed'
  | 'approval-four-eyes'
  | 'study-unknown'
  | 'threshold-floor'
  | 'rounding-floor'
  | 'select-only'
  | 'aggregate-shape'
  | 'undeclared-identifier'
  | 'date-shift-needs-person'
  | 'lake-identifier';

const APPROVAL_RULES: ReadonlySet<RefusalRule> = new Set(['approval-missing', 'approval-sql-changed', 'approval-spec-changed', 'approval-four-eyes']);

/**
 * A run (or an approval) refused by a rule. Approval rules answer 403, an unknown analysis 404, every other rule
 * 422; the diagnostics start with `refused by rule <rule>`.
 */
export class AnalysisRefused extends ClientError {
  override readonly name = 'AnalysisRefused';
  constructor(
    readonly rule: RefusalRule,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    const text = `refused by rule ${rule}: ${detail}`;
    super(rule === 'analysis-unknown' ? notFound(text) : APPROVAL_RULES.has(rule) ? forbidden(text) : processingError(text), options);
  }
}
