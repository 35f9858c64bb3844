import { makeA } from './__lint_planted_type_cycle_a_4358';
export interface B { a: ReturnType<typeof makeA> }
