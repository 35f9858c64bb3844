/** The lake and marts key layout (src/core/lake-layout.ts), and the core's server-fault errors. */
import {
  COMMITS_PREFIX,
  COMPACTION_PREFIX,
  MARTS_PREFIX,
  RAW_PREFIX,
  STAGING_PREFIX,
  commitManifestKey,
  commitManifestPrefix,
  compactedFileKey,
  compactionManifestKey,
  isCompactedFileKey,
  isValidSource,
  lakeKey,
  martKey,
  martPartitionPrefix,
  martTablePrefix,
  parseLakeKey,
  partitionDate,
  partitionPath,
  rawTypePrefix,
  stagingKey,
} from '../../src/core/lake-layout';
import { CatalogError, historyTableDefinition, rawTableDefinition, versionsTableDefinition } from '../../src/core/catalog';
import { EtlError } from '../../src/core/etl';
import { AuditAppendError } from '../../src/core/audit/chain';
import { ServerFault, normalizeError } from '../../src/fhir/errors';
import { serverError } from '../../src/fhir/outcomes';

describe('lake bucket', () => {
  test('prefixes', () => {
    expect([RAW_PREFIX, STAGING_PREFIX, COMMITS_PREFIX, MARTS_PREFIX, COMPACTION_PREFIX]).toEqual(['raw/', 'staging/', 'commits/', 'marts/', 'compaction/']);
  });

  test('lake object keys are built and parsed back', () => {
    const parts = { resourceType: 'Observation', source: 'gp-1', date: '2024-05-01', base: 'abc-123' };
    const key = lakeKey(parts);
    expect(key).toBe('raw/Observation/source=gp-1/date=2024-05-01/abc-123.ndjson');
    expect(parseLakeKey(key)).toEqual(parts);
    expect(rawTypePrefix('Observation')).toBe('raw/Observation/');
  });

  test.each([
    'raw/Observation/source=../date=2024-05-01/x.ndjson',
    'raw/observation/source=gp-1/date=2024-05-01/x.ndjson',
    'raw/Observation/source=gp-1/date=2024-5-1/x.ndjson',
    'raw/Observation/source=gp-1/date=2024-05-01/x.json',
    'staging/x/Observation.ndjson',
  ])('not a lake object key: %s', (key) => {
    expect(parseLakeKey(key)).toBeUndefined();
  });

  test('staging and commit manifest keys', () => {
    expect(stagingKey('req-1', 'Patient')).toBe('staging/req-1/Patient.ndjson');
    expect(commitManifestKey('2024-05-01', 'req-1')).toBe('commits/date=2024-05-01/req-1.json');
    expect(commitManifestPrefix('2024-05-01')).toBe('commits/date=2024-05-01/');
    expect(commitManifestPrefix()).toBe('commits/');
  });

  test('partition values', () => {
    expect(partitionDate(new Date('2024-05-01T23:59:59.999Z'))).toBe('2024-05-01');
    expect(partitionPath({ source: 'gp-1', date: '2024-05-01' })).toBe('source=gp-1/date=2024-05-01/');
    expect(isValidSource('leeds-gp.v2_a')).toBe(true);
    for (const bad of ['', '-gp', '../gp', 'gp/1', 'gp 1', 'x'.repeat(65)]) expect(isValidSource(bad)).toBe(false);
  });
});

describe('marts bucket', () => {
  const lake = { resourceType: 'Observation', source: 'gp-1', date: '2024-05-01', base: 'abc-123' };

  test('table files, partitions and compaction', () => {
    expect(martTablePrefix('observation')).toBe('marts/observation/');
    expect(martPartitionPrefix('marts/observation/', lake)).toBe('marts/observation/source=gp-1/date=2024-05-01/');
    expect(martKey('marts/observation/', lake)).toBe('marts/observation/source=gp-1/date=2024-05-01/abc-123-Observation.parquet');
    const compacted = compactedFileKey('marts/observation/source=gp-1/date=2024-05-01/', '0123456789abcdef');
    expect(compacted).toBe('marts/observation/source=gp-1/date=2024-05-01/compacted-0123456789abcdef.parquet');
    expect(isCompactedFileKey(compacted)).toBe(true);
    expect(isCompactedFileKey(martKey('marts/observation/', lake))).toBe(false);
    expect(compactionManifestKey(lake)).toBe('compaction/source=gp-1/date=2024-05-01.json');
  });

  test('the table definitions are located by the layout', () => {
    const view = { name: 'observation', resourceType: 'Observation', columns: [] };
    expect(historyTableDefinition(view, 'm').location).toEqual({ bucket: 'm', prefix: 'marts/observation/' });
    expect(versionsTableDefinition('m').location).toEqual({ bucket: 'm', prefix: 'marts/resource_versions/' });
    expect(rawTableDefinition('Observation', 'l').location).toEqual({ bucket: 'l', prefix: 'raw/Observation/' });
  });
});

describe('server faults of the core', () => {
  test.each([
    ['EtlError', (m: string, o: { cause?: unknown }) => new EtlError(m, o)],
    ['CatalogError', (m: string, o: { cause?: unknown }) => new CatalogError(m, o)],
    ['AuditAppendError', (m: string, o: { cause?: unknown }) => new AuditAppendError(m, o)],
  ])('%s is a ServerFault keeping its name, message and cause; clients get the generic 500', (name, make) => {
    const cause = new Error('socket hang up');
    const err = make('lake object raw/x does not exist', { cause });
    expect(err).toBeInstanceOf(ServerFault);
    expect(err.name).toBe(name);
    expect(err.message).toBe('lake object raw/x does not exist');
    expect(err.cause).toBe(cause);
    expect(normalizeError(err)).toEqual(serverError());
  });
});
