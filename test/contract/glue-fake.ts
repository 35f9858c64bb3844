/** An in-memory fake of the Glue Data Catalog behind aws-sdk-client-mock (databases, tables, partitions). */
import {
  AlreadyExistsException,
  BatchCreatePartitionCommand,
  CreateDatabaseCommand,
  CreateTableCommand,
  EntityNotFoundException,
  GetDatabaseCommand,
  GetPartitionsCommand,
  GetTableCommand,
  GlueClient,
  UpdateTableCommand,
  type Partition,
  type Table,
} from '@aws-sdk/client-glue';
import { mockClient } from 'aws-sdk-client-mock';

export interface GlueState {
  databases: Set<string>;
  tables: Map<string, Table>;
  partitions: Map<string, Map<string, Partition>>;
}

const meta = { $metadata: {} };

/** Mocks GlueClient with a Glue that keeps state; returns the state and the mock (for call assertions). */
export function fakeGlue(): { state: GlueState; mock: ReturnType<typeof mockClient>; client: GlueClient } {
  const state: GlueState = { databases: new Set(), tables: new Map(), partitions: new Map() };
  const mock = mockClient(GlueClient);
  const tkey = (db?: string, name?: string): string => `${db}.${(name ?? '').toLowerCase()}`;
  const needDb = (db?: string): void => {
    if (!state.databases.has(db ?? '')) throw new EntityNotFoundException({ message: `Database ${db} not found`, ...meta });
  };
  mock.on(CreateDatabaseCommand).callsFake((input) => {
    const name = input.DatabaseInput.Name;
    if (state.databases.has(name)) throw new AlreadyExistsException({ message: `Database ${name} already exists`, ...meta });
    state.databases.add(name);
    return {};
  });
  mock.on(GetDatabaseCommand).callsFake((input) => {
    needDb(input.Name);
    return { Database: { Name: input.Name } };
  });
  mock.on(CreateTableCommand).callsFake((input) => {
    needDb(input.DatabaseName);
    const k = tkey(input.DatabaseName, input.TableInput.Name);
    if (state.tables.has(k)) throw new AlreadyExistsException({ message: `Table ${k} already exists`, ...meta });
    state.tables.set(k, structuredClone({ ...input.TableInput, Name: input.TableInput.Name.toLowerCase(), DatabaseName: input.DatabaseName }));
    return {};
  });
  mock.on(UpdateTableCommand).callsFake((input) => {
    const k = tkey(input.DatabaseName, input.TableInput.Name);
    if (!state.tables.has(k)) throw new EntityNotFoundException({ message: `Table ${k} not found`, ...meta });
    state.tables.set(k, structuredClone({ ...input.TableInput, Name: input.TableInput.Name.toLowerCase(), DatabaseName: input.DatabaseName }));
    return {};
  });
  mock.on(GetTableCommand).callsFake((input) => {
    needDb(input.DatabaseName);
    const t = state.tables.get(tkey(input.DatabaseName, input.Name));
    if (!t) throw new EntityNotFoundException({ message: `Table ${input.Name} not found`, ...meta });
    return { Table: structuredClone(t) };
  });
  mock.on(BatchCreatePartitionCommand).callsFake((input) => {
    const k = tkey(input.DatabaseName, input.TableName);
    if (!state.tables.has(k)) throw new EntityNotFoundException({ message: `Table ${k} not found`, ...meta });
    if ((input.PartitionInputList ?? []).length > 100) throw new Error('ValidationException: at most 100 partitions');
    const parts = state.partitions.get(k) ?? new Map<string, Partition>();
    state.partitions.set(k, parts);
    const Errors = [];
    for (const p of input.PartitionInputList ?? []) {
      const pk = (p.Values ?? []).join('\u0000');
      if (parts.has(pk)) {
        Errors.push({ PartitionValues: p.Values, ErrorDetail: { ErrorCode: 'AlreadyExistsException', ErrorMessage: 'Partition already exists.' } });
        continue;
      }
      parts.set(pk, structuredClone({ ...p, DatabaseName: input.DatabaseName, TableName: input.TableName }));
    }
    return { Errors };
  });
  mock.on(GetPartitionsCommand).callsFake((input) => {
    const k = tkey(input.DatabaseName, input.TableName);
    if (!state.tables.has(k)) throw new EntityNotFoundException({ message: `Table ${k} not found`, ...meta });
    const all = [...(state.partitions.get(k)?.values() ?? [])];
    // two pages, to exercise NextToken
    const start = input.NextToken ? Number(input.NextToken) : 0;
    const page = all.slice(start, start + 2);
    return { Partitions: structuredClone(page), NextToken: start + 2 < all.length ? String(start + 2) : undefined };
  });
  return { state, mock, client: new GlueClient({ region: 'eu-west-2', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }) };
}
