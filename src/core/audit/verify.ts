/**
 * Verification of the whole audit trail (FHIR AuditEvent records, https://hl7.org/fhir/R4/auditevent.html):
 * the anchor chain, every writer chain, and each against the other (src/core/audit/trail.ts for the design).
 *
 * Checked, per chain:
 * - the hash chain itself ({@link verifyAuditChain}): a deleted record (gap), an edited record (its hash), an
 *   edited and re-hashed record (the next record's link), records swapped or renamed (sequence vs position);
 * - every record names this chain as its writer (a record moved in from another chain fails);
 * - every anchor of the chain: the chain holds at least `count` records and record `count` has the anchored hash
 *   (truncation after an anchor, or a rewritten chain, fails); counts never go down from one anchor to the next;
 *   a chain anchored as closed has no record after its closing count;
 * - every record's `anchor` exists in the anchor chain and covers this writer below the record's sequence (the
 *   anchor chain cut short, or a record sealed under a forged anchor, fails);
 * - a chain named by an anchor but with no record at all fails (a deleted chain).
 * The anchor chain is verified as a hash chain like any other. The records after a chain's last anchor (the
 * window) are reported as `unanchored`: their truncation is not detectable here; its size is bounded by the writer
 * (see trail.ts) and, in AWS, deletion is prevented by the bucket's object lock.
 */
import { chainLinkOf, GENESIS_HASH, readChainRecords, verifyAuditChain, type ChainLink } from './chain';
import { ANCHORS_PREFIX, chainPrefix, listWriters, sequenceStore, type AuditStore } from './store';
import { ANCHOR_KIND, type AnchoredChain } from './trail';

/** Verification of one writer chain. */
export interface ChainReport {
  writer: string;
  ok: boolean;
  /** Records stored. */
  records: number;
  /** The highest anchored count (0: not anchored yet). */
  anchoredCount: number;
  /** Anchors naming this chain. */
  anchors: number;
  /** Closed cleanly (by an anchor with `closed`). */
  closed: boolean;
  /** Records after the last anchor: the window (0 when closed). */
  unanchored: number;
  /** What is wrong, first problem first (no record content). */
  problems: string[];
}

/** Verification of the whole trail. */
export interface TrailReport {
  ok: boolean;
  /** Audit records in every chain (anchors not included). */
  records: number;
  anchorChain: { ok: boolean; count: number; problem?: string; lastHash?: string };
  chains: ChainReport[];
  /** The pre-anchor global chain of earlier versions, when one is stored (`{sequence}.json` at the root). */
  legacy?: { ok: boolean; count: number; problem?: string };
}

type Parsed = { link?: ChainLink; raw: unknown };

function parsed(records: unknown[]): Parsed[] {
  return records.map((raw) => ({ raw, link: typeof raw === 'string' ? undefined : chainLinkOf(raw) }));
}

function anchoredChainsOf(anchor: unknown): AnchoredChain[] | undefined {
  const a = anchor as { kind?: unknown; chains?: unknown };
  if (!a || a.kind !== ANCHOR_KIND || !Array.isArray(a.chains)) return undefined;
  const ok = a.chains.every(
    (c: AnchoredChain) =>
      c && typeof c.writer === 'string' && Number.isSafeInteger(c.count) && c.count >= 1 && typeof c.head === 'string' && (c.closed === undefined || c.closed === true),
  );
  return ok ? (a.chains as AnchoredChain[]) : undefined;
}

/** One chain against its anchors. `bySeq` holds the anchors read (valid prefix of the anchor chain). */
function checkChain(
  writer: string,
  records: unknown[],
  mine: { anchorSeq: number; entry: AnchoredChain }[],
  anchorsBySeq: Map<number, AnchoredChain[]>,
  anchorCount: number,
): ChainReport {
  const problems: string[] = [];
  const v = verifyAuditChain(records);
  if (!v.ok) problems.push(`record ${v.firstBadSequence}: ${v.reason}`);
  const recs = parsed(records);
  const bySeq = new Map<number, Parsed>();
  for (const r of recs) if (r.link && !bySeq.has(r.link.sequence)) bySeq.set(r.link.sequence, r);
  for (const r of recs) {
    if (!r.link) continue;
    const n = r.link.sequence;
    if (r.link.writer !== writer) problems.push(`record ${n} belongs to writer ${r.link.writer ?? '(none)'}, not this chain (moved)`);
    const k = r.link.anchor;
    if (k === undefined) continue;
    if (k > anchorCount) {
      problems.push(`record ${n} was sealed after anchor ${k}, but the anchor chain ends at ${anchorCount} (anchor chain truncated)`);
      continue;
    }
    const covered = anchorsBySeq.get(k)?.find((c) => c.writer === writer);
    if (anchorsBySeq.has(k) && (!covered || covered.count >= n)) problems.push(`record ${n} refers to anchor ${k}, which does not anchor this chain before it`);
  }
  let previous = 0;
  let closedAt: number | undefined;
  for (const { anchorSeq, entry } of mine) {
    if (entry.count < previous) problems.push(`anchor ${anchorSeq} counts ${entry.count} records after an earlier anchor counted ${previous} (reordered)`);
    if (closedAt !== undefined && entry.count > closedAt) problems.push(`anchor ${anchorSeq} anchors records after the chain was closed at ${closedAt}`);
    previous = Math.max(previous, entry.count);
    if (entry.closed) closedAt = entry.count;
    const at = bySeq.get(entry.count);
    if (!at) {
      const have = recs.length;
      problems.push(
        have === 0
          ? `chain missing: anchor ${anchorSeq} counts ${entry.count} record(s), none stored (deleted)`
          : `record ${entry.count} missing: anchor ${anchorSeq} counts ${entry.count} record(s), the chain has ${have} (truncated)`,
      );
    } else if (at.link!.hash !== entry.head) {
      problems.push(`record ${entry.count} does not match the head hash in anchor ${anchorSeq} (rewritten)`);
    }
  }
  const stored = recs.reduce((m, r) => Math.max(m, r.link?.sequence ?? 0), 0);
  if (closedAt !== undefined && stored > closedAt) problems.push(`record ${closedAt + 1} follows the chain's clean close at ${closedAt}`);
  const unique = [...new Set(problems)];
  return {
    writer,
    ok: unique.length === 0,
    records: recs.length,
    anchoredCount: previous,
    anchors: mine.length,
    closed: closedAt !== undefined,
    unanchored: closedAt !== undefined ? 0 : Math.max(0, stored - previous),
    problems: unique,
  };
}

/**
 * Verifies the trail in `store`: the anchor chain, every writer chain, and the legacy global chain if present.
 * Works while writers append: the anchors are read first (their counts checked), the chains next, then anchors
 * written meanwhile (only to resolve records' anchor references).
 */
export async function verifyAuditTrail(store: AuditStore): Promise<TrailReport> {
  const anchorStore = sequenceStore(store, ANCHORS_PREFIX);
  const first = await readChainRecords(anchorStore);
  const writers = await listWriters(store);
  const chainRecords = new Map<string, unknown[]>();
  for (const w of writers) chainRecords.set(w, await readChainRecords(sequenceStore(store, chainPrefix(w))));
  const anchorRecords = [...first, ...(await readChainRecords(anchorStore, first.length))];

  const av = verifyAuditChain(anchorRecords);
  // the valid prefix of the anchor chain is used to check the writer chains
  const validAnchors = av.ok ? anchorRecords.length : (av.firstBadSequence ?? 1) - 1;
  let anchorProblem = av.ok ? undefined : `anchor ${av.firstBadSequence}: ${av.reason}`;
  const anchorsBySeq = new Map<number, AnchoredChain[]>();
  const perWriter = new Map<string, { anchorSeq: number; entry: AnchoredChain }[]>();
  for (let i = 0; i < validAnchors; i++) {
    const chains = anchoredChainsOf(anchorRecords[i]);
    if (!chains) {
      anchorProblem ??= `anchor ${i + 1}: not an anchor record`;
      break;
    }
    anchorsBySeq.set(i + 1, chains);
    if (i >= first.length) continue; // read after the chains: only used for references
    for (const c of chains) perWriter.set(c.writer, [...(perWriter.get(c.writer) ?? []), { anchorSeq: i + 1, entry: c }]);
  }
  const anchorCount = anchorRecords.length;
  const names = [...new Set([...writers, ...perWriter.keys()])].sort();
  const chains = names.map((w) => checkChain(w, chainRecords.get(w) ?? [], perWriter.get(w) ?? [], anchorsBySeq, anchorCount));

  const legacyStore = sequenceStore(store, '');
  const legacyRecords = await readChainRecords(legacyStore);
  let legacy: TrailReport['legacy'];
  if (legacyRecords.length) {
    const lv = verifyAuditChain(legacyRecords, { sequence: 1, previousHash: GENESIS_HASH });
    legacy = { ok: lv.ok, count: legacyRecords.length, ...(!lv.ok && { problem: `record ${lv.firstBadSequence}: ${lv.reason}` }) };
  }
  const anchorChain = {
    ok: anchorProblem === undefined,
    count: anchorCount,
    ...(anchorProblem !== undefined && { problem: anchorProblem }),
    ...(av.lastHash !== undefined && { lastHash: av.lastHash }),
  };
  return {
    ok: anchorChain.ok && chains.every((c) => c.ok) && (legacy?.ok ?? true),
    records: chains.reduce((n, c) => n + c.records, 0) + (legacy?.count ?? 0),
    anchorChain,
    chains,
    ...(legacy && { legacy }),
  };
}

/**
 * Every audit record of the trail (all writer chains and the legacy chain), parsed, ordered by `recorded` time
 * then writer and sequence. Anchors are not included. An unparseable record is returned as its raw string.
 */
export async function readAuditRecords(store: AuditStore): Promise<unknown[]> {
  const all: { raw: unknown; recorded: string; writer: string; seq: number }[] = [];
  const add = (records: unknown[], writer: string) =>
    records.forEach((raw, i) => {
      const r = raw as { recorded?: unknown };
      all.push({ raw, recorded: typeof r?.recorded === 'string' ? r.recorded : '', writer, seq: chainLinkOf(raw)?.sequence ?? i });
    });
  add(await readChainRecords(sequenceStore(store, '')), '');
  for (const w of await listWriters(store)) add(await readChainRecords(sequenceStore(store, chainPrefix(w))), w);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  all.sort((a, b) => cmp(a.recorded, b.recorded) || cmp(a.writer, b.writer) || a.seq - b.seq);
  return all.map((r) => r.raw);
}
