/**
 * The console's one way into the audit trail: {@link auditReaderOver} reads every record of an {@link AuditStore}
 * (local files or S3; all writer chains, in `recorded` order) and verifies the trail (writer chains against the
 * anchor chain) with the audit module's own functions (src/core/audit/verify.ts). If the trail's layout changes,
 * only this file changes: the ops use cases see `AuditEntry[]` and an {@link AuditVerification}.
 */
import { readAuditRecords, verifyAuditTrail, type AuditStore } from '../audit';
import type { AuditEntry } from '../ports';
import type { AuditReader, AuditVerification } from './service';

/** An {@link AuditReader} over the audit store. */
export function auditReaderOver(store: AuditStore): AuditReader {
  return {
    records: async () => (await readAuditRecords(store)).filter((r): r is AuditEntry => typeof r === 'object' && r !== null),
    verify: async (): Promise<AuditVerification> => {
      const r = await verifyAuditTrail(store);
      const problems = [
        ...(r.anchorChain.problem ? [`anchor chain: ${r.anchorChain.problem}`] : []),
        ...r.chains.flatMap((c) => c.problems.map((p) => `writer ${c.writer}: ${p}`)),
        ...(r.legacy?.problem ? [`legacy chain: ${r.legacy.problem}`] : []),
      ];
      return {
        ok: r.ok,
        records: r.records,
        chains: r.chains.length,
        anchors: r.anchorChain.count,
        unanchored: r.chains.reduce((s, c) => s + c.unanchored, 0),
        ...(r.anchorChain.lastHash ? { lastAnchorHash: r.anchorChain.lastHash } : {}),
        problems: problems.slice(0, 20),
      };
    },
  };
}
