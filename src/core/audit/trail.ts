/**
 * The audit trail without a global lock: per-writer hash chains anchored into a shared anchor chain.
 * Records are FHIR AuditEvents (https://hl7.org/fhir/R4/auditevent.html) sealed by src/core/audit/chain.ts.
 *
 * - A **writer** is one chain owned by one appender: an id chosen at cold start ({@link newWriterId}: time +
 *   random + label), records at `chains/{writer}/{sequence}.json`, each written with create-if-absent. Nobody else
 *   writes under that prefix, so a write never contends: one PUT per record, whatever the number of containers.
 *   An {@link AuditTrail} keeps a small pool of writers so that concurrent appends in one process (several
 *   requests in flight in serverless-offline, or the bench's in-process writers) each get a chain of their own
 *   instead of queueing; a Lambda container, one request at a time, uses one.
 * - An **anchor** records the head (`count` = last sequence, `head` = its hash) of the writer chains of one trail
 *   that grew since their last anchor, as the next record of the shared anchor chain (`anchors/{sequence}.json`,
 *   create-if-absent at its head; see `createChainedAuditLog`). A writer anchors after its first record (so every
 *   chain is known to the index from its first record), then every `anchorEvery` records or after `anchorAfterMs`
 *   (checked on append, and on an idle timer in long-running processes), and on {@link AuditTrail.close} with
 *   `closed: true`. Records carry the number of the last anchor that covered their chain, so records and anchors
 *   vouch for each other: cutting the end off a chain contradicts an anchor, cutting the end off the anchor chain
 *   contradicts a later record.
 * - The **window**: records after a chain's last anchor. It is at most `anchorEvery` records (`maxUnanchored` if
 *   anchor writes fail: past that, appends fail closed) and, while requests keep coming, `anchorAfterMs`.
 *   `npm run audit:verify` reports it per chain (src/core/audit/verify.ts).
 * - **Exactly one record per key** (`append(entry, { key })`, the request id of a committed request, appended by the
 *   commit's roll-forward and again by recovery after a crash): before its record, the writer creates the claim
 *   `requests/{sha256(key)}.json` = `{ writer, sequence }` (create-if-absent), naming the one place the key's
 *   record may be. An append that finds the claim taken writes nothing if that record exists; if it does not (the
 *   claimant died, or its write failed, between claim and record) it writes the record at that very place, on the
 *   claimant's behalf, chained to the claimant's previous record (create-if-absent: the claimant, if still alive,
 *   then finds its place taken and stops using that chain). A chain's place is only ever claimed by its owner and
 *   written for that claim, so there can be no second record, and the chain stays gap-free and verifiable.
 */
import type { AuditAppendOptions, AuditEntry, AuditLog } from '../ports';
import { AuditAppendError, chainLinkOf, createChainedAuditLog, GENESIS_HASH, sealAuditRecord } from './chain';
import { ANCHORS_PREFIX, chainPrefix, claimKey, newWriterId, recordKey, sequenceStore, WRITER_ID, type AuditStore } from './store';

/** One writer chain's head in an anchor. */
export interface AnchoredChain {
  writer: string;
  /** Records in the chain (= the last sequence). */
  count: number;
  /** Hash of record `count`. */
  head: string;
  /** The writer was closed cleanly: no record may follow `count`. */
  closed?: true;
}

/** An anchor record (sealed into the anchor chain with the same chain extension as audit records). */
export interface AuditAnchor {
  kind: typeof ANCHOR_KIND;
  recorded: string;
  chains: AnchoredChain[];
}

/** `kind` of anchor records. */
export const ANCHOR_KIND = 'tributary-audit-anchor';

/** Options of {@link createAuditTrail}. */
export interface AuditTrailOptions {
  /** Put into writer ids (e.g. `api`, `authorizer`, `cli`). */
  label?: string;
  /** Anchor a chain after this many unanchored records. Default 100. */
  anchorEvery?: number;
  /** Anchor a chain whose last anchor is older than this (ms), checked on append. Default 10 000. */
  anchorAfterMs?: number;
  /** Refuse to append while a chain has this many unanchored records and anchoring fails. Default 4 × anchorEvery. */
  maxUnanchored?: number;
  /** Writers (chains) used concurrently by this trail (created only when all are busy). Default 64. */
  maxWriters?: number;
  /** Long-running processes: also anchor pending records `anchorAfterMs` after the last append (unref'd timer). */
  idleAnchor?: boolean;
  /** Time source (ms). */
  now?: () => number;
  /** Writer id factory (tests). */
  writerId?: () => string;
}

/** A writer chain as the trail sees it. */
export interface WriterState {
  id: string;
  count: number;
  head: string;
  anchoredCount: number;
  /** Sequence of the last anchor that covered this chain. */
  anchorSeq?: number;
  /** Retired after a failed write (no further appends go to it). */
  retired: boolean;
}

/** The `AuditLog` port plus what per-writer chains need. */
export interface AuditTrail extends AuditLog {
  /** Appends and resolves to the sealed record (with `opts.key`: the key's one record, possibly written before). */
  appendRecord(entry: AuditEntry, opts?: AuditAppendOptions): Promise<AuditEntry & { id: string }>;
  /** Anchors every chain with unanchored records (nothing to do: no write). */
  flush(): Promise<void>;
  /** Waits for appends in flight, then anchors every chain as closed. Later appends fail. */
  close(): Promise<void>;
  /** The writers' state (copies). */
  writers(): WriterState[];
}

interface Writer extends WriterState {
  anchoredAt: number;
  busy: boolean;
}

/**
 * Builds the audit trail over an {@link AuditStore}. Keeps the `AuditLog` port's `append(entry)`; adds
 * `flush()` and `close()` for clean shutdowns.
 */
export function createAuditTrail(store: AuditStore, opts: AuditTrailOptions = {}): AuditTrail {
  const anchorEvery = Math.max(1, opts.anchorEvery ?? 100);
  const anchorAfterMs = opts.anchorAfterMs ?? 10_000;
  const maxUnanchored = Math.max(anchorEvery, opts.maxUnanchored ?? 4 * anchorEvery);
  const maxWriters = Math.max(1, opts.maxWriters ?? 64);
  const now = opts.now ?? Date.now;
  const makeId = opts.writerId ?? (() => newWriterId(opts.label));
  const anchors = createChainedAuditLog<AuditAnchor>(sequenceStore(store, ANCHORS_PREFIX));

  const all: Writer[] = [];
  const idle: Writer[] = [];
  const waiting: ((w: Writer) => void)[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let closed = false;
  let anchoring: Promise<unknown> = Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;

  function acquire(): Promise<Writer> {
    const w = idle.pop();
    if (w) return Promise.resolve(w);
    if (all.filter((x) => !x.retired).length < maxWriters) {
      const fresh: Writer = { id: makeId(), count: 0, head: GENESIS_HASH, anchoredCount: 0, anchoredAt: now(), busy: false, retired: false };
      chainPrefix(fresh.id); // validates the id
      all.push(fresh);
      return Promise.resolve(fresh);
    }
    return new Promise((resolve) => waiting.push(resolve));
  }

  function release(w: Writer): void {
    w.busy = false;
    if (w.retired) {
      // its slot is free: a waiter gets a fresh writer
      const next = waiting.shift();
      if (next) void acquire().then(next);
      return;
    }
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  }

  const unanchored = (w: Writer) => w.count - w.anchoredCount;
  const due = (w: Writer) => unanchored(w) > 0 && (w.anchoredCount === 0 || unanchored(w) >= anchorEvery || now() - w.anchoredAt >= anchorAfterMs);

  async function anchorNow(closing: boolean): Promise<void> {
    const chains = all.filter((w) => w.count > 0 && (w.count > w.anchoredCount || closing));
    if (!chains.length) return;
    const snap = chains.map((w) => ({ w, count: w.count, head: w.head }));
    const record = await anchors.appendRecord({
      kind: ANCHOR_KIND,
      recorded: new Date(now()).toISOString(),
      chains: snap.map((s) => ({ writer: s.w.id, count: s.count, head: s.head, ...(closing && !s.w.retired && { closed: true as const }) })),
    });
    const seq = chainLinkOf(record)!.sequence;
    for (const s of snap) {
      s.w.anchoredCount = Math.max(s.w.anchoredCount, s.count);
      s.w.anchorSeq = seq;
      s.w.anchoredAt = now();
    }
  }

  /** Anchors serialised in-process; a second request queued behind one in flight usually finds nothing left. */
  function anchor(closing = false): Promise<void> {
    const p = anchoring.then(() => anchorNow(closing));
    anchoring = p.catch(() => undefined);
    return p;
  }

  function armIdleTimer(): void {
    if (!opts.idleAnchor) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      anchor().catch(() => undefined); // retried on the next append or tick
    }, anchorAfterMs);
    timer.unref?.();
  }

  type Sealed = AuditEntry & { id: string };

  /**
   * The claim of `key` is taken: its record, written now on the claimant's behalf at the claimed place if it is
   * missing (create-if-absent there: the claimant itself, or another helper, may win; then theirs is the record).
   */
  async function resolveClaim(key: string, entry: AuditEntry): Promise<Sealed> {
    const text = await store.read(claimKey(key));
    const claim = (text ? JSON.parse(text) : undefined) as { writer?: unknown; sequence?: unknown } | undefined;
    if (!claim || typeof claim.writer !== 'string' || !WRITER_ID.test(claim.writer) || !Number.isInteger(claim.sequence) || (claim.sequence as number) < 1) {
      throw new AuditAppendError(`audit claim of a request in ${store.name} is corrupt; run audit-verify`);
    }
    const writer = claim.writer;
    const sequence = claim.sequence as number;
    const existing = await store.read(recordKey(writer, sequence));
    if (existing !== undefined) return JSON.parse(existing) as Sealed; // appended before: nothing to write
    let previousHash = GENESIS_HASH;
    let anchorSeq: number | undefined;
    if (sequence > 1) {
      const prev = await store.read(recordKey(writer, sequence - 1));
      const link = prev === undefined ? undefined : chainLinkOf(JSON.parse(prev));
      if (!link) throw new AuditAppendError(`audit record ${sequence - 1} of writer ${writer} missing or corrupt in ${store.name}`);
      previousHash = link.hash;
      anchorSeq = link.anchor; // an anchor that covered the chain below this record (what verify checks)
    }
    const record = sealAuditRecord(entry, sequence, previousHash, { writer, anchor: anchorSeq });
    if (!(await store.create(recordKey(writer, sequence), JSON.stringify(record) + '\n'))) {
      const won = await store.read(recordKey(writer, sequence));
      if (won === undefined) throw new AuditAppendError(`audit record ${sequence} of writer ${writer} unreadable in ${store.name}`);
      return JSON.parse(won) as Sealed;
    }
    // one of this trail's own (retired) writers: its state follows, so the next anchor covers the record
    const mine = all.find((w) => w.id === writer);
    if (mine && mine.count === sequence - 1) {
      mine.count = sequence;
      mine.head = chainLinkOf(record)!.hash;
    }
    return record;
  }

  async function appendNow(entry: AuditEntry, key: string | undefined): Promise<Sealed> {
    if (closed) throw new AuditAppendError('audit trail is closed');
    const w = await acquire();
    w.busy = true;
    let record: Sealed;
    try {
      // Fail closed when the window would grow past its bound: nothing is written unless the anchor lands.
      if (unanchored(w) >= maxUnanchored) await anchor();
      const sequence = w.count + 1;
      if (key !== undefined) {
        let claimed: boolean;
        try {
          claimed = await store.create(claimKey(key), JSON.stringify({ writer: w.id, sequence }) + '\n');
        } catch (err) {
          // Unknown whether the claim landed: this place may be promised to the key, so the chain ends here.
          w.retired = true;
          throw new AuditAppendError(`audit claim failed on ${store.name}`, { cause: err });
        }
        if (!claimed) return await resolveClaim(key, entry); // this writer wrote nothing: it stays as it was
      }
      record = sealAuditRecord(entry, sequence, w.head, { writer: w.id, anchor: w.anchorSeq });
      let created: boolean;
      try {
        created = await store.create(recordKey(w.id, sequence), JSON.stringify(record) + '\n');
      } catch (err) {
        // Unknown whether the record landed: this chain ends here (a record written anyway shows up as one
        // unanchored record past the chain's last anchor); the next append starts a fresh writer.
        w.retired = true;
        throw new AuditAppendError(`audit write failed on ${store.name}`, { cause: err });
      }
      if (!created) {
        w.retired = true;
        // a claimed place taken: another append of the key wrote its record on this writer's behalf
        const theirs = key !== undefined ? await store.read(recordKey(w.id, sequence)) : undefined;
        if (theirs !== undefined) {
          const sealed = JSON.parse(theirs) as Sealed;
          const link = chainLinkOf(sealed);
          if (link) [w.count, w.head] = [sequence, link.hash]; // what the chain holds (anchored with the others)
          return sealed;
        }
        throw new AuditAppendError(`audit record ${sequence} of writer ${w.id} already exists in ${store.name}`);
      }
      w.count = sequence;
      w.head = chainLinkOf(record)!.hash;
    } finally {
      release(w);
    }
    // Anchoring after the write: a failure leaves the record written and the anchor due (retried next time).
    if (due(w)) await anchor().catch(() => undefined);
    armIdleTimer();
    return record;
  }

  function appendRecord(entry: AuditEntry, opts?: AuditAppendOptions): Promise<Sealed> {
    const p = appendNow(entry, opts?.key);
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  }

  return {
    appendRecord,
    async append(entry, opts) {
      await appendRecord(entry, opts);
    },
    flush: () => anchor(),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      await Promise.allSettled([...inFlight]);
      await anchor(true);
    },
    writers: () => all.map(({ id, count, head, anchoredCount, anchorSeq, retired }) => ({ id, count, head, anchoredCount, anchorSeq, retired })),
  };
}
