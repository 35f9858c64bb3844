/**
 * The local {@link ImportLauncher}: starts the job's runner as a detached Node process (`scripts/import-runner`), so
 * the job outlives the API request that started it and a second terminal's `npm start` keeps serving. The runner's
 * output goes to `DATA_DIR/logs/import-{jobId}.log`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ImportLauncher } from '../../core/import';

/**
 * V8 flags of the runner process (its worker threads share them), measured on the 2-core bench machine with
 * `node dist/bench/import.js` on the Synthea set (docs/import.md, Measured rate):
 * - `--single-threaded`: no garbage-collection or compiler helper threads. With one import worker per core every core
 *   already runs a worker, and V8's helpers (concurrent marking, parallel scavenges, background compiles) only contend
 *   with them: 213 µs of CPU per resource against 244 without (three alternating pairs at 1×), about 13% more
 *   resources per second; at 10×, 187–189 against 208–223 µs.
 * - `--heap-growing-percent=35`: the old generation grows by 35% between full collections. Collected on the worker's
 *   own thread, V8's default growth let each worker's heap fill its cap (`IMPORT_WORKER_HEAP_MB`) on a long job: peak
 *   RSS at 10× went from 500 to 535–544 MB against about 430 at 1× (ratio 1.25, over the 1.2 of issue #15); with it,
 *   454 MB at 182 µs per resource, and the same rate as without at 1×.
 * Lambda cannot take them (NODE_OPTIONS refuses V8 flags), and one chunk per invocation does not need them.
 */
export const RUNNER_NODE_FLAGS: readonly string[] = ['--single-threaded', '--heap-growing-percent=35'];

/** Launches `node {RUNNER_NODE_FLAGS} {runner} {jobId}` detached. */
export class ProcessImportLauncher implements ImportLauncher {
  constructor(
    private readonly runner: string,
    private readonly logDir: string,
  ) {}

  async launch(jobId: string): Promise<void> {
    fs.mkdirSync(this.logDir, { recursive: true });
    const log = fs.openSync(path.join(this.logDir, `import-${jobId}.log`), 'a');
    try {
      const child = spawn(process.execPath, [...RUNNER_NODE_FLAGS, this.runner, jobId], { detached: true, stdio: ['ignore', log, log] });
      child.unref();
    } finally {
      fs.closeSync(log);
    }
  }
}
