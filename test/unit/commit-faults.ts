/**
 * The rig of the fault-injection suite (test/unit/commit-faults.test.ts): the real write path and the real local
 * adapters, in process (FileVersionIndex on disk, the envelope identity vault with the local keyring, the local
 * hash-chained audit log on disk, the real pseudonymiser with the shipped policy; the lake and identity buckets in
 * memory with S3 semantics; events kept in memory), every port behind a decorator that can fail its n-th call,
 * either before the call (nothing happened) or after it (it happened, the caller is told it failed).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IndexKeys, Ingestor, type WriteRequest, type WriteResult } from '../../src/core/ingest';
import { recordRequest } from '../../src/core/use-cases';
import type { AuditLog, EventBus, IdentityVault, ObjectStore, TributaryEvent, VersionIndex } from '../../src/core/ports';
import { MemoryObjectStore } from '../../src/adapters/local/memory-object-store';
import { FileVersionIndex } from '../../src/adapters/local/file-version-index';
import { createLocalIdentityVault } from '../../src/adapters/local/identity-vault';
import { createLocalAuditLog, localAuditDir } from '../../src/adapters/local/audit-log';
import { LocalKeyService } from '../../src/adapters/local/key-service';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../../src/core/pseudonymise';
import { createPseudonymiser, parsePolicy } from '../../src/fhir/pseudo';
import { getStatus } from '../../src/fhir/outcomes';
import { normalizeError } from '../../src/fhir/errors';

/** The error an injected fault throws. */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault';
}

/** The ports the suite fails. */
export type PortName = 'ObjectStore' | 'VersionIndex' | 'EventBus' | 'IdentityVault' | 'AuditLog';

/** Where a fault is: the n-th call (1-based) to a port, before or after the call itself. */
export interface Fault {
  port: PortName;
  n: number;
  when: 'before' | 'after';
}

/** Counts calls per port; fails the one the armed fault names. */
export class FaultPlan {
  calls: Record<PortName, number> = { ObjectStore: 0, VersionIndex: 0, EventBus: 0, IdentityVault: 0, AuditLog: 0 };
  fault?: Fault;
  fired = false;

  reset(fault?: Fault): void {
    this.calls = { ObjectStore: 0, VersionIndex: 0, EventBus: 0, IdentityVault: 0, AuditLog: 0 };
    this.fault = fault;
    this.fired = false;
  }

  /** Wraps every method of `target` so its calls are counted and the armed one fails. */
  wrap<T extends object>(port: PortName, target: T): T {
    return new Proxy(target, {
      get: (t, prop, receiver) => {
        const v = Reflect.get(t, prop, receiver);
        if (typeof v !== 'function' || prop === 'constructor') return v;
        return async (...args: unknown[]) => {
          const n = ++this.calls[port];
          const f = this.fault;
          const hit = f !== undefined && f.port === port && f.n === n;
          if (hit && f.when === 'before') {
            this.fired = true;
            throw new InjectedFault(`${port} call ${n} (before)`);
          }
          const r = await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
          if (hit) {
            this.fired = true;
            throw new InjectedFault(`${port} call ${n} (after)`);
          }
          return r;
        };
      },
    });
  }
}

/** An event bus that keeps what it delivered. */
export class KeptEvents implements EventBus {
  readonly events: TributaryEvent[] = [];
  async publish(events: TributaryEvent[]): Promise<void> {
    this.events.push(...events);
  }
}

/** Everything one case looks at. */
export interface FaultRig {
  dir: string;
  plan: FaultPlan;
  lake: MemoryObjectStore;
  identityStore: MemoryObjectStore;
  versions: VersionIndex;
  events: KeptEvents;
  vault: IdentityVault;
  audit: AuditLog;
  ingestor: Ingestor;
  indexKeys: IndexKeys;
  /** The ports as the recovery sees them (no faults: recovery runs after the fault). */
  clean: { lake: ObjectStore; versions: VersionIndex; events: EventBus; identity: IdentityVault; audit: AuditLog; clock: { now(): Date } };
  /** Sends a request like the API handler does: the write, then the handler's audit record unless the commit wrote it. */
  send(req: WriteRequest): Promise<{ status: number; result?: WriteResult }>;
  /** The audit records on disk, as parsed JSON text. */
  auditTexts(): string[];
}

const REPO = path.resolve(__dirname, '../..');
const POLICY = fs.readFileSync(path.join(REPO, 'policy/pseudonymisation.yaml'), 'utf8');

/** A fresh rig in a temporary directory. */
export async function faultRig(): Promise<FaultRig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-faults-'));
  const plan = new FaultPlan();
  const lake = new MemoryObjectStore('lake');
  const identityStore = new MemoryObjectStore('identity');
  const versions = new FileVersionIndex(path.join(dir, 'index'));
  const events = new KeptEvents();
  const vault = await createLocalIdentityVault({ store: identityStore, dataDir: dir });
  const audit = createLocalAuditLog(dir);
  const keys = await LocalKeyService.open(dir);
  const indexKeys = await new IndexKeys(keys).init();
  const clock = { now: () => new Date() };
  const transform = new PseudonymiseTransform(
    Promise.resolve(createPseudonymiser({ policy: parsePolicy(POLICY), keys, patientResolver: new VersionIndexPatientResolver(versions, indexKeys) })),
  );
  const faulty = {
    lake: plan.wrap('ObjectStore', lake),
    versions: plan.wrap('VersionIndex', versions),
    events: plan.wrap('EventBus', events),
    identity: plan.wrap('IdentityVault', vault),
    audit: plan.wrap('AuditLog', audit),
  };
  const ingestor = new Ingestor({ ...faulty, clock, validate: () => [], transform, indexKeys });
  const send = async (req: WriteRequest): Promise<{ status: number; result?: WriteResult }> => {
    let status: number;
    let result: WriteResult | undefined;
    try {
      result = await ingestor.write(req);
      status = getStatus(result.response[0]);
    } catch (err) {
      status = getStatus(normalizeError(err));
    }
    if (!result?.audited) {
      try {
        await recordRequest(faulty.audit, clock, { requestId: req.requestId, principal: req.principal, interaction: 'create', status });
      } catch {
        status = 500; // fail closed, like the handler (only ever for a request that did not commit)
      }
    }
    return { status, result };
  };
  // every writer chain's records (`audit/chains/{writer}/{sequence}.json`, per-writer chains: docs/audit.md)
  const auditTexts = (): string[] => {
    const d = path.join(localAuditDir(dir), 'chains');
    if (!fs.existsSync(d)) return [];
    return fs
      .readdirSync(d)
      .flatMap((w) => fs.readdirSync(path.join(d, w)).filter((f) => f.endsWith('.json')).map((f) => fs.readFileSync(path.join(d, w, f), 'utf8')));
  };
  return { dir, plan, lake, identityStore, versions, events, vault, audit, ingestor, indexKeys, clean: { lake, versions, events, identity: vault, audit, clock }, send, auditTexts };
}
