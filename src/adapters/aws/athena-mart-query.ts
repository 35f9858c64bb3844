/**
 * AWS {@link MartQuery} of the safe-analysis path: runs an approved analysis's SQL with Amazon Athena in the
 * workgroup of the analysis's study (Terraform: `aws_athena_workgroup.study`, `<prefix>-study-<study>`, whose
 * enforced configuration fixes where the results go and how they are encrypted), over the marts' Glue database.
 *
 * - `StartQueryExecution` with `WorkGroup` = the study's workgroup and `QueryExecutionContext.Database` = the marts'
 *   Glue database (https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html); no result
 *   configuration of its own (the workgroup's is enforced);
 * - `GetQueryExecution` polled with a bounded exponential backoff until the query ends, within a timeout, after
 *   which the query is stopped (`StopQueryExecution`);
 * - `GetQueryResults`, every page (https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html):
 *   the first row of a SELECT's first page is the header, the columns and their types come from
 *   `ResultSetMetadata.ColumnInfo`, and every value (Athena returns text) is typed as the DuckDB adapter types it:
 *   integers as numbers (as text beyond 2^53), floating and decimal numbers as numbers, booleans as booleans, null as
 *   null, everything else (varchar, date, timestamp) as text. Arrays, maps and rows cannot be read back from
 *   Athena's text unambiguously: an output holding one is a fault (select scalar columns).
 *
 * Failures are {@link ServerFault}s whose message names the query execution, the workgroup, the state and Athena's
 * error category and type, never the SQL text or Athena's reason: a reason can quote the SQL and values of the data
 * (`Value cannot be cast to bigint: '…'`), and the message is logged. The query execution id leads an operator to
 * the full reason in the Athena console.
 */
import {
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type AthenaClient,
  type ColumnInfo,
  type QueryExecution,
  type Row,
} from '@aws-sdk/client-athena';
import type { MartQuery, MartQueryScope, ResultTable } from '../../core/analysis/ports';
import { ServerFault } from '../../fhir/errors';

/** Options of {@link AthenaMartQuery}. */
export interface AthenaMartQueryOptions {
  /** An injected Athena client (region, credentials, retries are the caller's). */
  client: AthenaClient;
  /** The marts' Glue database (Terraform `glue_database`, GLUE_DATABASE). */
  database: string;
  /** The workgroup of a study (Terraform names them `<prefix>-study-<study>`). */
  workgroup: (study: string) => string;
  /** First wait before polling, ms (default 250); each next wait doubles, up to `pollMaxMs`. */
  pollInitialMs?: number;
  /** Longest wait between two polls, ms (default 2000). */
  pollMaxMs?: number;
  /** How long a query may take from its start, ms (default 12,000: the run's two queries fit in API Gateway's 29 s). */
  timeoutMs?: number;
  /** Rows per GetQueryResults page (1–1000, default 1000). */
  pageSize?: number;
  /** Waits (tests replace it). */
  sleep?: (ms: number) => Promise<void>;
  /** The current time, ms (tests replace it). */
  now?: () => number;
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Athena's names: workgroups `[a-zA-Z0-9._-]{1,128}`. */
const WORKGROUP = /^[A-Za-z0-9._-]{1,128}$/;

/** Athena column types read back as numbers (integers: as text beyond the safe range). */
const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'integer', 'int', 'bigint']);
const FLOAT_TYPES = new Set(['double', 'float', 'real', 'decimal']);
/** Structured types, which Athena renders as text that cannot be parsed back unambiguously. */
const STRUCTURED_TYPES = new Set(['array', 'map', 'row', 'struct']);

/** The base of an Athena type: `decimal(10,2)` → `decimal`, `array(varchar)` → `array`. */
function baseType(type: string | undefined): string {
  return (type ?? 'varchar').toLowerCase().replace(/[(<].*$/, '').trim();
}

/**
 * A value of Athena's text result as a JSON value of the column's type (see the module notes).
 * @param text - the datum's `VarCharValue`; undefined is SQL NULL.
 */
export function typedValue(text: string | undefined, type: string | undefined): unknown {
  if (text === undefined) return null;
  const base = baseType(type);
  if (base === 'boolean') return text === 'true';
  if (INTEGER_TYPES.has(base)) {
    const n = Number(text);
    return Number.isSafeInteger(n) ? n : text;
  }
  if (FLOAT_TYPES.has(base)) return Number(text);
  return text;
}

/** Removes the trailing semicolon (and blanks) an SQL file ends with: Athena runs one statement without it. */
export function withoutTrailingSemicolon(sql: string): string {
  return sql.replace(/[\s;]+$/, '');
}

/**
 * {@link MartQuery} with Athena, in the study's workgroup. The SQL is the approved analysis's; it is sent as it is
 * (bar a trailing semicolon) and never logged or put in an error.
 */
export class AthenaMartQuery implements MartQuery {
  private readonly pollInitialMs: number;
  private readonly pollMaxMs: number;
  private readonly timeoutMs: number;
  private readonly pageSize: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;

  constructor(private readonly opts: AthenaMartQueryOptions) {
    this.pollInitialMs = opts.pollInitialMs ?? 250;
    this.pollMaxMs = opts.pollMaxMs ?? 2000;
    this.timeoutMs = opts.timeoutMs ?? 12_000;
    this.pageSize = opts.pageSize ?? 1000;
    this.sleep = opts.sleep ?? realSleep;
    this.now = opts.now ?? Date.now;
    if (!(this.pollInitialMs > 0 && this.pollMaxMs >= this.pollInitialMs && this.timeoutMs > 0)) throw new Error('AthenaMartQuery: poll and timeout settings must be positive, pollMaxMs ≥ pollInitialMs');
    if (!(Number.isInteger(this.pageSize) && this.pageSize >= 1 && this.pageSize <= 1000)) throw new Error('AthenaMartQuery: pageSize must be 1-1000');
  }

  async run(sql: string, scope: MartQueryScope): Promise<ResultTable> {
    const workgroup = this.opts.workgroup(scope.study);
    if (!WORKGROUP.test(workgroup)) throw new ServerFault(`no Athena workgroup name for study ${scope.study.slice(0, 64)}`);
    const started = this.now();
    const id = await this.call('StartQueryExecution', workgroup, async () => {
      const res = await this.opts.client.send(
        new StartQueryExecutionCommand({
          QueryString: withoutTrailingSemicolon(sql),
          WorkGroup: workgroup,
          QueryExecutionContext: { Database: this.opts.database },
        }),
      );
      return res.QueryExecutionId;
    });
    if (!id) throw new ServerFault(`Athena started no query in workgroup ${workgroup}`);
    const execution = await this.waitFor(id, workgroup, started);
    const state = execution.Status?.State;
    if (state !== 'SUCCEEDED') {
      const err = execution.Status?.AthenaError;
      const detail = err ? ` (error category ${err.ErrorCategory ?? '?'}, type ${err.ErrorType ?? '?'})` : '';
      throw new ServerFault(`Athena query ${id} in workgroup ${workgroup} ended ${state ?? 'in no known state'}${detail}; its reason is in the Athena console`);
    }
    return this.results(id, workgroup);
  }

  /** Polls GetQueryExecution until the query ends; past the timeout, stops it and fails. */
  private async waitFor(id: string, workgroup: string, started: number): Promise<QueryExecution> {
    for (let wait = this.pollInitialMs; ; wait = Math.min(wait * 2, this.pollMaxMs)) {
      const left = started + this.timeoutMs - this.now();
      if (left <= 0) {
        await this.opts.client.send(new StopQueryExecutionCommand({ QueryExecutionId: id })).catch(() => undefined);
        throw new ServerFault(`Athena query ${id} in workgroup ${workgroup} did not finish within ${this.timeoutMs} ms and was stopped`);
      }
      await this.sleep(Math.min(wait, left));
      const res = await this.call('GetQueryExecution', workgroup, () => this.opts.client.send(new GetQueryExecutionCommand({ QueryExecutionId: id })));
      const state = res.QueryExecution?.Status?.State;
      if (state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELLED') return res.QueryExecution!;
    }
  }

  /** Every page of the results, typed by the result set's column types. */
  private async results(id: string, workgroup: string): Promise<ResultTable> {
    let columns: ColumnInfo[] | undefined;
    const rows: Record<string, unknown>[] = [];
    let token: string | undefined;
    let firstPage = true;
    do {
      const page = await this.call('GetQueryResults', workgroup, () =>
        this.opts.client.send(new GetQueryResultsCommand({ QueryExecutionId: id, MaxResults: this.pageSize, ...(token ? { NextToken: token } : {}) })),
      );
      columns ??= this.columnsOf(page.ResultSet?.ResultSetMetadata?.ColumnInfo, id);
      let data: Row[] = page.ResultSet?.Rows ?? [];
      if (firstPage && data.length > 0 && isHeader(data[0]!, columns)) data = data.slice(1);
      for (const row of data) {
        const values = row.Data ?? [];
        const out: Record<string, unknown> = {};
        columns.forEach((c, i) => (out[c.Name!] = typedValue(values[i]?.VarCharValue, c.Type)));
        rows.push(out);
      }
      token = page.NextToken;
      firstPage = false;
    } while (token);
    return { columns: (columns ?? []).map((c) => c.Name!), rows };
  }

  private columnsOf(info: ColumnInfo[] | undefined, id: string): ColumnInfo[] {
    const columns = info ?? [];
    const seen = new Set<string>();
    for (const c of columns) {
      if (!c.Name) throw new ServerFault(`Athena query ${id}: a result column without a name`);
      if (seen.has(c.Name)) throw new ServerFault(`Athena query ${id}: two result columns named ${c.Name} (give every output column its own name)`);
      seen.add(c.Name);
      if (STRUCTURED_TYPES.has(baseType(c.Type))) throw new ServerFault(`Athena query ${id}: result column ${c.Name} is of type ${baseType(c.Type)}, which cannot be read back unambiguously (select scalar columns)`);
    }
    return columns;
  }

  /** One Athena call; an SDK failure becomes a ServerFault naming the call and the error, not its message. */
  private async call<T>(what: string, workgroup: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = e?.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : '';
      throw new ServerFault(`Athena ${what} in workgroup ${workgroup} failed: ${e?.name ?? 'error'}${status}`);
    }
  }
}

/** The header row Athena puts first in a SELECT's first page: the column names. */
function isHeader(row: Row, columns: ColumnInfo[]): boolean {
  const data = row.Data ?? [];
  return data.length === columns.length && columns.every((c, i) => data[i]?.VarCharValue === c.Name || data[i]?.VarCharValue === c.Label);
}
