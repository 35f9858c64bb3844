/**
 * What leaves: the checked output as CSV (RFC 4180) and JSON, and the release record that says what was
 * released, under which approval, by whom, when, and what the checker did to it.
 */
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../ports';
import type { Redaction, RuleApplied } from './disclosure';
import type { ReleaseFile, ReleaseSink, ResultTable } from './ports';
import type { DateHandling, DisclosurePolicy, OutputKind } from './spec';
import { sha256Hex } from './spec';

/** The release record (`<id>.release.json`), also summarised in the audit trail. */
export interface ReleaseRecord {
  releaseId: string;
  analysis: string;
  purpose: string;
  study: string;
  output: OutputKind;
  sqlSha256: string;
  specSha256: string;
  approvedBy: string;
  approvedAt: string;
  /** Who ran it. */
  releasedBy: string;
  releasedAt: string;
  rows: number;
  columns: string[];
  /** Aggregate outputs: the disclosure policy and the rules as applied. */
  policy?: DisclosurePolicy;
  rules: (RuleApplied | { rule: string; description: string; cells: number })[];
  cellsRedacted: number;
  redactions: Redaction[];
  /** Row-level extracts: what was dropped, replaced and shifted. */
  rowLevel?: {
    droppedColumns: string[];
    pseudonymisedColumns: string[];
    rekeyedColumns: string[];
    dates: DateHandling;
    lakeIdentifiersChecked: number;
  };
  /** The released files and their SHA-256 (the record itself is not listed). */
  files: { name: string; sha256: string }[];
}

function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The table as CSV (RFC 4180: a header line, CRLF line ends, fields quoted when needed; null is empty). */
export function toCsv(t: ResultTable): string {
  const lines = [t.columns.map(csvField).join(','), ...t.rows.map((r) => t.columns.map((c) => csvField(r[c])).join(','))];
  return lines.join('\r\n') + '\r\n';
}

/** The release id: `<analysis>-<UTC time, compact, to the millisecond>-<4 random hex digits>`, e.g. `covid19-20250101T120000123Z-1a2b`. */
export function releaseIdOf(analysis: string, at: Date): string {
  return `${analysis}-${at.toISOString().replace(/[-:.]/g, '')}-${randomBytes(2).toString('hex')}`;
}

/** The files of a release: `<id>.csv`, `<id>.json` and `<id>.release.json` (whose `files` are filled in here). */
export function releaseFiles(record: Omit<ReleaseRecord, 'files'>, table: ResultTable): { files: ReleaseFile[]; record: ReleaseRecord } {
  const csv = toCsv(table);
  const json = JSON.stringify({ analysis: record.analysis, releaseId: record.releaseId, columns: table.columns, rows: table.rows }, null, 2) + '\n';
  const data: ReleaseFile[] = [
    { name: `${record.analysis}.csv`, body: csv, contentType: 'text/csv; charset=utf-8' },
    { name: `${record.analysis}.json`, body: json, contentType: 'application/json' },
  ];
  const full: ReleaseRecord = { ...record, files: data.map((f) => ({ name: f.name, sha256: sha256Hex(f.body) })) };
  return { files: [...data, { name: `${record.analysis}.release.json`, body: JSON.stringify(full, null, 2) + '\n', contentType: 'application/json' }], record: full };
}

/** A {@link ReleaseSink} writing under a key prefix of an object store (e.g. `releases/<id>/<release>/` in AWS). */
export class StoreReleaseSink implements ReleaseSink {
  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
  ) {}

  async write(files: ReleaseFile[]): Promise<string[]> {
    const out: string[] = [];
    for (const f of files) {
      const key = `${this.prefix.replace(/\/?$/, '/')}${f.name}`;
      await this.store.put(key, f.body, { contentType: f.contentType });
      out.push(`${this.store.name}/${key}`);
    }
    return out;
  }
}
