/**
 * The console's one way into the audit trail: {@link auditReaderOver} reads the records of an {@link AuditStore}
 * (local files or S3) in sequence order and verifies the chain with the audit module's own verifier. Records are
 * immutable once written, so each is parsed once per process. If the trail's layout changes (e.g. one chain per
 * writer), only this file changes: the ops use cases see `AuditEntry[]` and a verification result.
 */
import { verifyAuditChain, type AuditStore } from '../audit/chain';
import type { AuditEntry } from '../ports';
import type { AuditReader } from './service';

/** An {@link AuditReader} over one chained store. */
export function auditReaderOver(store: AuditStore): AuditReader {
  const cache = new Map<number, unknown>();
  const all = async (): Promise<unknown[]> => {
    const out: unknown[] = [];
    for (const seq of await store.sequences()) {
      if (!cache.has(seq)) {
        const body = await store.read(seq);
        if (body === undefined) continue;
        try {
          cache.set(seq, JSON.parse(body));
        } catch {
          cache.set(seq, body);
        }
      }
      out.push(cache.get(seq));
    }
    return out;
  };
  return {
    records: async () => (await all()).filter((r): r is AuditEntry => typeof r === 'object' && r !== null),
    verify: async () => {
      cache.clear(); // a verification reads what is stored now, not what this process saw before
      return verifyAuditChain(await all());
    },
  };
}
