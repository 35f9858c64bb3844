/** The audit trail: AuditEvent construction and the hash-chained log over an {@link AuditStore}. */
export * from './event';
export * from './chain';
