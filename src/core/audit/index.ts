/**
 * The audit trail: AuditEvent construction, hash chains, per-writer chains with anchors (the `AuditLog` port's
 * implementation over an {@link AuditStore}), and verification.
 */
export * from './event';
export * from './chain';
export * from './store';
export * from './trail';
export * from './verify';
