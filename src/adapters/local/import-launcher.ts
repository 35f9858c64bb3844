/**
 * The local {@link ImportLauncher}: starts the job's runner as a detached Node process (`scripts/import-runner`), so
 * the job outlives the API request that started it and a second terminal's `npm start` keeps serving. The runner's
 * output goes to `DATA_DIR/logs/import-{jobId}.log`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ImportLauncher } from '../../core/import';

/** Launches `node {runner} {jobId}` detached. */
export class ProcessImportLauncher implements ImportLauncher {
  constructor(
    private readonly runner: string,
    private readonly logDir: string,
  ) {}

  async launch(jobId: string): Promise<void> {
    fs.mkdirSync(this.logDir, { recursive: true });
    const log = fs.openSync(path.join(this.logDir, `import-${jobId}.log`), 'a');
    try {
      const child = spawn(process.execPath, [this.runner, jobId], { detached: true, stdio: ['ignore', log, log] });
      child.unref();
    } finally {
      fs.closeSync(log);
    }
  }
}
