/**
 * Preloaded (`node --require`) into the serverless-offline process that `npm start` runs, and, since worker
 * threads inherit the `--require` of their process, into each of its handler worker threads.
 *
 * 1. The memory fix. serverless-offline 13 runs each Lambda handler in a worker thread (WorkerThreadRunner). For
 *    every invocation it creates a MessageChannel, keeps `port1` (with a 'message' listener whose closure holds
 *    the invocation's `event`, request body included) and sends `port2` to the worker, which answers on it and
 *    never closes it. A MessagePort stays alive until one side closes it, so every request body stayed in the
 *    main thread's heap for the life of the worker: about 3 MB per Synthea Bundle, 271 MB → 6.7 GB in 5 minutes
 *    under load. Here, in the worker, the reply port is closed once the handler's answer is posted; both ends
 *    are then released with everything they reference (messages already posted are still delivered).
 * 2. Supervision. When `npm start` goes away without stopping it (its IPC channel disconnects), this process
 *    stops too, instead of living on as an orphan holding the ports.
 */
import { isMainThread, MessagePort, parentPort, workerData } from 'node:worker_threads';

type Listener = (message: unknown) => unknown;

/** Is this the worker thread of a serverless-offline handler (WorkerThreadRunner's workerData)? */
function isOfflineHandlerWorker(data: unknown): boolean {
  return typeof data === 'object' && data !== null && 'functionKey' in data && 'handler' in data && 'servicePath' in data;
}

/**
 * Wraps the worker's 'message' listeners: after the listener (serverless-offline's `workerThreadHelper`, which
 * posts the handler's answer on `message.port`) settles, `message.port` is closed.
 */
export function closeReplyPorts(port: Pick<MessagePort, 'on'>): void {
  const on = port.on.bind(port) as (event: string, listener: Listener) => unknown;
  (port as { on: unknown }).on = (event: string, listener: Listener) => {
    if (event !== 'message') return on(event, listener);
    return on(event, (message: unknown) => {
      const reply = typeof message === 'object' && message !== null ? (message as { port?: unknown }).port : undefined;
      const close = (): void => {
        if (reply instanceof MessagePort) reply.close();
      };
      let result: unknown;
      try {
        result = listener(message);
      } catch (err) {
        close();
        throw err;
      }
      Promise.resolve(result).then(close, close);
    });
  };
}

if (!isMainThread && parentPort && isOfflineHandlerWorker(workerData)) closeReplyPorts(parentPort);

if (isMainThread && process.send) {
  process.channel?.unref();
  process.once('disconnect', () => {
    process.kill(process.pid, 'SIGINT');
    setTimeout(() => process.exit(1), 3000).unref();
  });
}
