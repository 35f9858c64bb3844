/**
 * Who may do what with analyses (docs/safe-analysis.md, "Roles"):
 * - analysts run approved analyses (`npm run analyse`, or `POST /ops/analyses/{id}/run` with a token granting
 *   {@link ANALYST_SCOPE}); they never see the marts' rows or the lake pseudonyms;
 * - operators keep raw `npm run query` over the marts, and may also run approved analyses ({@link OPERATOR_SCOPE});
 * - approvers (a data guardian or output checker, not the analyst who asked) record approvals with
 *   `npm run analysis:approve`, which needs write access to the registry, not to the data.
 * These scopes are not SMART resource scopes: they are read from the token's raw `scope` string.
 */

/** Scope granting runs of approved analyses. */
export const ANALYST_SCOPE = 'tributary/analysis.run';
/** Scope of operators (raw marts access elsewhere; may also run approved analyses). */
export const OPERATOR_SCOPE = 'tributary/operator';

/** True when a space-delimited scope string allows running approved analyses. */
export function canRunAnalyses(scope: string | undefined): boolean {
  const granted = (scope ?? '').split(/\s+/);
  return granted.includes(ANALYST_SCOPE) || granted.includes(OPERATOR_SCOPE);
}
