/**
 * AthenaMartQuery (src/adapters/aws/athena-mart-query.ts) against aws-sdk-client-mock: what it sends to Athena
 * (the study's workgroup, the marts' database, the SQL without its trailing semicolon, no result configuration of its
 * own), how it polls (bounded backoff, a timeout that stops the query), how it reads every page of the results
 * with their types, and that failures name the query but never the SQL or Athena's reason. Then the wiring: in AWS
 * the bootstrap runs an analysis's two queries (the analysis, the lake-pseudonym scan) in its study's workgroup.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'aws-sdk-client-mock-jest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  InvalidRequestException,
  StartQueryExecutionCommand,
  StopQueryExecutionCommand,
  type GetQueryResultsOutput,
  type QueryExecutionState,
} from '@aws-sdk/client-athena';
import { AthenaMartQuery, typedValue, withoutTrailingSemicolon } from '../../src/adapters/aws/athena-mart-query';
import { buildAnalysisApp } from '../../src/bootstrap';
import { loadConfig } from '../../src/config';
import { approveAnalysis, LAKE_PSEUDONYMS_SQL, runAnalysis } from '../../src/core/analysis';
import type { AuditEntry } from '../../src/core/ports';
import { ServerFault } from '../../src/fhir/errors';

const athena = mockClient(AthenaClient);
afterEach(() => athena.reset());
afterAll(() => athena.restore());

const SQL = "-- beds\nSELECT ward, count(*) AS n FROM encounter WHERE ward <> 'p-secret-value' GROUP BY ward;\n";
const WORKGROUP = 'tributary-dev-study-covid19-pht';

/** A clock that only moves when the adapter sleeps; the waits it asked for. */
function fakeTime(): { sleep: (ms: number) => Promise<void>; now: () => number; waits: number[] } {
  let t = 1_000_000;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    sleep: async (ms) => {
      waits.push(ms);
      t += ms;
    },
  };
}

function adapter(time = fakeTime(), opts: { timeoutMs?: number; pageSize?: number } = {}): AthenaMartQuery {
  return new AthenaMartQuery({
    client: new AthenaClient({ region: 'eu-west-2' }),
    database: 'tributary_dev_lake',
    workgroup: (study) => `tributary-dev-study-${study}`,
    sleep: time.sleep,
    now: time.now,
    ...opts,
  });
}

/** GetQueryExecution answers these states in turn (the last one repeats). */
function states(...list: QueryExecutionState[]): void {
  let i = 0;
  athena.on(GetQueryExecutionCommand).callsFake(() => {
    const state = list[Math.min(i++, list.length - 1)];
    return { QueryExecution: { QueryExecutionId: 'q-1', Status: { State: state } } };
  });
}

const COLUMNS = [
  { Name: 'ward', Label: 'ward', Type: 'varchar' },
  { Name: 'n', Label: 'n', Type: 'bigint' },
  { Name: 'mean_age', Label: 'mean_age', Type: 'double' },
  { Name: 'percent', Label: 'percent', Type: 'decimal', Precision: 5, Scale: 1 },
  { Name: 'flag', Label: 'flag', Type: 'boolean' },
  { Name: 'onset', Label: 'onset', Type: 'date' },
  { Name: 'big', Label: 'big', Type: 'bigint' },
];
const row = (...values: (string | undefined)[]) => ({ Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })) });

describe('AthenaMartQuery', () => {
  test('runs in the study workgroup over the marts database, polls with a bounded backoff, reads every page with its types', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    states('QUEUED', 'RUNNING', 'RUNNING', 'RUNNING', 'RUNNING', 'SUCCEEDED');
    const page1: GetQueryResultsOutput = {
      ResultSet: {
        ResultSetMetadata: { ColumnInfo: COLUMNS },
        Rows: [row('ward', 'n', 'mean_age', 'percent', 'flag', 'onset', 'big'), row('A', '3', '41.5', '37.5', 'true', '2020-03-01', '9007199254740993'), row('', '0', undefined, undefined, 'false', undefined, undefined)],
      },
      NextToken: 'page-2',
    };
    // A data row that happens to equal the header is data on any page but the first.
    const page2: GetQueryResultsOutput = { ResultSet: { ResultSetMetadata: { ColumnInfo: COLUMNS }, Rows: [row('C', '48', '-0.25', '100.0', 'true', '2021-12-31', '-12'), row('ward', 'n', 'mean_age', 'percent', 'flag', 'onset', 'big')] } };
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: undefined }).resolves(page1);
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-1', NextToken: 'page-2' }).resolves(page2);
    const time = fakeTime();

    const result = await adapter(time).run(SQL, { study: 'covid19-pht' });

    expect(athena).toHaveReceivedCommandTimes(StartQueryExecutionCommand, 1);
    const start = athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input;
    expect(start).toEqual({
      QueryString: "-- beds\nSELECT ward, count(*) AS n FROM encounter WHERE ward <> 'p-secret-value' GROUP BY ward",
      WorkGroup: WORKGROUP,
      QueryExecutionContext: { Database: 'tributary_dev_lake' },
    });
    // the workgroup's enforced result location and encryption apply: no ResultConfiguration of its own
    expect(start).not.toHaveProperty('ResultConfiguration');
    expect(time.waits).toEqual([250, 500, 1000, 2000, 2000, 2000]);
    expect(athena).toHaveReceivedCommandTimes(GetQueryExecutionCommand, 6);
    expect(athena.commandCalls(GetQueryResultsCommand).map((c) => c.args[0].input)).toEqual([
      { QueryExecutionId: 'q-1', MaxResults: 1000 },
      { QueryExecutionId: 'q-1', MaxResults: 1000, NextToken: 'page-2' },
    ]);
    expect(result).toEqual({
      columns: ['ward', 'n', 'mean_age', 'percent', 'flag', 'onset', 'big'],
      rows: [
        { ward: 'A', n: 3, mean_age: 41.5, percent: 37.5, flag: true, onset: '2020-03-01', big: '9007199254740993' },
        { ward: '', n: 0, mean_age: null, percent: null, flag: false, onset: null, big: null },
        { ward: 'C', n: 48, mean_age: -0.25, percent: 100, flag: true, onset: '2021-12-31', big: -12 },
        { ward: 'ward', n: 'n', mean_age: NaN, percent: NaN, flag: false, onset: 'onset', big: 'big' },
      ],
    });
    expect(athena).not.toHaveReceivedCommand(StopQueryExecutionCommand);
  });

  test('an empty result is its columns and no rows', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
    states('SUCCEEDED');
    athena.on(GetQueryResultsCommand).resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [{ Name: 'id', Type: 'varchar' }] }, Rows: [row('id')] } });
    await expect(adapter().run(LAKE_PSEUDONYMS_SQL, { study: 'other' })).resolves.toEqual({ columns: ['id'], rows: [] });
    expect(athena.commandCalls(StartQueryExecutionCommand)[0]!.args[0].input.WorkGroup).toBe('tributary-dev-study-other');
  });

  test.each(['FAILED', 'CANCELLED'] as const)('a %s query is a server fault naming the query and the error class, never the SQL or the reason', async (state) => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-9' });
    athena.on(GetQueryExecutionCommand).resolves({
      QueryExecution: {
        QueryExecutionId: 'q-9',
        Query: SQL,
        Status: {
          State: state,
          StateChangeReason: "INVALID_CAST_ARGUMENT: Value cannot be cast to bigint: 'p-secret-value'",
          AthenaError: { ErrorCategory: 2, ErrorType: 1002, ErrorMessage: "line 1:8: 'p-secret-value'" },
        },
      },
    });
    const err = await adapter().run(SQL, { study: 'covid19-pht' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerFault);
    const message = (err as Error).message;
    expect(message).toBe(`Athena query q-9 in workgroup ${WORKGROUP} ended ${state} (error category 2, type 1002); its reason is in the Athena console`);
    expect(message).not.toMatch(/secret|SELECT|encounter|cast/i);
    expect(athena).not.toHaveReceivedCommand(GetQueryResultsCommand);
  });

  test('a query still running at the timeout is stopped and is a server fault; the waits never overshoot the timeout', async () => {
    athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-slow' });
    states('RUNNING');
    athena.on(StopQueryExecutionCommand).resolves({});
    const time = fakeTime();
    const err = await adapter(time, { timeoutMs: 5000 }).run(SQL, { study: 'covid19-pht' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerFault);
    expect((err as Error).message).toBe(`Athena query q-slow in workgroup ${WORKGROUP} did not finish within 5000 ms and was stopped`);
    expect(time.waits).toEqual([250, 500, 1000, 2000, 1250]);
    expect(time.waits.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(athena).toHaveReceivedCommandWith(StopQueryExecutionCommand, { QueryExecutionId: 'q-slow' });
    expect(athena).not.toHaveReceivedCommand(GetQueryResultsCommand);
  });

  test('an Athena API error is a server fault naming the call and the error, not its message (which can quote the SQL)', async () => {
    athena.on(StartQueryExecutionCommand).rejects(new InvalidRequestException({ message: "line 1:1: mismatched input 'p-secret-value'", $metadata: { httpStatusCode: 400 } }));
    const err = await adapter().run(SQL, { study: 'covid19-pht' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServerFault);
    expect((err as Error).message).toBe(`Athena StartQueryExecution in workgroup ${WORKGROUP} failed: InvalidRequestException (HTTP 400)`);
  });

  test('arrays, maps and rows, and two columns of one name, are refused (they cannot be keyed or read back unambiguously)', async () => {
    const answering = (ResultSet: GetQueryResultsOutput['ResultSet']): void => {
      athena.reset();
      athena.on(StartQueryExecutionCommand).resolves({ QueryExecutionId: 'q-1' });
      states('SUCCEEDED');
      athena.on(GetQueryResultsCommand).resolves({ ResultSet });
    };
    answering({ ResultSetMetadata: { ColumnInfo: [{ Name: 'codes', Type: 'array(varchar)' }] }, Rows: [row('codes'), row('[a, b]')] });
    await expect(adapter().run(SQL, { study: 'covid19-pht' })).rejects.toThrow('Athena query q-1: result column codes is of type array, which cannot be read back unambiguously (select scalar columns)');
    answering({ ResultSetMetadata: { ColumnInfo: [{ Name: 'm', Type: 'map(varchar, bigint)' }] }, Rows: [row('m')] });
    await expect(adapter().run(SQL, { study: 'covid19-pht' })).rejects.toThrow('result column m is of type map');
    answering({ ResultSetMetadata: { ColumnInfo: [{ Name: 'n', Type: 'bigint' }, { Name: 'n', Type: 'bigint' }] }, Rows: [row('n', 'n')] });
    await expect(adapter().run(SQL, { study: 'covid19-pht' })).rejects.toThrow('Athena query q-1: two result columns named n (give every output column its own name)');
  });

  test('a study id that makes no workgroup name is refused before anything is sent', async () => {
    await expect(adapter().run(SQL, { study: 'a b/c' })).rejects.toBeInstanceOf(ServerFault);
    expect(athena.calls()).toHaveLength(0);
  });

  test('typedValue and withoutTrailingSemicolon', () => {
    expect([typedValue('12', 'integer'), typedValue('7', 'tinyint'), typedValue('1.5E3', 'real'), typedValue('12.30', 'decimal(10,2)'), typedValue('x', undefined)]).toEqual([12, 7, 1500, 12.3, 'x']);
    expect([typedValue(undefined, 'varchar'), typedValue('', 'varchar'), typedValue('2020-01-01 10:00:00.000', 'timestamp')]).toEqual([null, '', '2020-01-01 10:00:00.000']);
    expect(withoutTrailingSemicolon('SELECT 1;\n')).toBe('SELECT 1');
    expect(withoutTrailingSemicolon("SELECT ';' AS s ; ;  \n\n")).toBe("SELECT ';' AS s");
    expect(withoutTrailingSemicolon('SELECT 1')).toBe('SELECT 1');
  });
});

describe('bootstrap in AWS: an analysis runs in its study workgroup', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'athena-mart-query-'));
  const registry = path.join(dir, 'analyses');
  fs.mkdirSync(registry);
  fs.writeFileSync(path.join(registry, 'wards.sql'), 'SELECT ward, count(*) AS n FROM encounter GROUP BY ward\n');
  fs.writeFileSync(path.join(registry, 'wards.yaml'), 'id: wards\npurpose: Wards\nstudy: capacity\noutput: aggregate\n');
  fs.writeFileSync(path.join(registry, 'studies.yaml'), 'studies:\n  capacity: {}\n');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const awsEnv = { TRIBUTARY_RUNTIME: 'aws', ANALYSES_DIR: registry, STUDY_KMS_KEY_ARN: 'arn:aws:kms:eu-west-2:111111111111:key/study', GLUE_DATABASE: 'tributary_dev_lake' };

  test('both queries of a run (the analysis, the lake-pseudonym scan) go to <ANALYSIS_WORKGROUP_PREFIX><study>, over GLUE_DATABASE', async () => {
    const audit: AuditEntry[] = [];
    const config = loadConfig({ ...awsEnv, ANALYSIS_WORKGROUP_PREFIX: 'tributary-dev-study-' });
    const app = await buildAnalysisApp(config, { audit: { append: async (e) => void audit.push(e) }, studyKeys: { keyVersion: 't', mac: async (m) => m } });
    await approveAnalysis(app.deps, { id: 'wards', by: 'Dee Guardian', who: 'dee' });
    let n = 0;
    athena.on(StartQueryExecutionCommand).callsFake(() => ({ QueryExecutionId: `q-${++n}` }));
    athena.on(GetQueryExecutionCommand).callsFake((input: { QueryExecutionId: string }) => ({ QueryExecution: { QueryExecutionId: input.QueryExecutionId, Status: { State: 'SUCCEEDED' } } }));
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-1' }).resolves({
      ResultSet: { ResultSetMetadata: { ColumnInfo: [{ Name: 'ward', Type: 'varchar' }, { Name: 'n', Type: 'bigint' }] }, Rows: [row('ward', 'n'), row('A', '3'), row('B', '48')] },
    });
    athena.on(GetQueryResultsCommand, { QueryExecutionId: 'q-2' }).resolves({ ResultSet: { ResultSetMetadata: { ColumnInfo: [{ Name: 'id', Type: 'varchar' }] }, Rows: [row('id'), row('p-lake-1')] } });
    const files: string[] = [];
    const r = await runAnalysis(app.deps, { id: 'wards', who: 'ann', sink: () => ({ write: async (fs2) => fs2.map((f) => (files.push(f.name), f.name)) }) });

    expect(athena.commandCalls(StartQueryExecutionCommand).map((c) => [c.args[0].input.WorkGroup, c.args[0].input.QueryExecutionContext?.Database, c.args[0].input.QueryString])).toEqual([
      ['tributary-dev-study-capacity', 'tributary_dev_lake', 'SELECT ward, count(*) AS n FROM encounter GROUP BY ward'],
      ['tributary-dev-study-capacity', 'tributary_dev_lake', LAKE_PSEUDONYMS_SQL],
    ]);
    expect(r.table.rows).toEqual([{ ward: 'A', n: '[REDACTED]' }, { ward: 'B', n: 50 }]);
    expect(files).toEqual(['wards.csv', 'wards.json', 'wards.release.json']);
  });

  test('without ANALYSIS_WORKGROUP_PREFIX the AWS bootstrap refuses to start (no stub that fails later)', async () => {
    await expect(buildAnalysisApp(loadConfig(awsEnv))).rejects.toThrow('ANALYSIS_WORKGROUP_PREFIX is not set');
  });
});
