/**
 * A bulk import worker thread (locally, one per core; see scripts/import-runner.ts): builds the API's application
 * once, then imports each chunk it is sent through the same write path as REST ({@link importChunk}) and posts
 * the chunk's record back. Thin: the core does the work.
 */
import { parentPort } from 'node:worker_threads';
import { chunkDeps, getApp } from '../bootstrap';
import { loadConfig } from '../config';
import { importChunk, type ChunkTask } from '../core/import';

const port = parentPort;
if (port) {
  const config = loadConfig();
  // a worker's index keeps more bucket files open than the API's (IMPORT_INDEX_OPEN_FILES)
  const deps = chunkDeps(getApp({ ...config, indexOpenFiles: config.bulkImport.indexOpenFiles }));
  port.on('message', (m: { id: number; task: ChunkTask }) => {
    importChunk(deps, m.task).then(
      (result) => port.postMessage({ id: m.id, result }),
      (err: unknown) => port.postMessage({ id: m.id, error: { name: (err as Error)?.name ?? 'Error', message: String((err as Error)?.message ?? err).slice(0, 300) } }),
    );
  });
}
