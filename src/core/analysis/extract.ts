/**
 * Row-level extracts under per-study pseudonyms (the HL7 DARTS draft's per-purpose `$pseudonymize`), and the scan
 * that keeps lake identifiers from leaving in any output.
 *
 * Study keys: one HMAC key (KMS `GenerateMac` in AWS, a local key file otherwise; separate from the lake's
 * pseudonymisation key) MACs the label `tributary-study-key|<study>` once per run; the 32-byte result is that
 * study's key, held in memory only. With it:
 * - a person's study pseudonym is `sp-` + the first 128 bits (hex) of HMAC(study key, `person|<lake pseudonym>`):
 *   stable across runs of one study, different in every other study, and not the lake pseudonym, so two studies'
 *   extracts cannot be joined to each other or to the lake without the key service;
 * - any other lake id (a resource id, a reference) becomes `sr-` + HMAC(study key, `id|<lake id>`);
 * - a date shift is a per-study, per-person whole number of days in [−maxDays, −1] ∪ [1, maxDays], from
 *   HMAC(study key, `date-shift|<lake pseudonym>`): one person's intervals are kept, calendar dates are not.
 */
import { createHmac } from 'node:crypto';
import type { KeyService } from '../ports';
import { AnalysisRefused } from './errors';
import type { ResultTable } from './ports';
import type { DateHandling, RowLevelSpec } from './spec';

/** Prefix of the MAC input that derives a study's key. */
export const STUDY_KEY_LABEL = 'tributary-study-key|';

/** Person columns by naming convention (besides the declared ones). */
export const PERSON_COLUMN = /^(patient_id|subject_id|person_id|\w+_patient_id)$/i;
/** Columns that look like identifiers: their handling must be declared. */
export const ID_COLUMN = /^(id|\w+_id|\w+_key)$/i;
/** A full FHIR date or dateTime (partial dates, years and year-months, are already generalised: left as they are). */
const FULL_DATE = /^(\d{4})-(\d{2})-(\d{2})(T[0-9:.]+(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** The keys of one study. */
export class StudyKey {
  private constructor(
    readonly study: string,
    private readonly key: Buffer,
  ) {}

  /** Derives a study's key from the study key service (one `mac` call). */
  static async derive(keys: KeyService, study: string): Promise<StudyKey> {
    const hex = await keys.mac(STUDY_KEY_LABEL + study);
    const key = Buffer.from(hex, 'hex');
    if (key.length < 32) throw new Error('the study key service returned a MAC shorter than 256 bits');
    return new StudyKey(study, key);
  }

  private mac(message: string): Buffer {
    return createHmac('sha256', this.key).update(message, 'utf8').digest();
  }

  /** The study pseudonym of a lake pseudonym. */
  person(lakePseudonym: string): string {
    return 'sp-' + this.mac(`person|${lakePseudonym}`).subarray(0, 16).toString('hex');
  }

  /** The study's keyed hash of any other lake id. */
  id(lakeId: string): string {
    return 'sr-' + this.mac(`id|${lakeId}`).subarray(0, 16).toString('hex');
  }

  /** The person's date shift in days: in [−maxDays, −1] ∪ [1, maxDays], never 0. */
  shiftDays(lakePseudonym: string, maxDays: number): number {
    const r = this.mac(`date-shift|${lakePseudonym}`).readUInt32BE(0) % (2 * maxDays);
    return r < maxDays ? -(r + 1) : r - maxDays + 1;
  }
}

/** Applies a date handling to one full date/dateTime string (`shift` needs the person's shift in days). */
export function handleDate(value: string, handling: DateHandling, shiftDays?: number): string | undefined {
  const m = FULL_DATE.exec(value);
  if (!m) return undefined;
  if (handling.method === 'year') return m[1]!;
  if (handling.method === 'month') return `${m[1]}-${m[2]}`;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (shiftDays ?? 0)));
  return d.toISOString().slice(0, 10) + (m[4] ?? '');
}

/** A de-identified extract and what was done to it (for the release record). */
export interface Extract {
  columns: string[];
  rows: Record<string, unknown>[];
  /** Lineage columns (`_lake_key`, `_version_id`, … : every column starting with `_`) dropped. */
  dropped: string[];
  /** Columns whose lake pseudonyms were replaced by study pseudonyms. */
  pseudonymised: string[];
  /** Columns whose lake ids were replaced by study-keyed hashes. */
  rekeyed: string[];
  /** Date cells shifted or generalised. */
  dates: number;
  /** Date cells set to null because their row had no person to shift them by. */
  datesWithheld: number;
  /** The lake values replaced (for the scan of the output). */
  lakeValues: Set<string>;
}

/**
 * De-identifies a row-level result under a study key: drops lineage columns, replaces person and id columns,
 * shifts or generalises every full date as the approval says.
 * @throws AnalysisRefused: `undeclared-identifier` for an id-like column the approval does not cover,
 *   `date-shift-needs-person` for shifted dates without a person column, `spec-invalid` for a declared column
 *   missing from the output.
 */
export function deidentify(id: string, table: ResultTable, spec: RowLevelSpec, key: StudyKey): Extract {
  const dropped = table.columns.filter((c) => c.startsWith('_'));
  const columns = table.columns.filter((c) => !c.startsWith('_'));
  const missing = [...spec.person, ...spec.ids].filter((c) => !columns.includes(c));
  if (missing.length > 0) throw new AnalysisRefused('spec-invalid', `analysis ${id}: declared column(s) ${missing.join(', ')} are not in the output`);
  const person = columns.filter((c) => spec.person.includes(c) || (PERSON_COLUMN.test(c) && !spec.ids.includes(c)));
  const ids = columns.filter((c) => spec.ids.includes(c) && !person.includes(c));
  const undeclared = columns.filter((c) => ID_COLUMN.test(c) && !person.includes(c) && !ids.includes(c));
  if (undeclared.length > 0) {
    throw new AnalysisRefused('undeclared-identifier', `analysis ${id}: column(s) ${undeclared.join(', ')} look like identifiers; the approval must list them under rowLevel.person or rowLevel.ids`);
  }
  const anchor = person[0];
  const lakeValues = new Set<string>();
  let dates = 0;
  let datesWithheld = 0;
  const rows = table.rows.map((r) => {
    const lake = anchor !== undefined && typeof r[anchor] === 'string' ? (r[anchor] as string) : undefined;
    const shift = lake !== undefined && spec.dates.method === 'shift' ? key.shiftDays(lake, spec.dates.maxDays) : undefined;
    const out: Record<string, unknown> = {};
    for (const c of columns) {
      const v = r[c];
      if (v === null || v === undefined) {
        out[c] = null;
      } else if (person.includes(c) || ids.includes(c)) {
        const s = String(v);
        lakeValues.add(s);
        out[c] = person.includes(c) ? key.person(s) : key.id(s);
      } else if (typeof v === 'string' && FULL_DATE.test(v)) {
        if (spec.dates.method === 'shift' && anchor === undefined) {
          throw new AnalysisRefused('date-shift-needs-person', `analysis ${id}: column ${c} holds dates to shift per person, but the extract has no person column`);
        }
        if (spec.dates.method === 'shift' && shift === undefined) {
          out[c] = null;
          datesWithheld++;
        } else {
          out[c] = handleDate(v, spec.dates, shift);
          dates++;
        }
      } else {
        out[c] = v;
      }
    }
    return out;
  });
  return { columns, rows, dropped, pseudonymised: person, rekeyed: ids, dates, datesWithheld, lakeValues };
}

/** One place a lake identifier was found. */
export interface LakeIdentifierHit {
  row: number;
  column: string;
}

/**
 * Scans an output for lake identifiers: every string cell (and every column name), whole and split into
 * identifier-like tokens (`[A-Za-z0-9_-]+`, so `Patient/p-abc` yields `p-abc`), is looked up in `known`.
 * @returns the hits (at most `limit`).
 */
export function scanForLakeIdentifiers(output: ResultTable, known: ReadonlySet<string>, limit = 10): LakeIdentifierHit[] {
  const hits: LakeIdentifierHit[] = [];
  const found = (s: string): boolean => known.has(s) || s.split(/[^A-Za-z0-9_-]+/).some((t) => t !== '' && known.has(t));
  for (const c of output.columns) if (found(c)) hits.push({ row: -1, column: c });
  output.rows.forEach((r, i) => {
    if (hits.length >= limit) return;
    for (const c of output.columns) {
      const v = r[c];
      if (typeof v === 'string' && found(v)) hits.push({ row: i, column: c });
      else if (v !== null && typeof v === 'object' && found(JSON.stringify(v))) hits.push({ row: i, column: c });
    }
  });
  return hits.slice(0, limit);
}
