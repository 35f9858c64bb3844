/** The local import launcher (src/adapters/local/import-launcher.ts): a detached runner with the runner's V8 flags. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ProcessImportLauncher, RUNNER_NODE_FLAGS } from '../../src/adapters/local/import-launcher';

test('the runner is started with the job id and the runner flags, its output in the job log', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'import-launcher-'));
  try {
    // a stand-in runner that reports how it was started (the real one needs a stack)
    const runner = path.join(dir, 'runner.js');
    fs.writeFileSync(runner, "console.log(JSON.stringify({ argv: process.argv.slice(2), execArgv: process.execArgv }));\n");
    await new ProcessImportLauncher(runner, path.join(dir, 'logs')).launch('job-1');
    const log = path.join(dir, 'logs', 'import-job-1.log');
    for (let i = 0; i < 200 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('\n')); i++) await new Promise((r) => setTimeout(r, 25));
    const started = JSON.parse(fs.readFileSync(log, 'utf8').trim()) as { argv: string[]; execArgv: string[] };
    expect(started.argv).toEqual(['job-1']);
    expect(RUNNER_NODE_FLAGS).toContain('--single-threaded');
    expect(started.execArgv).toEqual([...RUNNER_NODE_FLAGS]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
