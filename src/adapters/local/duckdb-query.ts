/**
 * SQL over the local marts (DuckDB): the query code shared by `npm run query` (operators, raw access) and the
 * safe-analysis path's {@link MartQuery} (`npm run analyse`, approved analyses only).
 *
 * The catalogue file is attached read-only for the milliseconds it takes to copy its view definitions into an
 * in-memory DuckDB ({@link openCatalogSnapshot}), then the query reads the Parquet files directly, so this works
 * while `npm start` runs.
 */
import { ServerFault } from '../../fhir/errors';
import type { MartQuery, ResultTable } from '../../core/analysis/ports';
import { openCatalogSnapshot, type CatalogSnapshot } from './duckdb-catalog';
import { toJsonRows } from './parquet-writer';

/** One statement's result. */
export type QueryResult = ResultTable;

/** A query failed (bad SQL, a missing table). The message is DuckDB's: for the operator or the logs, never a client. */
export class QueryError extends ServerFault {
  override readonly name = 'QueryError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Runs SQL (one or more statements) against the catalogue's tables and views.
 * @param catalogFile - the DuckDB catalogue (see `localCatalogFile`).
 * @returns one result per statement, rows as JSON values (`toJsonRows`).
 */
export async function runQuery(sql: string, catalogFile: string): Promise<QueryResult[]> {
  try {
    return await runOn(sql, await openCatalogSnapshot(catalogFile, { forSql: sql }));
  } catch (err) {
    // only what the SQL names was created: a name it reaches some other way gets everything, once
    if (!(err instanceof QueryError) || !/does not exist/i.test(err.message)) throw err;
    return runOn(sql, await openCatalogSnapshot(catalogFile));
  }
}

async function runOn(sql: string, snap: CatalogSnapshot): Promise<QueryResult[]> {
  try {
    const extracted = await snap.connection.extractStatements(sql);
    const results: QueryResult[] = [];
    for (let i = 0; i < extracted.count; i++) {
      const stmt = await extracted.prepare(i);
      let reader;
      try {
        reader = await stmt.runAndReadAll();
      } catch (err) {
        throw new QueryError(err instanceof Error ? err.message : String(err), { cause: err });
      }
      results.push({ columns: reader.deduplicatedColumnNames(), rows: toJsonRows(reader.getRowObjectsJS() as Record<string, unknown>[]) });
    }
    return results;
  } catch (err) {
    if (err instanceof QueryError) throw err;
    throw new QueryError(err instanceof Error ? err.message : String(err), { cause: err });
  } finally {
    snap.close();
  }
}

/** {@link MartQuery} over a local catalogue file: the result of the SQL's last statement. */
export class DuckDbMartQuery implements MartQuery {
  constructor(private readonly catalogFile: string) {}

  async run(sql: string): Promise<ResultTable> {
    const results = await runQuery(sql, this.catalogFile);
    const last = results[results.length - 1];
    if (!last) throw new QueryError('no statement to run');
    return last;
  }
}
