/**
 * The safe-analysis use cases: run an approved analysis next to the data and release only a checked output
 * ({@link runAnalysis}), and record an approval ({@link approveAnalysis}). Every run, refusal, approval and release
 * appends an audit record, and the audit record of a release is appended before any file is written: if the audit
 * trail cannot be written, nothing leaves.
 */
import type { AuditLog, Clock, KeyService } from '../ports';
import { analysisAuditEvent, type AnalysisAuditInput } from './audit';
import { checkAggregate } from './disclosure';
import { AnalysisRefused } from './errors';
import { deidentify, scanForLakeIdentifiers, StudyKey } from './extract';
import type { AnalysisRegistry, MartQuery, MartQueryScope, RegisteredAnalysis, ReleaseSink, ResultTable } from './ports';
import { releaseFiles, releaseIdOf, type ReleaseRecord } from './release';
import {
  checkApproval,
  checkSelectOnly,
  disclosurePolicy,
  specSha256,
  sqlSha256,
  type Approval,
  type DisclosureFloors,
  type StudySpec,
} from './spec';

/** The SQL listing every lake pseudonym the marts know (every version of every Patient). */
export const LAKE_PSEUDONYMS_SQL = 'SELECT DISTINCT id FROM patient_history WHERE id IS NOT NULL';

/** Collaborators of the analysis use cases. */
export interface AnalysisDeps {
  registry: AnalysisRegistry;
  marts: MartQuery;
  /** The study key service (KMS HMAC key in AWS, a local key file otherwise): not the lake's pseudonym key. */
  studyKeys: KeyService;
  audit: AuditLog;
  floors: DisclosureFloors;
  clock?: Clock;
}

/** One run: which analysis, who asks, where the released files go. */
export interface RunRequest {
  id: string;
  who: string;
  /** Where the files of the release (by its id) go. */
  sink: (releaseId: string) => ReleaseSink;
  /** Correlation id of an ops API request. */
  requestId?: string;
}

/** A released run. */
export interface RunResult {
  record: ReleaseRecord;
  /** The released table (what the CSV and JSON hold). */
  table: ResultTable;
  /** Where the files went. */
  written: string[];
}

const now = (deps: { clock?: Clock }): Date => (deps.clock ? deps.clock.now() : new Date());

/** Loads an analysis, or refuses (`analysis-unknown`). */
async function load(registry: AnalysisRegistry, id: string): Promise<RegisteredAnalysis> {
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(id)) throw new AnalysisRefused('analysis-unknown', `no analysis '${id.slice(0, 64)}' (ids are lower-case letters, digits, - and _)`);
  const found = await registry.get(id);
  if (!found) throw new AnalysisRefused('analysis-unknown', `no analysis '${id}' in the registry`);
  return found;
}

async function study(registry: AnalysisRegistry, id: string): Promise<StudySpec> {
  const s = (await registry.studies()).get(id);
  if (!s) throw new AnalysisRefused('study-unknown', `study '${id}' is not in the study registry`);
  return s;
}

/** Lake pseudonyms the marts know; an empty set when there is no patient mart yet. */
async function lakePseudonyms(marts: MartQuery, scope: MartQueryScope): Promise<Set<string>> {
  try {
    const t = await marts.run(LAKE_PSEUDONYMS_SQL, scope);
    return new Set(t.rows.map((r) => r.id).filter((v): v is string => typeof v === 'string'));
  } catch (err) {
    // Fail closed: only a lake without a patient table yet (no person, so no pseudonym to leak) counts as empty; any
    // other failure (a timeout, a refused query) stops the run rather than releasing an output the scan never saw.
    if (err instanceof Error && /\b(does not exist|TABLE_NOT_FOUND)\b/i.test(err.message)) return new Set();
    throw err;
  }
}

/**
 * Runs an approved analysis and releases its checked output.
 * @throws AnalysisRefused naming the rule (audited as a refused run); any other error is audited as a failed run.
 */
export async function runAnalysis(deps: AnalysisDeps, req: RunRequest): Promise<RunResult> {
  const base: Pick<AnalysisAuditInput, 'who' | 'analysis' | 'requestId'> = { who: req.who, analysis: req.id, ...(req.requestId ? { requestId: req.requestId } : {}) };
  let known: { study?: string; sqlSha256?: string } = {};
  const audit = (a: Omit<AnalysisAuditInput, 'who' | 'analysis' | 'recorded'>): Promise<void> =>
    deps.audit.append(analysisAuditEvent({ ...base, ...known, recorded: now(deps), ...a }));
  try {
    const { sql, spec, raw } = await load(deps.registry, req.id);
    known = { study: spec.study, sqlSha256: sqlSha256(sql) };
    const approval = checkApproval(spec, sql, raw);
    const policy = disclosurePolicy(await study(deps.registry, spec.study), deps.floors);
    checkSelectOnly(spec.id, sql);
    const scope = { study: spec.study };
    const result = await deps.marts.run(sql, scope);
    const lake = await lakePseudonyms(deps.marts, scope);
    const at = now(deps);
    const common = {
      releaseId: releaseIdOf(spec.id, at),
      analysis: spec.id,
      purpose: spec.purpose,
      study: spec.study,
      output: spec.output,
      sqlSha256: approval.sqlSha256,
      specSha256: approval.specSha256,
      approvedBy: approval.approvedBy,
      approvedAt: approval.approvedAt,
      releasedBy: req.who,
      releasedAt: at.toISOString(),
    };
    let table: ResultTable;
    let record: Omit<ReleaseRecord, 'files'>;
    if (spec.output === 'aggregate') {
      const checked = checkAggregate(spec.id, result, spec.columns, policy);
      table = { columns: checked.columns, rows: checked.rows };
      record = { ...common, rows: table.rows.length, columns: table.columns, policy, rules: checked.rules, cellsRedacted: checked.redactions.length, redactions: checked.redactions };
    } else {
      const rl = spec.rowLevel!;
      const extract = deidentify(spec.id, result, rl, await StudyKey.derive(deps.studyKeys, spec.study));
      for (const v of extract.lakeValues) lake.add(v);
      table = { columns: extract.columns, rows: extract.rows };
      const dateRule = rl.dates.method === 'shift' ? `dates shifted per person by up to ±${rl.dates.maxDays} days` : `dates generalised to the ${rl.dates.method}`;
      record = {
        ...common,
        rows: table.rows.length,
        columns: table.columns,
        rules: [
          { rule: 'lineage-dropped', description: 'lineage columns (_lake_key, _version_id, …) dropped', cells: extract.dropped.length },
          { rule: 'study-pseudonyms', description: 'person ids replaced by per-study pseudonyms; other lake ids by per-study keyed hashes', cells: extract.lakeValues.size },
          { rule: 'dates', description: dateRule, cells: extract.dates },
          { rule: 'dates-withheld', description: 'dates of rows without a person set to null', cells: extract.datesWithheld },
        ],
        cellsRedacted: extract.datesWithheld,
        redactions: [],
        rowLevel: { droppedColumns: extract.dropped, pseudonymisedColumns: extract.pseudonymised, rekeyedColumns: extract.rekeyed, dates: rl.dates, lakeIdentifiersChecked: lake.size },
      };
    }
    const hits = scanForLakeIdentifiers(table, lake);
    if (hits.length > 0) {
      const where = hits.map((h) => (h.row < 0 ? `column name ${h.column}` : `row ${h.row + 1} column ${h.column}`)).join(', ');
      throw new AnalysisRefused('lake-identifier', `analysis ${spec.id}: the output holds lake identifiers (${where}); nothing was released`);
    }
    const { files, record: full } = releaseFiles(record, table);
    await audit({ action: 'run', outcome: '0', details: { output: spec.output, rows: table.rows.length } });
    const digests = Object.fromEntries(full.files.map((f) => [f.name, f.sha256]));
    await audit({ action: 'release', outcome: '0', details: { releaseId: full.releaseId, cellsRedacted: full.cellsRedacted, ...digests } });
    const written = await req.sink(full.releaseId).write(files);
    return { record: full, table, written };
  } catch (err) {
    if (err instanceof AnalysisRefused) await audit({ action: 'run', outcome: '4', rule: err.rule });
    else await audit({ action: 'run', outcome: '8' }).catch(() => undefined);
    throw err;
  }
}

/** One approval: which analysis, the approver's name, and who records it (the operating-system user). */
export interface ApproveRequest {
  id: string;
  by: string;
  who: string;
}

/**
 * Records an approval of the analysis's current SQL and metadata (their SHA-256) in its metadata file, after
 * appending the audit record.
 * @throws AnalysisRefused: `analysis-unknown`, `spec-invalid`, `study-unknown`, `select-only`,
 *   `approval-four-eyes` (the approver asked for the analysis), `threshold-floor`/`rounding-floor`.
 */
export async function approveAnalysis(deps: Pick<AnalysisDeps, 'registry' | 'audit' | 'floors' | 'clock'>, req: ApproveRequest): Promise<Approval> {
  let known: { study?: string; sqlSha256?: string } = {};
  const audit = (outcome: '0' | '4', rule?: string, details?: Record<string, string>): Promise<void> =>
    deps.audit.append(analysisAuditEvent({ action: 'approve', who: req.who, analysis: req.id, recorded: now(deps), outcome, ...known, ...(rule ? { rule } : {}), ...(details ? { details } : {}) }));
  if (!req.by.trim() || !req.who.trim()) throw new Error('an approval needs the approver (by) and who records it (who)');
  try {
    const { sql, spec, raw } = await load(deps.registry, req.id);
    known = { study: spec.study, sqlSha256: sqlSha256(sql) };
    if (spec.requestedBy && spec.requestedBy.trim().toLowerCase() === req.by.trim().toLowerCase()) {
      throw new AnalysisRefused('approval-four-eyes', `${req.by} asked for analysis ${spec.id} and cannot also approve it`);
    }
    disclosurePolicy(await study(deps.registry, spec.study), deps.floors);
    checkSelectOnly(spec.id, sql);
    const approval: Approval = { approvedBy: req.by, approvedAt: now(deps).toISOString(), sqlSha256: sqlSha256(sql), specSha256: specSha256(raw) };
    await audit('0', undefined, { approvedBy: approval.approvedBy, specSha256: approval.specSha256 });
    await deps.registry.recordApproval(spec.id, { ...approval });
    return approval;
  } catch (err) {
    if (err instanceof AnalysisRefused) await audit('4', err.rule);
    throw err;
  }
}
