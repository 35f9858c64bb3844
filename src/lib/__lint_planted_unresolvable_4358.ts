// @ts-expect-error planted: the module does not exist
import { nothing } from './__lint_planted_missing';
export const planted = nothing;
