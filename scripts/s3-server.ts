/**
 * The local S3-protocol server (s3rver) as its own process, started by `npm start`.
 * It runs with `--openssl-legacy-provider` because s3rver encrypts ListObjectsV2 continuation tokens with DES,
 * which OpenSSL 3 only offers through its legacy provider (without it, listing more than 1,000 keys fails).
 * Usage: node --openssl-legacy-provider dist/scripts/s3-server.js <port> <dir> <bucket>...
 */
import S3rver from 's3rver';

async function main(): Promise<void> {
  const [port, directory, ...buckets] = process.argv.slice(2);
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
