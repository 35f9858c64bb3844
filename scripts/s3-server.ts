/**
 * The local S3-protocol server (s3rver) as its own process, started by `npm start`.
 * It runs with `--openssl-legacy-provider` because s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which OpenSSL 3 only offers through its legacy provider (without it, listing more than 1,000 keys fails).
 * Usage: node --openssl-legacy-provider dist/scripts/s3-server.js <port> <dir> <bucket>...
 */
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

async function main(): Promise<void> {
  const [port, directory, ...buckets] = process.argv.slice(2);
  keepFolders();
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
