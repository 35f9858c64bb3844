/**
 * A query's snapshot of the local catalogue creates only what the SQL needs (src/adapters/local/duckdb-catalog.ts,
 * definitionsFor): the views it names and, transitively, what they read; everything when it names none.
 */
import { definitionsFor } from '../../src/adapters/local/duckdb-catalog';

const defs = [
  { name: 'resource_versions', create_sql: "CREATE VIEW resource_versions AS SELECT * FROM read_parquet('v/*.parquet')" },
  { name: 'encounter_history', create_sql: "CREATE VIEW encounter_history AS SELECT * FROM read_parquet('e/*.parquet')" },
  { name: 'patient_link_history', create_sql: "CREATE VIEW patient_link_history AS SELECT * FROM read_parquet('l/*.parquet')" },
  { name: 'patient_link', create_sql: 'CREATE VIEW patient_link AS SELECT * FROM patient_link_history JOIN resource_versions USING (x)' },
  { name: 'encounter', create_sql: 'CREATE VIEW encounter AS SELECT * FROM encounter_history h JOIN resource_versions v USING (x) LEFT JOIN patient_link pl USING (y)' },
  { name: 'observation_history', create_sql: "CREATE VIEW observation_history AS SELECT * FROM read_parquet('o/*.parquet')" },
];

test('a named view brings what it reads, transitively, and nothing else', () => {
  expect(definitionsFor(defs, "SELECT count(*) FROM Encounter WHERE _source = 'gp'").map((d) => d.name).sort()).toEqual(
    ['encounter', 'encounter_history', 'patient_link', 'patient_link_history', 'resource_versions'],
  );
  // a name inside a longer identifier is not a reference
  expect(definitionsFor(defs, 'SELECT * FROM observation_history').map((d) => d.name)).toEqual(['observation_history']);
});

test('SQL naming no view gets every definition, in the catalogue order', () => {
  expect(definitionsFor(defs, 'SHOW TABLES')).toEqual(defs);
  expect(definitionsFor(defs, 'SELECT table_name FROM information_schema.tables')).toEqual(defs);
});
