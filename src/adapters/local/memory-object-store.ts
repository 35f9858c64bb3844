/**
 * An {@link ObjectStore} in memory: for unit tests and benchmarks that must not measure a network.
 * Same semantics as the S3 adapter: whole-object puts, lexical listing, missing object = `undefined`.
 */
import type { ObjectHead, ObjectMetadata, ObjectStore } from '../../core/ports';

interface Stored {
  body: Uint8Array;
  metadata: ObjectMetadata;
  checksumSha256?: string;
}

/** A bucket held in a Map. */
export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Stored>();

  constructor(readonly name: string) {}

  async put(
    key: string,
    body: Uint8Array | string,
    opts: { contentType?: string; metadata?: ObjectMetadata; checksumSha256?: string } = {},
  ): Promise<void> {
    const bytes = typeof body === 'string' ? new Uint8Array(Buffer.from(body, 'utf8')) : new Uint8Array(body);
    this.objects.set(key, { body: bytes, metadata: { ...opts.metadata }, checksumSha256: opts.checksumSha256 });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const o = this.objects.get(key);
    return o ? new Uint8Array(o.body) : undefined;
  }

  /** The object in slices of 64 KiB (a stream, as the S3 adapter gives one). */
  async getStream(key: string, range?: { start: number; end: number }): Promise<AsyncIterable<Uint8Array> | undefined> {
    const o = this.objects.get(key);
    if (!o) return undefined;
    const body = range ? new Uint8Array(o.body.subarray(range.start, range.end)) : new Uint8Array(o.body);
    return (async function* () {
      for (let i = 0; i < body.byteLength; i += 65536) yield body.subarray(i, i + 65536);
    })();
  }

  async head(key: string): Promise<ObjectHead | undefined> {
    const o = this.objects.get(key);
    return o ? { key, size: o.body.byteLength, metadata: { ...o.metadata }, checksumSha256: o.checksumSha256 } : undefined;
  }

  async list(prefix: string, startAfter?: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter)).sort();
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const o = this.objects.get(fromKey);
    if (!o) throw new Error(`NoSuchKey: ${fromKey}`);
    this.objects.set(toKey, { ...o, body: new Uint8Array(o.body), metadata: { ...o.metadata } });
  }

  async delete(keys: string[]): Promise<void> {
    for (const k of keys) this.objects.delete(k);
  }
}
