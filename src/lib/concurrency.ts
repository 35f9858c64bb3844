/**
 * Bounded concurrency for I/O fan-out (lake puts and copies, identity records, ETL files): a Lambda holds a
 * few sockets per host, and an S3-protocol server answers faster with a handful of requests in flight than
 * with one at a time or with hundreds.
 */

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, keeping the order of the results.
 * Rejects with the first error (calls already started run to their end).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}
