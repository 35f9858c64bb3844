/**
 * Ports of the safe-analysis use cases (src/core/analysis/run.ts). Implementations: the local registry files
 * under `analyses/` and DuckDB over the marts (src/adapters/local); in AWS the marts are read through Athena, in
 * the workgroup of the analysis's study (src/adapters/aws/athena-mart-query.ts).
 */
import type { AnalysisSpec, StudySpec } from './spec';

/** A query result: column names in order, rows as JSON values keyed by column. */
export interface ResultTable {
  columns: string[];
  rows: Record<string, unknown>[];
}

/** On whose behalf a query runs: the study of the analysis (in AWS, the study's Athena workgroup runs it). */
export interface MartQueryScope {
  study: string;
}

/** Runs one SQL statement over the marts (the current-version views `patient`, `condition`, …). */
export interface MartQuery {
  run(sql: string, scope: MartQueryScope): Promise<ResultTable>;
}

/** One registered analysis as stored: its SQL, its parsed metadata, and the raw metadata the approval hashes. */
export interface RegisteredAnalysis {
  sql: string;
  spec: AnalysisSpec;
  raw: Record<string, unknown>;
}

/** The analysis registry (files under `analyses/`). */
export interface AnalysisRegistry {
  /** The analysis, or `undefined` when there is none. Throws AnalysisRefused (`spec-invalid`) for bad metadata. */
  get(id: string): Promise<RegisteredAnalysis | undefined>;
  /** The study registry. */
  studies(): Promise<Map<string, StudySpec>>;
  /** Writes approval fields into the analysis's metadata, keeping everything else as it is. */
  recordApproval(id: string, fields: Record<string, string>): Promise<void>;
}

/** One released file. */
export interface ReleaseFile {
  name: string;
  body: string;
  contentType: string;
}

/** Where released files go (a folder locally; a releases prefix in AWS). Returns where each file went. */
export interface ReleaseSink {
  write(files: ReleaseFile[]): Promise<string[]>;
}
