/**
 * The analyses of the registry (analyses/*.sql) are written and tried locally against DuckDB, and run in AWS on
 * Athena (Trino): docs/safe-analysis.md, "One SQL for DuckDB and Athena". Whatever DuckDB rejects fails locally
 * already; what passes DuckDB but not Trino would only fail in AWS. This test flags the DuckDB-only constructs an
 * author is most likely to reach for, in every SQL file of the registry (comments and string literals aside), and
 * shows that each rule fires on an example. It is a guard, not a Trino parser: semantic differences that parse in
 * both (integer division, rounding, timestamp text) are for the author (the docs list them).
 */
import fs from 'node:fs';
import path from 'node:path';

const ANALYSES = path.resolve(__dirname, '../../analyses');

/** DuckDB-only constructs and what to write instead (valid in both engines). */
const RULES: { rule: string; re: RegExp; instead: string }[] = [
  { rule: 'double-colon cast', re: /::/, instead: 'CAST(x AS type)' },
  { rule: 'QUALIFY', re: /\bQUALIFY\b/i, instead: 'a subquery filtering on row_number()' },
  { rule: 'ILIKE', re: /\bILIKE\b/i, instead: 'lower(x) LIKE …' },
  { rule: 'GROUP BY ALL / ORDER BY ALL', re: /\b(GROUP|ORDER)\s+BY\s+ALL\b/i, instead: 'the columns' },
  { rule: 'SELECT * EXCLUDE / REPLACE', re: /\*\s*(EXCLUDE|REPLACE)\s*\(/i, instead: 'the columns' },
  { rule: 'FROM-first query', re: /(^|[(;]|\bAS\s*\()\s*FROM\b/i, instead: 'SELECT … FROM …' },
  { rule: 'integer division operator //', re: /\/\//, instead: 'CAST(floor(a / b) AS BIGINT) over integers' },
  { rule: 'PIVOT / UNPIVOT', re: /\b(UN)?PIVOT\b/i, instead: 'count(*) FILTER (WHERE …) per column' },
  { rule: 'USING SAMPLE', re: /\bUSING\s+SAMPLE\b/i, instead: 'TABLESAMPLE (not in an approved analysis)' },
  { rule: 'INTERVAL with an unquoted number', re: /\bINTERVAL\s+\d/i, instead: "INTERVAL '1' DAY" },
  {
    rule: 'DuckDB-only function',
    re: /\b(strftime|strptime|regexp_matches|regexp_full_match|string_agg|string_split|str_split|list_[a-z_]+|struct_pack|median|quantile|quantile_cont|quantile_disc|mode|epoch|datediff|date_part|ifnull|today|count_star|generate_series|array_length|len)\s*\(/i,
    instead: 'the Trino and DuckDB common function (docs/safe-analysis.md)',
  },
];

/** The SQL with comments and string literals blanked (so `'::'` in a literal or a comment is not flagged). */
function code(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, "''");
}

/** The DuckDB-only constructs of one SQL text: `rule: what to write instead`. */
function dialectFindings(sql: string): string[] {
  const text = code(sql);
  return RULES.filter((r) => r.re.test(text)).map((r) => `${r.rule}: write ${r.instead}`);
}

const files = fs.readdirSync(ANALYSES).filter((f) => f.endsWith('.sql'));

test('the registry has SQL files to check', () => {
  expect(files).toContain('covid19.sql');
});

test.each(files)('analyses/%s uses no DuckDB-only construct', (f) => {
  expect(dialectFindings(fs.readFileSync(path.join(ANALYSES, f), 'utf8'))).toEqual([]);
});

test('each rule fires on an example, and comments and string literals are not flagged', () => {
  const examples = [
    'SELECT id::VARCHAR FROM patient',
    'SELECT * FROM patient QUALIFY row_number() OVER (PARTITION BY gender) = 1',
    "SELECT id FROM patient WHERE gender ILIKE 'f%'",
    'SELECT gender, count(*) AS n FROM patient GROUP BY ALL',
    'SELECT * EXCLUDE (id) FROM patient',
    'WITH p AS (FROM patient) SELECT count(*) AS n FROM p',
    'SELECT 7 // 2 AS n',
    'PIVOT patient ON gender USING count(*)',
    'SELECT count(*) AS n FROM patient USING SAMPLE 10%',
    "SELECT date '2020-01-01' + INTERVAL 1 DAY AS d",
    "SELECT strftime(birth_date, '%Y') AS y FROM patient",
  ];
  const fired = examples.map((e) => dialectFindings(e).map((x) => x.split(':')[0]));
  expect(fired).toEqual(RULES.map((r) => [r.rule]));
  expect(dialectFindings("-- a::b QUALIFY\nSELECT 'x::y ILIKE // median(' AS s /* GROUP BY ALL */")).toEqual([]);
  // standard SQL that both engines run is not flagged
  expect(dialectFindings("SELECT CAST(id AS VARCHAR) AS id, count(*) FILTER (WHERE gender = 'female') AS n, date_diff('day', DATE '2020-01-01', DATE '2020-02-01') AS d FROM patient GROUP BY 1")).toEqual([]);
});
