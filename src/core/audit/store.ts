/**
 * Key layout of the audit trail (FHIR AuditEvent records, https://hl7.org/fhir/R4/auditevent.html) over one
 * key/value store with atomic create-if-absent ({@link AuditStore}):
 *
 * - `requests/{sha256(key)}.json`: the claim of an idempotent append (`{ writer, sequence }`: the one place the
 *   record of that key is, or will be, written; src/core/audit/trail.ts);
 * - `chains/{writer}/{sequence:12}.json`: the records of one writer's hash chain (src/core/audit/trail.ts);
 * - `anchors/{sequence:12}.json`: the anchor chain, a shared hash chain of anchors, each recording the head
 *   (count and hash) of one or more writer chains;
 * - `{sequence:12}.json` at the root: the legacy single global chain of earlier versions (verified, never written).
 *
 * Implementations: `FileAuditStore` (src/adapters/local/audit-log.ts: files, `link(2)` create) and
 * `S3AuditStore` (src/adapters/aws/s3-audit-log.ts: `PutObject` with `If-None-Match: *`); one contract suite
 * (test/contract/audit-store.contract.test.ts) keeps them interchangeable.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseSequenceName, sequenceName, type SequenceStore } from './chain';

/** Key/value storage of the audit trail. Keys are relative, `/`-separated. */
export interface AuditStore {
  /** Where the records live (for messages). */
  readonly name: string;
  /**
   * Atomically writes `body` at `key` if and only if nothing is stored there. Resolves `true` when written,
   * `false` when the key was already taken. Readers never see a partially written object.
   */
  create(key: string, body: string): Promise<boolean>;
  /** The stored body at `key`, or `undefined`. */
  read(key: string): Promise<string | undefined>;
  /** Whether `key` exists. */
  exists(key: string): Promise<boolean>;
  /** Every key starting with `prefix`, in any order. */
  list(prefix: string): Promise<string[]>;
}

/** Prefix of the writer chains. */
export const CHAINS_PREFIX = 'chains/';
/** Prefix of the anchor chain. */
export const ANCHORS_PREFIX = 'anchors/';
/** Prefix of the claims of idempotent appends. */
export const REQUESTS_PREFIX = 'requests/';

/** Key of the claim of an idempotent append (the key hashed: any string, a fixed-length key). */
export function claimKey(key: string): string {
  return `${REQUESTS_PREFIX}${createHash('sha256').update(key, 'utf8').digest('hex')}.json`;
}

/** Key of record `sequence` of `writer`'s chain. */
export function recordKey(writer: string, sequence: number): string {
  return `${chainPrefix(writer)}${sequenceName(sequence)}.json`;
}

/** A writer id: letters, digits and `-`, up to 48 characters (it goes into record ids and keys). */
export const WRITER_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,47}$/;

/** Key prefix of a writer's chain. */
export function chainPrefix(writer: string): string {
  if (!WRITER_ID.test(writer)) throw new RangeError(`invalid audit writer id: ${writer}`);
  return `${CHAINS_PREFIX}${writer}/`;
}

/**
 * A fresh writer id, chosen at cold start: creation time (base 36 ms, so ids sort by age), an optional label
 * (e.g. the function name, letters and digits only, up to 16) and 48 random bits.
 */
export function newWriterId(label?: string, now: number = Date.now()): string {
  const l = (label ?? '').replace(/[^A-Za-z0-9]/g, '').slice(0, 16);
  return [now.toString(36), l, randomBytes(6).toString('hex')].filter(Boolean).join('-');
}

/** The chain under `prefix` of `store`, keyed by sequence (`{prefix}{sequence:12}.json`). */
export function sequenceStore(store: AuditStore, prefix: string): SequenceStore {
  const key = (seq: number) => `${prefix}${sequenceName(seq)}.json`;
  return {
    name: `${store.name}${store.name.endsWith('/') ? '' : '/'}${prefix}`,
    create: (seq, body) => store.create(key(seq), body),
    read: (seq) => store.read(key(seq)),
    exists: (seq) => store.exists(key(seq)),
    async sequences() {
      return (await store.list(prefix))
        .map((k) => k.slice(prefix.length))
        .filter((rest) => !rest.includes('/'))
        .map(parseSequenceName)
        .filter((n): n is number => n !== undefined)
        .sort((a, b) => a - b);
    },
  };
}

/** The writer ids that have at least one stored object under `chains/`, sorted. */
export async function listWriters(store: AuditStore): Promise<string[]> {
  const writers = new Set<string>();
  for (const k of await store.list(CHAINS_PREFIX)) {
    const w = k.slice(CHAINS_PREFIX.length).split('/')[0];
    if (w && WRITER_ID.test(w)) writers.add(w);
  }
  return [...writers].sort();
}
