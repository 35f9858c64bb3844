/**
 * Counts the sequential round trips of a write's critical path: every port call is traced; a call's depth is one
 * more than the deepest call that had completed when it started (calls started together share a depth); the
 * critical path is the deepest call. Each traced call yields to the event loop before it completes, so calls a
 * step starts together are all in flight before any of them ends. Plain JS objects in, so it also measures an
 * older build of the write path (docs/commit-protocol.md, "Round trips").
 */
export class RoundTrips {
  private frontier = 0;
  depth = 0;
  calls = 0;
  readonly byPort: Record<string, number> = {};

  /** Wraps every method of `target`. */
  wrap<T extends object>(port: string, target: T): T {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const v = Reflect.get(t, prop, receiver);
        if (typeof v !== 'function' || prop === 'constructor') return v;
        return async (...args: unknown[]) => {
          const d = this.frontier + 1;
          this.calls++;
          this.byPort[port] = (this.byPort[port] ?? 0) + 1;
          try {
            const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
            await new Promise((res) => setImmediate(res));
            return r;
          } finally {
            this.frontier = Math.max(this.frontier, d);
            this.depth = Math.max(this.depth, d);
          }
        };
      },
    });
  }
}
