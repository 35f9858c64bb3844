/**
 * An {@link ObjectStore} that writes through to another store (s3rver locally) AND keeps a plain-file copy of the
 * keys under some prefixes in a local folder (`{root}/{key}`), so that DuckDB can read the local marts as
 * ordinary Parquet files (DuckDB's httpfs extension, which would read S3, cannot be installed offline).
 *
 * The copy is written atomically (temp file + rename), so a query never sees half a file; s3rver, by contrast,
 * writes objects in place. Reads, heads and listings go to the inner store, which stays the source of truth;
 * deletes and copies are mirrored too. Local runtime only: in AWS the marts store is the S3 adapter alone and
 * Athena reads S3 directly.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ObjectHead, ObjectMetadata, ObjectStore } from '../../core/ports';
import { MARTS_PREFIX } from '../../core/lake-layout';

/** Thrown for a key that would escape the mirror folder. */
export class MirrorKeyError extends Error {
  override readonly name = 'MirrorKeyError';
  constructor(readonly key: string) {
    super(`key cannot be mirrored: ${key}`);
  }
}

/** Write-through store with a local file mirror of some prefixes. */
export class MirroredObjectStore implements ObjectStore {
  /**
   * @param inner - the real store (its name is this store's name).
   * @param root - folder of the copies: key `k` is mirrored at `{root}/{k}`.
   * @param prefixes - key prefixes to mirror (default `marts/`).
   */
  constructor(
    private readonly inner: ObjectStore,
    readonly root: string,
    private readonly prefixes: readonly string[] = [MARTS_PREFIX],
  ) {}

  get name(): string {
    return this.inner.name;
  }

  /** Local path of a mirrored key, or undefined when the key is not mirrored. */
  localPath(key: string): string | undefined {
    if (!this.prefixes.some((p) => key.startsWith(p))) return undefined;
    if (key.split('/').some((s) => s === '..' || s === '.' || s === '') || path.isAbsolute(key)) throw new MirrorKeyError(key);
    return path.join(this.root, ...key.split('/'));
  }

  private async writeLocal(key: string, body: Uint8Array | string): Promise<void> {
    const file = this.localPath(key);
    if (!file) return;
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
    await fs.writeFile(tmp, body);
    await fs.rename(tmp, file);
  }

  async put(key: string, body: Uint8Array | string, opts?: { contentType?: string; metadata?: ObjectMetadata; checksumSha256?: string }): Promise<void> {
    await this.inner.put(key, body, opts);
    await this.writeLocal(key, body);
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(key);
  }

  head(key: string): Promise<ObjectHead | undefined> {
    return this.inner.head(key);
  }

  list(prefix: string, startAfter?: string): Promise<string[]> {
    return this.inner.list(prefix, startAfter);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    await this.inner.copy(fromKey, toKey);
    if (this.localPath(toKey)) {
      const body = await this.inner.get(toKey);
      if (body) await this.writeLocal(toKey, body);
    }
  }

  async delete(keys: string[]): Promise<void> {
    await this.inner.delete(keys);
    for (const k of keys) {
      const file = this.localPath(k);
      if (file) await fs.rm(file, { force: true });
    }
  }
}
