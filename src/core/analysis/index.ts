/** Safe analysis: the analysis registry, approvals, the output checker, study pseudonyms and the run use case. */
export * from './errors';
export * from './spec';
export * from './ports';
export * from './disclosure';
export * from './extract';
export * from './audit';
export * from './release';
export * from './run';
export * from './roles';
