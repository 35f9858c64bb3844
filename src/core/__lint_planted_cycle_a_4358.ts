import { b } from './__lint_planted_cycle_b_4358';
export const a = (): number => b() + 1;
