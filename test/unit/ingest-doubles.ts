/**
 * Test doubles of the write path's ports, all in memory, each with a fault switch: the lake (the in-memory
 * ObjectStore with failing puts/copies), a VersionIndex, an EventBus, an IdentityVault, a lake transform that
 * pseudonymises Patients the simple way, a validator with two rules, and an {@link Ingestor} wired over them.
 */
import { createHmac } from 'node:crypto';
import type { OperationOutcomeIssue, Resource } from 'fhir/r4';
import { IndexKeys, Ingestor, type IdentifierHasher, type LakeTransform, type Principal, type ResourceValidator, type TransformResult, type WriteRequest } from '../../src/core/ingest';
import {
  VersionConflictError,
  type EventBus,
  type IdentityEntry,
  type IdentityRef,
  type IdentityVault,
  type KeyService,
  type ObjectMetadata,
  type TributaryEvent,
  type VersionIndex,
  type VersionRecord,
} from '../../src/core/ports';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';

/** The error every injected fault throws (an adapter's failure: not an OperationOutcomeError). */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

/** The in-memory lake, whose puts and copies can be made to fail by key. */
export class FaultyObjectStore extends MemoryObjectStore {
  /** Put of a key for which this returns true throws {@link InjectedFault}. */
  failPut?: (key: string) => boolean;
  /** Copy to a key for which this returns true throws {@link InjectedFault}. */
  failCopy?: (toKey: string) => boolean;

  override async put(key: string, body: Uint8Array | string, opts?: { contentType?: string; metadata?: ObjectMetadata; checksumSha256?: string }): Promise<void> {
    if (this.failPut?.(key)) throw new InjectedFault(`put ${key}`);
    return super.put(key, body, opts);
  }

  override async copy(fromKey: string, toKey: string): Promise<void> {
    if (this.failCopy?.(toKey)) throw new InjectedFault(`copy to ${toKey}`);
    return super.copy(fromKey, toKey);
  }

  /** Every key, sorted. */
  keys(): string[] {
    return [...this.objects.keys()].sort();
  }

  /** An object's text. */
  text(key: string): string | undefined {
    const o = this.objects.get(key);
    return o ? Buffer.from(o.body).toString('utf8') : undefined;
  }

  /** The resources of an NDJSON object. */
  ndjson(key: string): any[] {
    return (this.text(key) ?? '').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  }
}

/** A VersionIndex in a Map, atomic like the real ones: any failed expectation writes nothing. */
export class MemoryVersionIndex implements VersionIndex {
  readonly records = new Map<string, VersionRecord>();
  /** Thrown by the next commit, instead of committing (then cleared). */
  failNextCommit?: Error;
  commits = 0;

  async get(keys: string[]): Promise<Map<string, VersionRecord>> {
    const out = new Map<string, VersionRecord>();
    for (const k of keys) {
      const r = this.records.get(k);
      if (r) out.set(k, { ...r });
    }
    return out;
  }

  async commit(entries: { key: string; expected?: string; record: VersionRecord }[]): Promise<void> {
    this.commits++;
    const fault = this.failNextCommit;
    this.failNextCommit = undefined;
    if (fault) throw fault;
    for (const e of entries) if (this.records.get(e.key)?.versionId !== e.expected) throw new VersionConflictError(e.key);
    for (const e of entries) this.records.set(e.key, { ...e.record });
  }
}

/** An EventBus that keeps what it was given. */
export class MemoryEventBus implements EventBus {
  readonly events: TributaryEvent[] = [];
  fail?: Error;

  async publish(events: TributaryEvent[]): Promise<void> {
    if (this.fail) throw this.fail;
    this.events.push(...events);
  }
}

/**
 * An IdentityVault in Maps, append-only like the real one: `records` holds the current records
 * (`{pseudonym}|{source}|{requestId}-{seq}` → record), `pending` those staged by requests not (yet) committed.
 */
export class MemoryIdentityVault implements IdentityVault {
  readonly records = new Map<string, unknown>();
  readonly pending = new Map<string, unknown>();
  fail?: Error;

  private static key(requestId: string, r: IdentityRef): string {
    return `${r.pseudonym}|${r.source}|${requestId}-${r.seq}`;
  }

  async stage(requestId: string, records: (IdentityRef & { record: unknown })[]): Promise<void> {
    if (this.fail) throw this.fail;
    for (const r of records) this.pending.set(MemoryIdentityVault.key(requestId, r), r.record);
  }

  async promote(requestId: string, refs: IdentityRef[]): Promise<void> {
    if (this.fail) throw this.fail;
    for (const r of refs) {
      const k = MemoryIdentityVault.key(requestId, r);
      if (this.pending.has(k)) this.records.set(k, this.pending.get(k));
      this.pending.delete(k);
    }
  }

  async discard(requestId: string, refs: IdentityRef[]): Promise<void> {
    for (const r of refs) this.pending.delete(MemoryIdentityVault.key(requestId, r));
  }

  async get(pseudonym: string): Promise<IdentityEntry[]> {
    return [...this.records].filter(([k]) => k.startsWith(`${pseudonym}|`)).map(([k, record]) => ({ source: k.split('|')[1]!, record }));
  }

  /** The current records of `{pseudonym}|{source}` (oldest first). */
  of(pseudonym: string, source: string): unknown[] {
    return [...this.records].filter(([k]) => k.startsWith(`${pseudonym}|${source}|`)).map(([, r]) => r);
  }
}

/** A KeyService with a fixed test key (HMAC-SHA256, like the local one). */
export const testKeys: KeyService = {
  keyVersion: 'test-1',
  mac: async (m: string) => createHmac('sha256', 'test-index-key').update(m, 'utf8').digest('hex'),
};

/** The index keys of the test key (ready to use). */
export const testIndexKeys = (): Promise<IndexKeys> => new IndexKeys(testKeys).init();

/**
 * A lake transform that pseudonymises Patients the simple way: lake id `pseudo-{id}`, `name` and `identifier`
 * moved to the identity record; other resources are copied as they are.
 */
export class FakePseudonymiser implements LakeTransform {
  readonly policyVersion = 'test-policy-1';
  calls = 0;
  fail?: Error;

  async apply(resources: Resource[], ctx: { source: string; requestId: string }): Promise<TransformResult> {
    this.calls++;
    if (this.fail) throw this.fail;
    const isPatient = (r: Resource): boolean => r.resourceType === 'Patient';
    return {
      resources: resources.map((r) => {
        if (!isPatient(r)) return structuredClone(r);
        const { name: _name, identifier: _identifier, ...rest } = structuredClone(r) as Resource & { name?: unknown; identifier?: unknown };
        return { ...rest, id: `pseudo-${r.id}` } as Resource;
      }),
      identities: resources
        .filter(isPatient)
        .map((r) => ({ pseudonym: `pseudo-${r.id}`, source: ctx.source, record: { name: (r as { name?: unknown }).name, identifier: (r as { identifier?: unknown }).identifier } })),
      lakeIds: resources.map((r) => (isPatient(r) ? `pseudo-${r.id}` : undefined)),
    };
  }
}

/**
 * A validator with two rules: an Observation needs `status` (`required`, 400); an Observation whose status is
 * `entered-in-error` breaks a business rule (422). Issues are rooted at the given FHIRPath.
 */
export const testValidator: ResourceValidator & { calls: number } = Object.assign(
  (resource: Resource, root: string): OperationOutcomeIssue[] => {
    testValidator.calls++;
    if (resource.resourceType !== 'Observation') return [];
    const status = (resource as { status?: string }).status;
    if (!status) return [{ severity: 'error', code: 'required', diagnostics: 'Observation.status: minimum required = 1', expression: [`${root}.status`] }];
    if (status === 'entered-in-error') return [{ severity: 'error', code: 'business-rule', diagnostics: 'No entered-in-error data', expression: [`${root}.status`] }];
    return [];
  },
  { calls: 0 },
);

/** The fixed time of every test write. */
export const NOW = new Date('2024-05-01T10:00:00.000Z');

/** Everything an {@link Ingestor} test looks at. */
export interface IngestRig {
  ingestor: Ingestor;
  lake: FaultyObjectStore;
  versions: MemoryVersionIndex;
  events: MemoryEventBus;
  identity: MemoryIdentityVault;
  transform: FakePseudonymiser;
  /** The fixed clock ({@link NOW}). */
  clock: { now(): Date };
  /** The version-index key of a resource (keyed hash of `type/id`). */
  indexKey(type: string, id: string): string;
  /** The version index's resource keys (its `Request/` commit entries left out), sorted. */
  resourceKeys(): string[];
  /** A write request of source `gp-a` (request ids `req-1`, `req-2`, … unless given). */
  request(r: Partial<WriteRequest> & Pick<WriteRequest, 'method' | 'body'>): WriteRequest;
}

/** An {@link Ingestor} over fresh doubles; server ids are `id-1`, `id-2`, … */
export function ingestRig(opts: { principal?: Partial<Principal>; identifiers?: IdentifierHasher } = {}): IngestRig {
  const lake = new FaultyObjectStore('test-lake');
  const versions = new MemoryVersionIndex();
  const events = new MemoryEventBus();
  const identity = new MemoryIdentityVault();
  const transform = new FakePseudonymiser();
  const keys = new IndexKeys(testKeys);
  let ids = 0;
  let requests = 0;
  const ingestor = new Ingestor({
    lake,
    versions,
    events,
    identity,
    transform,
    clock: { now: () => NOW },
    validate: testValidator,
    indexKeys: keys,
    newId: () => `id-${++ids}`,
    ...(opts.identifiers ? { identifiers: opts.identifiers } : {}),
  });
  const principal: Principal = { source: 'gp-a', clientId: 'client-a', ...opts.principal };
  return {
    ingestor,
    lake,
    versions,
    events,
    identity,
    transform,
    clock: { now: () => NOW },
    indexKey: (type, id) => keys.resource(type, id),
    resourceKeys: () => [...versions.records.keys()].filter((k) => !k.startsWith('Request/')).sort(),
    request: (r) => ({ requestId: `req-${++requests}`, principal, ...r }),
  };
}

/** The identifier index's keyed hashing for tests: HMAC-SHA256 under a fixed test key, per source. */
export const testIdentifierHasher: IdentifierHasher = {
  identifierHash: async (source, text) => createHmac('sha256', 'test-key').update(`${source}\u0000${text}`).digest('hex').slice(0, 32),
};

/** The rejection of a promise (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection, got a result');
}
