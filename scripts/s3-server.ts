/**
 * The local S3-protocol server (s3rver) as its own process, started by `npm start`.
 * It runs with `--openssl-legacy-provider` because s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which OpenSSL 3 only offers through its legacy provider (without it, listing more than 1,000 keys fails).
 * Usage: node --openssl-legacy-provider dist/scripts/s3-server.js <port> <dir> <bucket>...
 */
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import S3rver from 's3rver';

/**
 * s3rver deletes a key's folder once it is empty, and a PUT under that folder at the same moment fails in a write
 * stream with an unhandled ENOENT that ends the server: the commit protocol's outbox (`outbox/{requestId}.json`, put
 * and deleted by every write) hit it under 50 concurrent requests. Folders are kept instead (S3 has none: an empty
 * folder lists nothing), so a PUT never races a folder's removal.
 */
function keepFolders(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const FilesystemStore = require('s3rver/lib/stores/filesystem') as { prototype: Record<string, unknown> };
  FilesystemStore.prototype.deleteObject = async function deleteObject(this: { getResourcePath(b: string, k: string, t: string): string }, bucket: string, key: string) {
    await Promise.all(
      ['object', 'object.md5', 'metadata.json'].map((t) =>
        fs.unlink(this.getResourcePath(bucket, key, t)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        }),
      ),
    );
  };
}

/** S3's key order: UTF-8 bytes. */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/**
 * s3rver lists by walking folders in name order, which is not key order when a folder's name is a prefix of a
 * sibling's followed by a character below `/` (`source=e2e-race/…` walks before `source=e2e-race-warmup/…`, whose
 * keys sort first). Its pages then restart after the last key by key order, so a listing of more than 1,000 keys
 * repeated some keys and skipped others (measured: a repeated lake object in the e2e suite; a skipped one would be an
 * outbox record recovery never sees, or an event `etl-replay` never sends). This walk visits each folder's entries
 * in the order of the keys they stand for (a folder as `name/`), so the walk is in key order and pages are exact.
 */
function keyOrderListing(): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const FilesystemStore = require('s3rver/lib/stores/filesystem') as { prototype: Record<string, unknown> };
  const S3Object = require('s3rver/lib/models/object') as new (bucket: string, key: string, content: null, metadata: unknown) => unknown;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const SUFFIX = '._S3rver_object';
  type Store = { getBucketPath(b: string): string; getMetadata(b: string, k: string): Promise<unknown> };
  type Options = { delimiter?: string; startAfter?: string; prefix?: string; maxKeys?: number };
  FilesystemStore.prototype.listObjects = async function listObjects(this: Store, bucket: string, options: Options) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
    const keys: string[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    // keys under `dir` (whose keys start with `base`), in key order; folders wholly before startAfter or outside
    // the prefix are not entered
    const walk = function* (dir: string, base: string): Generator<string> {
      let names: string[];
      try {
        names = fsSync.readdirSync(dir);
      } catch {
        return;
      }
      const entries: { sortKey: string; name: string; folder: boolean }[] = [];
      for (const name of names) {
        if (name.endsWith(SUFFIX)) entries.push({ sortKey: base + name.slice(0, -SUFFIX.length), name, folder: false });
        else if (!name.includes('._S3rver_')) entries.push({ sortKey: `${base}${name}/`, name, folder: true });
      }
      entries.sort((a, b) => byteOrder(a.sortKey, b.sortKey));
      for (const e of entries) {
        if (!e.folder) {
          yield e.sortKey;
          continue;
        }
        if (!(e.sortKey.startsWith(prefix) || prefix.startsWith(e.sortKey))) continue;
        if (byteOrder(e.sortKey, startAfter) < 0 && !startAfter.startsWith(e.sortKey)) continue;
        const p = `${dir}/${e.name}`;
        if (fsSync.statSync(p, { throwIfNoEntry: false })?.isDirectory()) yield* walk(p, e.sortKey);
      }
    };
    for (const key of walk(this.getBucketPath(bucket), '')) {
      if (!key.startsWith(prefix) || byteOrder(key, startAfter) <= 0) continue;
      if (delimiter) {
        const idx = key.slice(prefix.length).indexOf(delimiter);
        if (idx !== -1) {
          commonPrefixes.add(key.slice(0, prefix.length + idx + delimiter.length));
          continue;
        }
      }
      if (keys.length >= maxKeys) {
        isTruncated = true;
        break;
      }
      keys.push(key);
    }
    const metadata = await Promise.all(
      keys.map((key) =>
        this.getMetadata(bucket, key).catch((err: NodeJS.ErrnoException) => {
          if (err.code === 'ENOENT') return undefined;
          throw err;
        }),
      ),
    );
    return {
      objects: keys.flatMap((key, i) => (metadata[i] === undefined ? [] : [new S3Object(bucket, key, null, metadata[i])])),
      commonPrefixes: [...commonPrefixes].sort(byteOrder),
      isTruncated,
    };
  };
}

async function main(): Promise<void> {
  const [port, directory, ...buckets] = process.argv.slice(2);
  keepFolders();
  keyOrderListing();
  const server = new S3rver({
    port: Number(port),
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name, configs: [] })),
  });
  await server.run();
  process.send?.('ready');
  const stop = (): void => {
    server.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
}

main().catch((err) => {
  console.error('s3-server:', err instanceof Error ? err.message : err);
  process.exit(1);
});
