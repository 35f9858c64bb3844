/**
 * Bulk import (`$import`, https://hl7.org/fhir/R4/async.html): NDJSON and Bundle files through the REST write path.
 * - `./lines`: the lines of an NDJSON chunk into a batch Bundle, refused lines as OperationOutcomes;
 * - `./chunk`: one chunk through the Ingestor, once per deterministic request id;
 * - `./run`: a job's files streamed into chunks, resumable;
 * - `./job`: the job API (kick-off, status, manifest).
 */
export { importChunk, chunkRequestId, findCommit, lineOfError, type ChunkDeps, type ChunkTask } from './chunk';
export { readChunkLines, importError, IMPORT_INPUT_EXTENSION } from './lines';
export { planChunks, chunkTask, type ChunkItem } from './plan';
export { finishJob, runImportJob, errorOutputKey, progressOf, DEFAULT_CHUNK_LINES, DEFAULT_CHUNK_BYTES, lineIds, workerHeapMb, ImportCutError, type RunDeps } from './run';
export { startImport, importStatus, renewHeartbeat, resumeIfStale, STALE_RUNNER_MS, importManifest, progressText, readImportParameters, type ImportLauncher, type ImportCaller, type ImportStatus, type StartDeps } from './job';
