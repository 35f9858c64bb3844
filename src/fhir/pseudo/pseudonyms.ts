/**
 * Pseudonyms and hashed ids: the keyed hashing behind every value the engine derives from a source value.
 * People's pseudonyms (the linkage key of the whole lake) are MACed by the {@link KeyService} itself; resource
 * ids, identifiers and other strings are HMACed in process with a key derived once from it
 * ({@link ID_HASH_KEY_LABEL}). Output forms: RFC 4648 base32 (lower case, no padding) and RFC 9562 UUIDs.
 */
import { createHmac } from 'node:crypto';
import type { KeyService } from './keys';
import type { PolicyParameters } from './policy';

/** Label MACed once to derive the local id-hashing key (see {@link KeyedHasher.init}). */
export const ID_HASH_KEY_LABEL = 'tributary:v1:id-hash-key';
/** Namespace of every pseudonym MAC input; the kind (`nhs:`, `id:`, `src:`) follows, so kinds cannot collide. */
export const PSEUDONYM_NAMESPACE = 'tributary:v1:pseudonym:';

/**
 * Entries each generation of the hash memo holds (two generations: at most twice this many). Small enough that a
 * long bulk import's workers stay flat (each entry is about 200 bytes with its key, and a larger live heap makes V8
 * let the heap grow further: at 25,000 the 10× import's peak RSS was 1.20-1.28 times the 1×'s, at 8,000 1.17-1.19,
 * and faster), large enough to hold the ids a chunk of 1,000 resources and its neighbours repeat (patients,
 * encounters, practitioners).
 */
export const HASH_CACHE_GENERATION = 8_000;

/** Values longer than this are hashed every time, never memoised (the memo's bytes stay bounded by the count). */
export const MEMO_MAX_VALUE_LENGTH = 128;

const B32 = Buffer.from('abcdefghijklmnopqrstuvwxyz234567', 'latin1');
/**
 * RFC 4648 base32, lower case, no padding. Built in a buffer: a string grown by `+=` is a rope of one node per
 * character, which a memo would keep whole (about 1 KB per 32-character hash).
 */
export function base32(buf: Uint8Array): string {
  const out = Buffer.allocUnsafe(Math.ceil((buf.length * 8) / 5));
  let o = 0;
  let bits = 0;
  let value = 0;
  for (let i = 0; i < buf.length; i++) {
    value = ((value << 8) | buf[i]!) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out[o++] = B32[(value >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
  }
  if (bits > 0) out[o++] = B32[(value << (5 - bits)) & 31]!;
  return out.toString('latin1', 0, o);
}

/** RFC 9562 version-8 UUID formatted from hash bytes. */
function uuidFrom(h: Buffer): string {
  const b = Buffer.from(h.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * Keyed hashes of one engine (one key, one policy's prefixes), memoised across requests: a warm Lambda hashes
 * each distinct id once.
 */
export class KeyedHasher {
  private idKey: Buffer | undefined;
  private idKeyPromise: Promise<Buffer> | undefined;
  /** The memo's current and previous generation, each keyed by namespace then value (see {@link cached}). */
  private hashCache = new Map<string, Map<string, string>>();
  private previousCache = new Map<string, Map<string, string>>();
  private hashCacheSize = 0;

  /**
   * @param keys the key port; `mac` is called for the id-hashing key and for each person's pseudonym.
   * @param params the policy's prefixes (`hashPrefix`, `pseudonymPrefix`).
   */
  constructor(
    private readonly keys: KeyService,
    private readonly params: PolicyParameters,
  ) {}

  /**
   * Derives (once) the local key used to hash ids. Hashing every resource id, reference and identifier
   * through KMS would cost thousands of calls per request, so one KMS GenerateMac over a fixed label
   * ({@link ID_HASH_KEY_LABEL}) yields a 256-bit key that node:crypto HMAC then uses in process. The derived key
   * never leaves memory and changes whenever the KMS key does. Pseudonyms of people, the linkage key of the
   * whole lake, are MACed by the KeyService itself.
   */
  async init(): Promise<void> {
    if (this.idKey) return;
    this.idKeyPromise ??= this.keys.mac(ID_HASH_KEY_LABEL).then((hex) => Buffer.from(hex, 'hex'));
    this.idKey = await this.idKeyPromise;
  }

  private hmac(input: string): Buffer {
    return createHmac('sha256', this.idKey!).update(input).digest();
  }

  /**
   * Memoised keyed hashes: a short namespace (kind, source, type) then the value itself as the key, so a
   * lookup hashes the (already hashed) id string rather than a freshly concatenated one. Two generations of at most
   * {@link HASH_CACHE_GENERATION} entries of at most {@link MEMO_MAX_VALUE_LENGTH} characters: when the current one is full it becomes the previous one (the one before
   * is dropped), and a hit in the previous one moves back into the current one, so what recurs stays and memory is
   * bounded whatever the input size.
   */
  private cached(ns: string, value: string, make: () => string): string {
    // a long value (free text, an opaque reference) rarely recurs, and would make the memo's size its length's
    if (value.length > MEMO_MAX_VALUE_LENGTH) return make();
    let m = this.hashCache.get(ns);
    let v = m?.get(value);
    if (v !== undefined) return v;
    v = this.previousCache.get(ns)?.get(value) ?? make();
    if (++this.hashCacheSize > HASH_CACHE_GENERATION) {
      this.previousCache = this.hashCache;
      this.hashCache = new Map();
      this.hashCacheSize = 1;
      m = undefined;
    }
    if (m === undefined) {
      m = new Map();
      this.hashCache.set(ns, m);
    }
    m.set(value, v);
    return v;
  }

  /** Entries in the memo now (both generations), for tests of its bound. */
  memoSize(): number {
    let n = 0;
    for (const c of [this.hashCache, this.previousCache]) for (const m of c.values()) n += m.size;
    return n;
  }

  /** Keyed hash of a source's resource id: same source + type + id → same lake id; other sources differ. */
  hashId(source: string, type: string, id: string): string {
    return this.cached(`i\u0000${source}\u0000${type}`, id, () => this.params.hashPrefix + base32(this.hmac(`i\u0000${source}\u0000${type}/${id}`).subarray(0, 20)));
  }

  /** Keyed hash of an identifier value; namespaced by its system (or by source when it has none). */
  hashIdentifier(source: string, system: string | undefined, value: string): string {
    const ns = system ? `s\u0000${system}` : `s\u0000\u0000${source}`;
    return this.cached(ns, value, () => this.params.hashPrefix + base32(this.hmac(`${ns}|${value}`).subarray(0, 20)));
  }

  /** Keyed hash of any other string (opaque references, hashed strings), namespaced by source. */
  hashString(source: string, value: string): string {
    return this.cached(`x\u0000${source}`, value, () => this.params.hashPrefix + base32(this.hmac(`x\u0000${source}\u0000${value}`).subarray(0, 20)));
  }

  /** A UUID derived from a string (for urn:uuid values), namespaced by source. */
  uuidFor(source: string, value: string): string {
    return this.cached(`u\u0000${source}`, value, () => uuidFrom(this.hmac(`u\u0000${source}\u0000${value}`)));
  }

  /** The pseudonym for a MAC input (`nhs:9434765919`, `id:system|value`, `src:source|Patient/id`). */
  async pseudonymOf(input: string): Promise<string> {
    const hex = await this.keys.mac(PSEUDONYM_NAMESPACE + input);
    return this.params.pseudonymPrefix + base32(Buffer.from(hex, 'hex').subarray(0, 20));
  }
}

/**
 * `Patient.identifier.system` of the source-local patient key a lake Patient carries
 * (https://hl7.org/fhir/R4/patient-definitions.html#Patient.identifier): the pseudonym MACed from
 * `src:{source}|Patient/{id}`, which is also what a reference to `Patient/{id}` gets when that Patient has not
 * arrived yet. The marts' `patient_link` view maps it to the person's pseudonym (the Patient's lake id), so a
 * resource sent before its Patient is linked to the same person once the Patient arrives (docs/pseudonymisation.md).
 */
export const SOURCE_PATIENT_KEY_SYSTEM = 'https://tributary.nhs.example/fhir/sid/source-patient-key';

/** MAC input of the source-local key of `Patient/{id}` from `source` (the `src:` kind). */
export function sourcePatientInput(source: string, id: string): string {
  return `src:${source}|Patient/${id}`;
}

/**
 * Adds the source-local patient key to a pseudonymised Patient (in place), replacing any identifier of that
 * system a source may have sent.
 */
export function addSourcePatientKey(patient: Record<string, unknown>, key: string): void {
  const ids = Array.isArray(patient.identifier) ? (patient.identifier as { system?: unknown }[]).filter((i) => i?.system !== SOURCE_PATIENT_KEY_SYSTEM) : [];
  ids.push({ system: SOURCE_PATIENT_KEY_SYSTEM, value: key } as { system: string });
  patient.identifier = ids;
}
