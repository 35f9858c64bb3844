/**
 * A pool of worker threads (https://nodejs.org/api/worker_threads.html), one per core by default: each runs one
 * script that answers `{ id, task }` messages with `{ id, result }` or `{ id, error }`. Tasks queue when every worker
 * is busy; a worker that dies fails its task and is replaced.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** Worker threads running `script`. */
export class WorkerPool<T, R> {
  private readonly idle: Worker[] = [];
  private readonly queue: { id: number; task: T; p: Pending }[] = [];
  private readonly busy = new Map<Worker, { id: number; p: Pending }>();
  private next = 0;
  private closed = false;

  constructor(
    private readonly script: string,
    readonly size = Math.max(1, os.availableParallelism()),
    /** Heap limits of each worker (https://nodejs.org/api/worker_threads.html#new-workerfilename-options). */
    private readonly resourceLimits?: { maxOldGenerationSizeMb?: number },
  ) {
    for (let i = 0; i < size; i++) this.idle.push(this.spawn());
  }

  private spawn(): Worker {
    const w = new Worker(this.script, this.resourceLimits ? { resourceLimits: this.resourceLimits } : undefined);
    w.on('message', (m: { id: number; result?: R; error?: { name: string; message: string } }) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      if (job) {
        if (m.error) job.p.reject(Object.assign(new Error(m.error.message), { name: m.error.name }));
        else job.p.resolve(m.result);
      }
      this.idle.push(w);
      this.pump();
    });
    w.on('error', (err) => {
      const job = this.busy.get(w);
      this.busy.delete(w);
      job?.p.reject(err);
      if (!this.closed) {
        this.idle.push(this.spawn());
        this.pump();
      }
    });
    return w;
  }

  private pump(): void {
    while (this.idle.length > 0 && this.queue.length > 0) {
      const w = this.idle.pop()!;
      const q = this.queue.shift()!;
      this.busy.set(w, { id: q.id, p: q.p });
      w.postMessage({ id: q.id, task: q.task });
    }
  }

  /** Runs `task` on a free worker. */
  run(task: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ id: this.next++, task, p: { resolve: resolve as (v: unknown) => void, reject } });
      this.pump();
    });
  }

  /** Stops every worker. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.idle, ...this.busy.keys()].map((w) => w.terminate()));
  }
}
