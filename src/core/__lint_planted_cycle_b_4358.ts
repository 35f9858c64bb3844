import { a } from './__lint_planted_cycle_a_4358';
export const b = (): number => a() - 1;
