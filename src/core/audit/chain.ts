/**
 * Hash chains of audit records over a minimal sequence-keyed storage interface ({@link SequenceStore}).
 * FHIR AuditEvent (https://hl7.org/fhir/R4/auditevent.html) records, sealed into chains.
 *
 * Each record carries one extension ({@link AUDIT_CHAIN_EXTENSION}) holding:
 * - `sequence` (valueUnsignedInt): 1, 2, 3, ... with no gaps within its chain;
 * - `previousHash` (valueString): the `hash` of record `sequence - 1` ({@link GENESIS_HASH} for record 1);
 * - `writer` (valueString, per-writer chains only): the id of the chain the record belongs to;
 * - `anchor` (valueUnsignedInt, per-writer chains only): the anchor (src/core/audit/trail.ts) that last covered
 *   this writer's chain when the record was sealed, so a truncated anchor chain is detectable from the records;
 * - `hash` (valueString): lowercase hex SHA-256 of the record's canonical JSON (RFC 8785 style: sorted keys,
 *   no whitespace) *without* the `hash` sub-extension, i.e. covering every other field.
 *
 * Changing any field of record n breaks its own hash (detected at n). Re-hashing an edited record breaks the
 * `previousHash` of record n+1 (detected at n+1). Deleting record n leaves a gap (detected at n). Removing
 * records from the *end* of a chain is detected by the anchors (src/core/audit/verify.ts).
 *
 * Two ways to append:
 * - per-writer chains (src/core/audit/trail.ts): one writer owns its chain, no contention, the production path;
 * - a shared chain ({@link createChainedAuditLog}): many writers, record n written with the store's atomic
 *   create-if-absent; whoever loses the race reads the winner's record and tries n+1. Used for the anchor chain
 *   (a few writes per writer per minute), and kept as the baseline the bench compares against (it was the
 *   original global audit chain: one conditional write per request for the whole API).
 */
import { createHash } from 'node:crypto';
import { ServerFault } from '../../fhir/errors';
import type { AuditEntry } from '../ports';
import { TRIBUTARY_FHIR_BASE } from './event';

/** URL of the chain extension. */
export const AUDIT_CHAIN_EXTENSION = `${TRIBUTARY_FHIR_BASE}/StructureDefinition/audit-chain`;
/** `previousHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
/** Digits in a sequence's object name. */
export const SEQUENCE_DIGITS = 12;

/**
 * Sequence-keyed storage for one chain (a view of an `AuditStore` under a prefix: `sequenceStore` in
 * src/core/audit/store.ts).
 */
export interface SequenceStore {
  /** Where the records live (for messages). */
  readonly name: string;
  /**
   * Atomically writes `body` as record `sequence` if and only if no record with that sequence exists.
   * Resolves `true` when written, `false` when the sequence was already taken. Readers must never see a
   * partially written record.
   */
  create(sequence: number, body: string): Promise<boolean>;
  /** The stored body of record `sequence`, or `undefined`. */
  read(sequence: number): Promise<string | undefined>;
  /** All stored sequences, ascending. */
  sequences(): Promise<number[]>;
  /** Whether record `sequence` exists (default: `read` !== undefined). */
  exists?(sequence: number): Promise<boolean>;
  /** The highest stored sequence, when the store can tell cheaply (default: exponential probing). */
  lastSequence?(): Promise<number | undefined>;
}

/** The chain fields of one record. */
export interface ChainLink {
  sequence: number;
  previousHash: string;
  hash: string;
  /** The writer chain the record belongs to (per-writer chains). */
  writer?: string;
  /** The anchor that last covered the writer's chain when the record was sealed. */
  anchor?: number;
}

/** Result of {@link verifyAuditChain}. */
export interface AuditChainVerification {
  ok: boolean;
  /** Records examined. */
  count: number;
  /** Sequence of the first record that is missing, altered or mislinked. */
  firstBadSequence?: number;
  /** Why (no record content, only what is wrong). */
  reason?: string;
  /** Sequence and hash of the last good record (an anchor to publish elsewhere). */
  lastSequence?: number;
  lastHash?: string;
}

/** An append could not be completed (store failure, corrupt predecessor, or too much contention). A server fault: logs only. */
export class AuditAppendError extends ServerFault {
  override readonly name = 'AuditAppendError';
}

/** Object name of a sequence: zero-padded so lexical order is numeric order. */
export function sequenceName(sequence: number): string {
  return String(sequence).padStart(SEQUENCE_DIGITS, '0');
}

/** Parses an object name made by {@link sequenceName} (`000000000042.json` → 42), or `undefined`. */
export function parseSequenceName(name: string): number | undefined {
  const m = new RegExp(`^(\\d{${SEQUENCE_DIGITS}})\\.json$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Canonical JSON (RFC 8785 JCS for the JSON we write: objects with keys sorted by UTF-16 code units, no
 * whitespace, numbers and strings as ECMAScript `JSON.stringify` writes them). `undefined` members are dropped.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    const s = JSON.stringify(value);
    if (s === undefined) throw new TypeError(`canonicalJson: cannot serialise ${typeof value}`);
    return s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`;
}

type Ext = { url: string; extension?: Ext[]; valueUnsignedInt?: number; valueString?: string };

function chainExtensionOf(record: Record<string, unknown>): Ext | undefined {
  const exts = record.extension;
  if (!Array.isArray(exts)) return undefined;
  const found = exts.filter((e: Ext) => e && e.url === AUDIT_CHAIN_EXTENSION);
  return found.length === 1 ? (found[0] as Ext) : undefined;
}

/** The chain fields of a record, or `undefined` if it has none (or they are malformed). */
export function chainLinkOf(record: unknown): ChainLink | undefined {
  if (!record || typeof record !== 'object') return undefined;
  const ext = chainExtensionOf(record as Record<string, unknown>);
  const subs = ext?.extension;
  if (!Array.isArray(subs)) return undefined;
  const sub = (url: string) => subs.filter((e) => e?.url === url);
  const [seq, prev, hash] = [sub('sequence'), sub('previousHash'), sub('hash')];
  if (seq.length !== 1 || prev.length !== 1 || hash.length !== 1) return undefined;
  const sequence = seq[0].valueUnsignedInt;
  const previousHash = prev[0].valueString;
  const h = hash[0].valueString;
  if (!Number.isSafeInteger(sequence) || (sequence as number) < 1) return undefined;
  if (typeof previousHash !== 'string' || typeof h !== 'string') return undefined;
  const [writer, anchor] = [sub('writer'), sub('anchor')];
  if (writer.length > 1 || anchor.length > 1) return undefined;
  const link: ChainLink = { sequence: sequence as number, previousHash, hash: h };
  if (writer.length === 1) {
    if (typeof writer[0].valueString !== 'string') return undefined;
    link.writer = writer[0].valueString;
  }
  if (anchor.length === 1) {
    if (!Number.isSafeInteger(anchor[0].valueUnsignedInt) || (anchor[0].valueUnsignedInt as number) < 1) return undefined;
    link.anchor = anchor[0].valueUnsignedInt;
  }
  return link;
}

/** SHA-256 (hex) of a record's canonical JSON without the chain's `hash` sub-extension. */
export function computeRecordHash(record: unknown): string {
  const copy = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
  const ext = chainExtensionOf(copy);
  if (ext?.extension) ext.extension = ext.extension.filter((e) => e?.url !== 'hash');
  return createHash('sha256').update(canonicalJson(copy), 'utf8').digest('hex');
}

/** Where a sealed record sits: its writer chain and the anchor last known to cover it. */
export interface SealOptions {
  writer?: string;
  anchor?: number;
}

/**
 * Seals an audit entry as record `sequence` chained to `previousHash`: sets `id` (the padded sequence, prefixed
 * by the writer id in a writer chain), appends the chain extension and computes the record's hash. The entry
 * itself is not modified.
 */
export function sealAuditRecord<T extends object = AuditEntry>(
  entry: T,
  sequence: number,
  previousHash: string,
  at: SealOptions = {},
): T & { id: string } {
  const base = JSON.parse(JSON.stringify(entry)) as Record<string, unknown>;
  const own = Array.isArray(base.extension) ? (base.extension as Ext[]).filter((e) => e?.url !== AUDIT_CHAIN_EXTENSION) : [];
  const chain: Ext = {
    url: AUDIT_CHAIN_EXTENSION,
    extension: [
      { url: 'sequence', valueUnsignedInt: sequence },
      { url: 'previousHash', valueString: previousHash },
      ...(at.writer !== undefined ? [{ url: 'writer', valueString: at.writer }] : []),
      ...(at.anchor !== undefined ? [{ url: 'anchor', valueUnsignedInt: at.anchor }] : []),
    ],
  };
  const id = at.writer !== undefined ? `${at.writer}.${sequenceName(sequence)}` : sequenceName(sequence);
  const record = { ...base, id, extension: [...own, chain] } as unknown as T & { id: string };
  const hash = computeRecordHash(record);
  chain.extension!.push({ url: 'hash', valueString: hash });
  return record;
}

/**
 * Verifies records given in storage order. By default the chain must start at sequence 1 with
 * {@link GENESIS_HASH}; pass `start` to verify a tail from a known anchor.
 */
export function verifyAuditChain(
  records: readonly unknown[],
  start: { sequence: number; previousHash: string } = { sequence: 1, previousHash: GENESIS_HASH },
): AuditChainVerification {
  let expected = start.sequence;
  let previousHash = start.previousHash;
  let last: { sequence: number; hash: string } | undefined;
  const bad = (count: number, firstBadSequence: number, reason: string): AuditChainVerification => ({
    ok: false,
    count,
    firstBadSequence,
    reason,
    ...(last && { lastSequence: last.sequence, lastHash: last.hash }),
  });
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    if (typeof record === 'string') return bad(i + 1, expected, `record ${expected} is not valid JSON`);
    const link = chainLinkOf(record);
    if (!link) return bad(i + 1, expected, `record ${expected} has no valid chain extension`);
    if (link.sequence > expected) return bad(i + 1, expected, `record ${expected} is missing`);
    if (link.sequence < expected) return bad(i + 1, link.sequence, `record ${link.sequence} is duplicated or out of order`);
    if (computeRecordHash(record) !== link.hash) return bad(i + 1, link.sequence, `record ${link.sequence} does not match its hash (altered)`);
    if (link.previousHash !== previousHash) {
      return bad(i + 1, link.sequence, `record ${link.sequence} does not link to record ${link.sequence - 1}`);
    }
    last = { sequence: link.sequence, hash: link.hash };
    previousHash = link.hash;
    expected++;
  }
  return { ok: true, count: records.length, ...(last && { lastSequence: last.sequence, lastHash: last.hash }) };
}

/**
 * Reads every record of one chain in sequence order, parsed (an unparseable record is returned as its raw
 * string, which {@link verifyAuditChain} reports). `after`: only sequences above it.
 */
export async function readChainRecords(store: SequenceStore, after = 0): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const seq of (await store.sequences()).filter((n) => n > after)) {
    const body = await store.read(seq);
    if (body === undefined) continue; // vanished between list and read: shows up as a gap
    try {
      out.push(JSON.parse(body));
    } catch {
      out.push(body);
    }
  }
  return out;
}

/** Options for {@link createChainedAuditLog}. */
export interface ChainedAuditLogOptions {
  /** Give up after this many lost races for one append. Default 1000. */
  maxAttempts?: number;
}

/** Appender of a shared chain; also reports the chain head it last saw. */
export interface ChainedAuditLog<T extends object = AuditEntry> {
  /** Appends `entry` (sealed into the chain). */
  append(entry: T): Promise<void>;
  /** Appends `entry` and resolves to the sealed record (sequence and hash included). */
  appendRecord(entry: T): Promise<T & { id: string }>;
  /** Last head this instance wrote or saw (undefined before the first append). */
  head(): { sequence: number; hash: string } | undefined;
}

/**
 * A shared hash chain over a {@link SequenceStore}: safe with any number of concurrent writers in any number of
 * processes sharing the store (create-if-absent at the head); appends from one instance are also serialised
 * in-process to avoid pointless races. Every append is one conditional write at the one head: do not put it on
 * a per-request path (see src/core/audit/trail.ts).
 */
export function createChainedAuditLog<T extends object = AuditEntry>(
  store: SequenceStore,
  opts: ChainedAuditLogOptions = {},
): ChainedAuditLog<T> {
  const maxAttempts = opts.maxAttempts ?? 1000;
  let cached: { sequence: number; hash: string } | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const exists = (seq: number) => (store.exists ? store.exists(seq) : store.read(seq).then((b) => b !== undefined));

  /** Largest existing sequence ≥ `known` (which exists), by exponential then binary search. */
  async function lastFrom(known: number): Promise<number> {
    let lo = known;
    let step = 1;
    while (await exists(lo + step)) {
      lo += step;
      step *= 2;
    }
    let hi = lo + step; // does not exist
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (await exists(mid)) lo = mid;
      else hi = mid;
    }
    return lo;
  }

  async function headAt(seq: number): Promise<{ sequence: number; hash: string } | undefined> {
    const body = await store.read(seq);
    if (body === undefined) return undefined;
    let link: ChainLink | undefined;
    try {
      link = chainLinkOf(JSON.parse(body));
    } catch {
      link = undefined;
    }
    if (!link || link.sequence !== seq) throw new AuditAppendError(`audit record ${seq} in ${store.name} is corrupt; run audit-verify`);
    return { sequence: seq, hash: link.hash };
  }

  async function findHead(after?: number): Promise<{ sequence: number; hash: string } | undefined> {
    let last: number | undefined;
    if (after !== undefined && (await exists(after))) last = await lastFrom(after);
    else if (store.lastSequence) last = await store.lastSequence();
    else last = (await exists(1)) ? await lastFrom(1) : undefined;
    return last === undefined ? undefined : headAt(last);
  }

  async function appendNow(entry: T): Promise<T & { id: string }> {
    let head = cached ?? (await findHead());
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      const sequence = (head?.sequence ?? 0) + 1;
      const record = sealAuditRecord(entry, sequence, head?.hash ?? GENESIS_HASH);
      if (await store.create(sequence, JSON.stringify(record) + '\n')) {
        cached = { sequence, hash: chainLinkOf(record)!.hash };
        return record;
      }
      // Lost the race for `sequence`: move to the newest record (usually `sequence` itself) and retry.
      head = (await findHead(sequence)) ?? head;
    }
    throw new AuditAppendError(`audit append gave up after ${maxAttempts} attempts on ${store.name}`);
  }

  function appendRecord(entry: T): Promise<T & { id: string }> {
    const p = queue.then(() => appendNow(entry));
    queue = p.catch(() => undefined);
    return p;
  }

  return {
    appendRecord,
    async append(entry) {
      await appendRecord(entry);
    },
    head: () => cached,
  };
}
