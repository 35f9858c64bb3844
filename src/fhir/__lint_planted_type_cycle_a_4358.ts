import type { B } from './__lint_planted_type_cycle_b_4358';
export interface A { b?: B }
export const makeA = (): A => ({});
