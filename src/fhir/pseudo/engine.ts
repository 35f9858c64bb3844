/**
 * The pseudonymisation engine (issue 3): applied by the ingest pipeline to every accepted request after
 * validation and before storage. It splits direct identifiers out into identity records (for the identity
 * store), replaces the patient's identity with a stable keyed pseudonym so one person links up across sources,
 * keyed-hashes every other source id, removes or scrubs free text, filters extensions, and tags the output.
 * The output stays valid against the R4 JSON schema.
 *
 * Pure apart from `node:crypto`: keys come through the {@link KeyService} port, which is only awaited for
 * patient pseudonyms (batched, at most one call per distinct person) and once for the id-hashing key.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Bundle, Resource } from 'fhir/r4';
import type { KeyService } from './keys';
import { outcome } from '../outcomes';
import { ClientError } from '../errors';
import { Cat, CompiledPolicy, Special, type Choice, type ElemPlan, type NodePlan } from './compile';
import { generalizeDate, generalizePostalCode } from './generalize';
import { PERSON_TYPES, personValues, referencedPersonNames } from './leaks';
import { mapLimit } from '../../lib/concurrency';
import { buildMatcher, type IdentifierValue, type ValueMatcher } from './matcher';
import { NHS_NUMBER_SYSTEM, isValidNhsNumber, normaliseNhsNumber } from './nhs-number';
import type { Policy, PolicyParameters } from './policy';

/** meta.security label on every pseudonymised resource (v3 ObservationValue PSEUDED). */
export const PSEUDED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'PSEUDED',
  display: 'pseudonymized',
} as const;
/** meta.tag system carrying the policy version. */
export const POLICY_TAG_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/pseudonymisation-policy';
/** meta.tag system carrying the key version (so keys can be rotated and old data re-keyed). */
export const KEY_TAG_SYSTEM = 'https://tributary.nhs.example/fhir/CodeSystem/pseudonymisation-key';
/** The fixed narrative a redacted Narrative becomes (status `empty`: "the resource has no narrative, only a placeholder"). */
export const NARRATIVE_PLACEHOLDER = '<div xmlns="http://www.w3.org/1999/xhtml">Narrative removed by pseudonymisation.</div>';

/** Extension put on a required element the policy emptied (https://hl7.org/fhir/R4/extension-data-absent-reason.html). */
export const MASKED = { url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'masked' } as const;

/** Label MACed once to derive the local id-hashing key (see {@link createPseudonymiser}). */
export const ID_HASH_KEY_LABEL = 'tributary:v1:id-hash-key';
/** Namespace of every pseudonym MAC input; the kind (`nhs:`, `id:`, `src:`) follows, so kinds cannot collide. */
export const PSEUDONYM_NAMESPACE = 'tributary:v1:pseudonym:';

/**
 * Looks up pseudonyms already assigned to a source's patients (e.g. an index the pipeline keeps from
 * {@link PseudonymiseResult.idMap}), so `Patient/{id}` references to a patient sent in an earlier request
 * get that patient's pseudonym. Without one, such references fall back to the pseudonym of `source|Patient/id`.
 */
export interface PatientResolver {
  /** Pseudonyms by source patient id, for the ids it knows. */
  resolve(source: string, patientIds: string[]): Promise<Map<string, string>>;
}

/**
 * Supplies the identifying values of patients a request refers to without sending them (typically from their
 * identity records: `identityValues((await vault.get(p)))`), so kept free text is scrubbed of those too.
 * Costs one identity-store read per referenced patient; optional.
 */
export interface IdentityLookup {
  lookup(pseudonyms: string[]): Promise<IdentifierValue[]>;
}

/** Options of {@link createPseudonymiser}. */
export interface PseudonymiserOptions {
  policy: Policy;
  keys: KeyService;
  patientResolver?: PatientResolver;
  identityLookup?: IdentityLookup;
  /** Time source for `receivedAt` when the context gives none. */
  clock?: { now(): Date };
  /** Parallel KeyService calls per request (default 16). */
  macConcurrency?: number;
}

/** Per-request context. */
export interface PseudonymiseContext {
  /** Source system (authenticated client); namespaces hashed ids and fallback pseudonyms. */
  source: string;
  receivedAt?: Date;
  /**
   * Identifying values known for the people concerned from elsewhere (e.g. their identity records), also
   * scrubbed from kept text. The people in the request itself are always included.
   */
  knownIdentities?: IdentifierValue[];
}

/** One element moved into an identity record. */
export interface VaultedElement {
  /** Canonical FHIRPath of the element (`Patient.name`). */
  path: string;
  /** The element's JSON value as received. */
  value: unknown;
  /** The primitive's `_element` sibling (e.g. `_birthDate` with patient-birthTime), when present. */
  extension?: unknown;
}

/** The identity record of one pseudonym from one source: what was moved out of the lake. */
export interface IdentityRecord {
  pseudonym: string;
  source: string;
  resourceType: string;
  /** The ids the source used for this person's resources (`Patient/123`). */
  sourceIds: string[];
  keyVersion: string;
  policyVersion: string;
  receivedAt: string;
  elements: VaultedElement[];
}

/** Where each input resource/entry went. */
export interface PseudonymisedEntry {
  /** Index in the input array or Bundle.entry. */
  index: number;
  resourceType?: string;
  /** The client's id, when it sent one. */
  sourceId?: string;
  fullUrl?: string;
  /** The lake id (pseudonym for a Patient, hashed id otherwise). */
  lakeId?: string;
  /** Index of the resource in {@link PseudonymiseResult.resources}. */
  resourceIndex?: number;
}

/** Counts (no values) for logs and metrics. */
export interface PseudoStats {
  resources: number;
  patients: number;
  vaultedElements: number;
  removedElements: number;
  scrubbedStrings: number;
  removedExtensions: number;
  generalized: number;
  keyCalls: number;
}

/** What {@link Pseudonymiser.pseudonymise} returns. */
export interface PseudonymiseResult {
  /** Pseudonymised resources, in input order (entries without a resource are skipped). */
  resources: Resource[];
  /** Identity records to store in the identity vault (`IdentityVault.put(pseudonym, source, record)`). */
  identities: { pseudonym: string; source: string; record: IdentityRecord }[];
  /**
   * `Type/clientId` (and each entry's fullUrl) → `Type/lakeId`, for every resource in the request and every
   * patient it references. Location headers use the client's ids; the lake stores the hashed ones.
   */
  idMap: Map<string, string>;
  /** One per input resource or Bundle entry. */
  entries: PseudonymisedEntry[];
  /** For a batch/transaction Bundle input: the same Bundle, pseudonymised (fullUrls and request URLs rewritten). */
  bundle?: Bundle;
  stats: PseudoStats;
}

type Json = Record<string, any>;

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
/** RFC 4648 base32, lower case, no padding. */
function base32(buf: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (let i = 0; i < buf.length; i++) {
    value = (value << 8) | buf[i]!;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 9562 version-8 UUID formatted from hash bytes. */
function uuidFrom(h: Buffer): string {
  const b = Buffer.from(h.subarray(0, 16));
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const x = b.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}


/** FHIRPath-style path of `target` inside `root` (for error expressions; only used on error paths). */
function findPath(root: unknown, pred: (v: unknown) => boolean, prefix: string): string | undefined {
  if (pred(root)) return prefix;
  if (Array.isArray(root)) {
    for (let i = 0; i < root.length; i++) {
      const p = findPath(root[i], pred, `${prefix}[${i}]`);
      if (p) return p;
    }
  } else if (root && typeof root === 'object') {
    for (const [k, v] of Object.entries(root)) {
      if (k === 'resourceType') continue;
      const p = findPath(v, pred, `${prefix}.${k}`);
      if (p) return p;
    }
  }
  return undefined;
}

const REF = /^(?:(https?:\/\/.+)\/)?([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const PENDING = '';

/** An input unit: one top-level resource (or an entry without one). */
interface Unit {
  index: number;
  resource: Json | undefined;
  entry: Json | undefined;
  /** Expression prefix for errors: `Bundle.entry[3].resource` or the resource type. */
  expr: string;
  lakeId?: string;
}

interface Pending {
  obj: Json;
  key: string;
  /** Pseudonym MAC input, or undefined when `patientId` must first go through the resolver. */
  input?: string;
  patientId?: string;
}

/** The compiled engine; create once per cold start with {@link createPseudonymiser}. */
export class Pseudonymiser {
  /** The compiled policy (exposed for diagnostics). */
  readonly compiled: CompiledPolicy;
  private idKey: Buffer | undefined;
  private idKeyPromise: Promise<Buffer> | undefined;
  private readonly hashCache = new Map<string, Map<string, string>>();
  private hashCacheSize = 0;
  private readonly params: PolicyParameters;
  private readonly publicTypes: Set<string>;

  constructor(private readonly opts: PseudonymiserOptions) {
    this.compiled = new CompiledPolicy(opts.policy);
    this.params = opts.policy.parameters;
    this.publicTypes = new Set(this.params.publicReferenceTypes);
  }

  /** Version of the policy applied. */
  get policyVersion(): string {
    return this.opts.policy.version;
  }

  /** Version of the key in use (from the KeyService). */
  get keyVersion(): string {
    return this.opts.keys.keyVersion;
  }

  /**
   * Derives (once) the local key used to hash ids. Hashing every resource id, reference and identifier
   * through KMS would cost thousands of calls per request, so one KMS GenerateMac over a fixed label
   * ({@link ID_HASH_KEY_LABEL}) yields a 256-bit key that node:crypto HMAC then uses in process. The derived key
   * never leaves memory and changes whenever the KMS key does. Pseudonyms of people, the linkage key of the
   * whole lake, are MACed by the KeyService itself.
   */
  async init(): Promise<void> {
    if (this.idKey) return;
    this.idKeyPromise ??= this.opts.keys.mac(ID_HASH_KEY_LABEL).then((hex) => Buffer.from(hex, 'hex'));
    this.idKey = await this.idKeyPromise;
  }

  private hmac(input: string): Buffer {
    return createHmac('sha256', this.idKey!).update(input).digest();
  }

  /**
   * Memoised keyed hashes: a short namespace (kind, source, type) then the value itself as the key, so a
   * lookup hashes the (already hashed) id string rather than a freshly concatenated one.
   */
  private cached(ns: string, value: string, make: () => string): string {
    let m = this.hashCache.get(ns);
    if (m === undefined) {
      m = new Map();
      this.hashCache.set(ns, m);
    }
    let v = m.get(value);
    if (v === undefined) {
      v = make();
      if (++this.hashCacheSize > 400_000) {
        this.hashCache.clear();
        this.hashCacheSize = 1;
        m = new Map();
        this.hashCache.set(ns, m);
      }
      m.set(value, v);
    }
    return v;
  }

  /** Keyed hash of a source's resource id: same source + type + id → same lake id; other sources differ. */
  hashId(source: string, type: string, id: string): string {
    return this.cached(`i\u0000${source}\u0000${type}`, id, () => this.params.hashPrefix + base32(this.hmac(`i\u0000${source}\u0000${type}/${id}`).subarray(0, 20)));
  }

  /** Keyed hash of an identifier value; namespaced by its system (or by source when it has none). */
  hashIdentifier(source: string, system: string | undefined, value: string): string {
    const ns = system ? `s\u0000${system}` : `s\u0000\u0000${source}`;
    return this.cached(ns, value, () => this.params.hashPrefix + base32(this.hmac(`${ns}|${value}`).subarray(0, 20)));
  }

  /** Keyed hash of any other string (opaque references, hashed strings), namespaced by source. */
  hashString(source: string, value: string): string {
    return this.cached(`x\u0000${source}`, value, () => this.params.hashPrefix + base32(this.hmac(`x\u0000${source}\u0000${value}`).subarray(0, 20)));
  }

  /** A UUID derived from a string (for urn:uuid values), namespaced by source. */
  uuidFor(source: string, value: string): string {
    return this.cached(`u\u0000${source}`, value, () => uuidFrom(this.hmac(`u\u0000${source}\u0000${value}`)));
  }

  /** The pseudonym for a MAC input (`nhs:9434765919`, `id:system|value`, `src:source|Patient/id`). */
  async pseudonymOf(input: string): Promise<string> {
    const hex = await this.opts.keys.mac(PSEUDONYM_NAMESPACE + input);
    return this.params.pseudonymPrefix + base32(Buffer.from(hex, 'hex').subarray(0, 20));
  }

  /**
   * Pseudonymises one request: a resource, an array of resources, or a Bundle (a batch/transaction Bundle is
   * taken entry by entry; any other Bundle is one resource). Throws a {@link ClientError} (422, with the
   * FHIRPath expression) for an invalid NHS number and (400) for an unknown resource type.
   */
  async pseudonymise(input: Resource | Resource[] | Bundle, ctx: PseudonymiseContext): Promise<PseudonymiseResult> {
    await this.init();
    const run = new Run(this, this.opts, ctx);
    return run.execute(input);
  }

  /** @internal */
  get parameters(): PolicyParameters {
    return this.params;
  }

  /** @internal */
  isPublicType(type: string): boolean {
    return this.publicTypes.has(type);
  }
}

/** One request's state. */
class Run {
  private readonly source: string;
  private readonly p: PolicyParameters;
  private readonly c: CompiledPolicy;
  private matcher: ValueMatcher | undefined;
  private birthDates: Set<string> | undefined;
  private readonly units: Unit[] = [];
  /** fullUrl → `Type/lakeId` */
  private readonly fullUrls = new Map<string, string>();
  /** Patient resource object → pseudonym */
  private readonly patientOf = new Map<object, string>();
  /** source Patient id → pseudonym (patients present in the request) */
  private readonly patientsById = new Map<string, string>();
  /** pseudonym input → pseudonym */
  private readonly pseudonyms = new Map<string, string>();
  /** nested (non-top-level, non-contained) resource → lake id */
  private readonly nestedIds = new Map<object, string>();
  private readonly pending: Pending[] = [];
  /** Where kept strings went (container, key), for scrubbing with looked-up identities; only with an IdentityLookup. */
  private readonly keptAt: [Json | unknown[], string | number][] | undefined;
  /** Pseudonyms of patients referenced but absent from the request. */
  private readonly absentPatients = new Set<string>();
  private readonly records = new Map<string, IdentityRecord>();
  private readonly idMap = new Map<string, string>();
  private containedIds: Map<string, string> | undefined;
  /** Where vaulted elements of the resource being walked go. */
  private subject: { id: string; resourceType: string; sourceId?: string } | undefined;
  private currentPseudonym: string | undefined;
  private readonly receivedAt: string;
  readonly stats: PseudoStats = {
    resources: 0,
    patients: 0,
    vaultedElements: 0,
    removedElements: 0,
    scrubbedStrings: 0,
    removedExtensions: 0,
    generalized: 0,
    keyCalls: 0,
  };

  constructor(
    private readonly e: Pseudonymiser,
    private readonly opts: PseudonymiserOptions,
    private readonly ctx: PseudonymiseContext,
  ) {
    this.source = ctx.source;
    this.p = e.parameters;
    this.c = e.compiled;
    this.receivedAt = (ctx.receivedAt ?? opts.clock?.now() ?? new Date()).toISOString();
    this.keptAt = opts.identityLookup ? [] : undefined;
  }

  async execute(input: Resource | Resource[] | Bundle): Promise<PseudonymiseResult> {
    // 1. Units.
    let batch: Json | undefined;
    if (Array.isArray(input)) {
      input.forEach((r, i) => this.units.push({ index: i, resource: r as Json, entry: undefined, expr: (r as Json)?.resourceType ?? 'Resource' }));
    } else if ((input as Json)?.resourceType === 'Bundle' && ['batch', 'transaction'].includes((input as Json).type)) {
      batch = input as Json;
      ((batch.entry ?? []) as Json[]).forEach((entry, i) =>
        this.units.push({ index: i, resource: entry?.resource, entry, expr: `Bundle.entry[${i}].resource` }),
      );
    } else {
      this.units.push({ index: 0, resource: input as Json, entry: undefined, expr: (input as Json)?.resourceType ?? 'Resource' });
    }

    // 2. Prepass: people, patients' pseudonym inputs, fullUrls of nested bundles.
    const values: IdentifierValue[] = [...(this.ctx.knownIdentities ?? [])];
    const patients: { r: Json; unit: Unit; kind: 'top' | 'nested' | 'contained'; container?: Json }[] = [];
    const nested: { r: Json; fullUrl?: string }[] = [];
    const visited: Json[] = [];
    const visit = (r: Json, unit: Unit, kind: 'top' | 'nested' | 'contained', container?: Json): void => {
      if (!r || typeof r !== 'object') return;
      if (typeof r.resourceType !== 'string') {
        throw new ClientError(outcome(400, 'structure', 'Resource without resourceType', unit.expr));
      }
      if (r.resourceType === 'Patient') patients.push({ r, unit, kind, ...(container ? { container } : {}) });
      personValues(r, values);
      visited.push(r);
      if (Array.isArray(r.contained)) for (const c of r.contained) visit(c, unit, 'contained', r);
      if (r.resourceType === 'Bundle' && Array.isArray(r.entry)) {
        for (const en of r.entry) {
          if (en?.resource) {
            nested.push({ r: en.resource, ...(typeof en.fullUrl === 'string' ? { fullUrl: en.fullUrl } : {}) });
            visit(en.resource, unit, 'nested');
          }
        }
      }
      if (r.resourceType === 'Parameters') {
        const walk = (ps: unknown): void => {
          if (!Array.isArray(ps)) return;
          for (const p of ps) {
            if (p?.resource) {
              nested.push({ r: p.resource });
              visit(p.resource, unit, 'nested');
            }
            walk(p?.part);
          }
        };
        walk(r.parameter);
      }
    };
    for (const u of this.units) if (u.resource) visit(u.resource, u, 'top');
    // Names in Reference.display of references to people (urn:uuid ones only when they resolve to a person here).
    const personUrls = new Set<string>();
    for (const u of this.units) if (typeof u.entry?.fullUrl === 'string' && PERSON_TYPES.has(u.resource?.resourceType)) personUrls.add(u.entry.fullUrl);
    for (const n of nested) if (n.fullUrl !== undefined && PERSON_TYPES.has(n.r.resourceType as string)) personUrls.add(n.fullUrl);
    for (const r of visited) referencedPersonNames(r, values, personUrls);
    if (values.length > 0) {
      this.matcher = buildMatcher(values);
      if (this.matcher.empty) this.matcher = undefined;
      const bd = values.filter((v) => v.kind === 'birthDate').map((v) => v.value);
      if (bd.length && this.p.datesEqualToBirthDate === 'generalize') this.birthDates = new Set(bd);
    }

    // 3. Pseudonyms of the patients in the request (one KeyService call per distinct person).
    const inputs = patients.map((pt) => this.patientInput(pt.r, pt.unit, pt.kind, pt.container));
    await this.macAll(inputs);
    patients.forEach((pt, i) => {
      const ps = this.pseudonyms.get(inputs[i]!)!;
      this.patientOf.set(pt.r, ps);
      if (pt.kind !== 'contained' && typeof pt.r.id === 'string') this.patientsById.set(pt.r.id, ps);
    });
    this.stats.patients = new Set(this.patientOf.values()).size;

    // 4. Lake ids of units and nested resources; the fullUrl map.
    for (const u of this.units) {
      const r = u.resource;
      const fullUrl: unknown = u.entry?.fullUrl;
      if (!r) continue;
      const type = r.resourceType as string;
      const lakeId = this.lakeIdOf(r, typeof fullUrl === 'string' ? fullUrl : undefined);
      u.lakeId = lakeId;
      if (typeof r.id === 'string') this.idMap.set(`${type}/${r.id}`, `${type}/${lakeId}`);
      if (typeof fullUrl === 'string') {
        this.fullUrls.set(fullUrl, `${type}/${lakeId}`);
        this.idMap.set(fullUrl, `${type}/${lakeId}`);
      }
    }
    for (const n of nested) {
      const lakeId = this.lakeIdOf(n.r, n.fullUrl);
      this.nestedIds.set(n.r, lakeId);
      if (n.fullUrl) this.fullUrls.set(n.fullUrl, `${n.r.resourceType}/${lakeId}`);
    }

    // 5. The walk.
    const resources: Resource[] = [];
    const entries: PseudonymisedEntry[] = [];
    const outEntries: Json[] = [];
    for (const u of this.units) {
      const r = u.resource;
      const en: PseudonymisedEntry = { index: u.index };
      if (typeof u.entry?.fullUrl === 'string') en.fullUrl = u.entry.fullUrl;
      let outRes: Json | undefined;
      if (r) {
        en.resourceType = r.resourceType;
        if (typeof r.id === 'string') en.sourceId = r.id;
        en.lakeId = u.lakeId!;
        outRes = this.walkResource(r, u.lakeId!, 'top', u);
        en.resourceIndex = resources.length;
        resources.push(outRes as Resource);
        this.stats.resources++;
      }
      entries.push(en);
      if (batch) outEntries.push(this.batchEntry(u, outRes));
    }

    // 6. References to patients not in the request; their known identities scrubbed from kept text.
    await this.resolvePending();
    await this.scrubAbsentPatients();

    const result: PseudonymiseResult = {
      resources,
      identities: [...this.records.values()].map((record) => ({ pseudonym: record.pseudonym, source: this.source, record })),
      idMap: this.idMap,
      entries,
      stats: this.stats,
    };
    if (batch) {
      const b: Json = { resourceType: 'Bundle' };
      if (typeof batch.id === 'string') b.id = this.e.hashId(this.source, 'Bundle', batch.id);
      b.meta = this.tagMeta({});
      b.type = batch.type;
      if (typeof batch.timestamp === 'string') b.timestamp = batch.timestamp;
      b.entry = outEntries;
      result.bundle = b as Bundle;
    }
    return result;
  }

  private async macAll(inputs: string[]): Promise<void> {
    const todo = [...new Set(inputs)].filter((i) => !this.pseudonyms.has(i));
    if (todo.length === 0) return;
    this.stats.keyCalls += todo.length;
    const out = await mapLimit(todo, this.opts.macConcurrency ?? 16, (i) => this.e.pseudonymOf(i));
    todo.forEach((i, k) => this.pseudonyms.set(i, out[k]!));
  }

  /** MAC input of a Patient: NHS number, else first identifier system|value, else source|Patient/id. */
  private patientInput(r: Json, unit: Unit, kind: string, container?: Json): string {
    const ids: Json[] = Array.isArray(r.identifier) ? r.identifier : [];
    for (const id of ids) {
      if (id?.system === NHS_NUMBER_SYSTEM && typeof id.value === 'string') {
        const n = normaliseNhsNumber(id.value);
        if (!isValidNhsNumber(n)) {
          const at = findPath(unit.resource, (v) => v === id, unit.expr) ?? unit.expr;
          throw new ClientError(
            outcome(422, 'business-rule', 'NHS number is not valid (10 digits with a Modulus 11 check digit)', `${at}.value`),
          );
        }
        return `nhs:${n}`;
      }
    }
    for (const id of ids) {
      if (typeof id?.system === 'string' && typeof id.value === 'string' && id.value !== '') return `id:${id.system}|${id.value}`;
    }
    if (typeof r.id === 'string') {
      if (kind === 'contained' && container) return `src:${this.source}|${container.resourceType}/${container.id ?? ''}#${r.id}`;
      return `src:${this.source}|Patient/${r.id}`;
    }
    // A create without id: its fullUrl (stable across retries), else nothing stable is known.
    if (kind === 'top' && typeof unit.entry?.fullUrl === 'string') return `src:${this.source}|${unit.entry.fullUrl}`;
    return `rnd:${randomUUID()}`;
  }

  private lakeIdOf(r: Json, fullUrl: string | undefined): string {
    const type = r.resourceType as string;
    if (type === 'Patient') return this.patientOf.get(r)!;
    if (typeof r.id === 'string') return this.e.hashId(this.source, type, r.id);
    if (fullUrl) return this.e.hashId(this.source, type, `fullUrl:${fullUrl}`);
    return this.e.hashId(this.source, type, `random:${randomUUID()}`);
  }

  private tagMeta(meta: Json): Json {
    const sec: Json[] = Array.isArray(meta.security) ? meta.security.filter((s: Json) => !(s.system === PSEUDED.system && s.code === PSEUDED.code)) : [];
    sec.push({ ...PSEUDED });
    meta.security = sec;
    const tags: Json[] = Array.isArray(meta.tag) ? meta.tag.filter((t: Json) => t.system !== POLICY_TAG_SYSTEM && t.system !== KEY_TAG_SYSTEM) : [];
    tags.push({ system: POLICY_TAG_SYSTEM, code: this.e.policyVersion }, { system: KEY_TAG_SYSTEM, code: this.e.keyVersion });
    meta.tag = tags;
    return meta;
  }

  // ---------------------------------------------------------------------------------------------------------
  // Resources

  private walkResource(r: Json, id: string, kind: 'top' | 'nested' | 'contained', unit?: Unit): Json {
    const rt = r.resourceType as string;
    let node: NodePlan;
    try {
      node = this.c.resourcePlan(rt);
    } catch {
      throw new ClientError(outcome(400, 'structure', `Unknown resource type ${rt}`, unit?.expr ?? rt));
    }
    const out: Json = { resourceType: rt, id };
    const prevSubject = this.subject;
    const prevPseudonym = this.currentPseudonym;
    const prevContained = this.containedIds;
    if (rt === 'Patient') {
      const ps = this.patientOf.get(r)!;
      this.currentPseudonym = ps;
      this.subject = { id: ps, resourceType: rt, ...(typeof r.id === 'string' && kind !== 'contained' ? { sourceId: `Patient/${r.id}` } : {}) };
    } else if (kind !== 'contained') {
      this.currentPseudonym = undefined;
      this.subject = { id, resourceType: rt, ...(typeof r.id === 'string' ? { sourceId: `${rt}/${r.id}` } : {}) };
    }
    if (Array.isArray(r.contained) && r.contained.length > 0) {
      const map = new Map<string, string>();
      r.contained.forEach((c: Json, i: number) => {
        if (typeof c?.id === 'string') map.set(c.id, `c${i + 1}`);
      });
      this.containedIds = map;
      const contained: Json[] = [];
      r.contained.forEach((c: Json, i: number) => {
        if (c && typeof c === 'object') contained.push(this.walkResource(c, `c${i + 1}`, 'contained', unit));
      });
      out.contained = contained;
    }
    this.walkNode(r, node, out);
    if (kind === 'top') out.meta = this.tagMeta(out.meta ?? {});
    this.subject = prevSubject;
    this.currentPseudonym = prevPseudonym;
    this.containedIds = prevContained;
    return out;
  }

  private batchEntry(u: Unit, res: Json | undefined): Json {
    const src = u.entry ?? {};
    const out: Json = {};
    if (res) out.fullUrl = `urn:uuid:${this.e.uuidFor(this.source, `${res.resourceType}/${res.id}`)}`;
    else if (typeof src.fullUrl === 'string') out.fullUrl = `urn:uuid:${this.e.uuidFor(this.source, src.fullUrl)}`;
    if (res) out.resource = res;
    if (src.request && typeof src.request === 'object') {
      const rq: Json = {};
      if (typeof src.request.method === 'string') rq.method = src.request.method;
      if (typeof src.request.url === 'string') this.requestUrl(src.request.url, rq, 'url', res);
      for (const k of ['ifMatch', 'ifNoneMatch', 'ifModifiedSince']) if (typeof src.request[k] === 'string') rq[k] = src.request[k];
      out.request = rq;
    }
    return out;
  }

  /** Bundle.entry.request.url: `Type` kept, `Type/id` and conditional URLs rewritten, search queries dropped. */
  private requestUrl(url: string, out: Json, key: string, res?: Json): void {
    if (/^[A-Z][A-Za-z]+$/.test(url)) {
      out[key] = url;
    } else if (res && typeof res.id === 'string' && typeof res.resourceType === 'string' && !url.includes('?')) {
      out[key] = `${res.resourceType}/${res.id}`;
    } else if (url.includes('?') && !/[?&]identifier=/.test(url)) {
      out[key] = url.slice(0, url.indexOf('?'));
    } else {
      this.ref(url, out, key);
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // The walk

  private walkNode(src: Json, node: NodePlan, out: Json): Json {
    const props = node.props;
    for (const key in src) {
      const v = src[key];
      if (v === undefined || v === null) continue;
      let el = props.get(key);
      if (el === undefined) {
        if (key.charCodeAt(0) === 95 && src[key.slice(1)] === undefined) {
          el = props.get(key.slice(1));
          if (el !== undefined && el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE) this.orphanPrimitiveExt(key, v, el, node, out);
        } else if (key !== 'resourceType') {
          this.stats.removedElements++;
        }
        continue;
      }
      if (el.copy) {
        out[key] = Array.isArray(v) ? v.slice() : v;
        const ext = src[el.extKey];
        if (ext !== undefined && ext !== null) this.primitiveExt(ext, node, out, el.extKey);
        continue;
      }
      switch (el.special) {
        case Special.ROOT_ID:
        case Special.CONTAINED:
          continue;
        case Special.EXTENSION:
          this.extensions(key, v, el, node, out);
          continue;
        case Special.REF_STRING:
          if (typeof v === 'string') this.ref(v, out, key);
          continue;
        case Special.FULL_URL:
          if (typeof v === 'string') {
            const lake = this.fullUrls.get(v);
            out[key] = `urn:uuid:${this.e.uuidFor(this.source, lake ?? v)}`;
          }
          continue;
        case Special.REQUEST_URL:
          if (typeof v === 'string') this.requestUrl(v, out, key);
          continue;
      }
      this.element(src, key, v, el, node, out);
    }
    return out;
  }

  private pickChoice(el: ElemPlan, item: unknown): Choice | undefined {
    if (!el.bySystem) return el.choices[0];
    const system = (item as Json)?.system;
    for (const c of el.choices) if (c.systems === undefined || (typeof system === 'string' && c.systems.has(system))) return c;
    return undefined;
  }

  private element(src: Json, key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
    this.elementInner(src, key, v, el, node, out);
    if (el.required && out[key] === undefined) {
      // Keep the resource valid: a required element the policy emptied says why it is absent.
      const masked = { extension: [{ ...MASKED }] };
      if (el.cat === Cat.COMPLEX) out[key] = Array.isArray(v) ? [masked] : masked;
      else out[`_${key}`] = masked;
    }
  }

  private elementInner(src: Json, key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
    if (el.bySystem && Array.isArray(v)) {
      // The method depends on each item's system: split by choice, keeping order.
      const kept: unknown[] = [];
      for (const item of v) {
        const r = this.one(item, el, node, this.pickChoice(el, item));
        if (r !== undefined) kept.push(r);
      }
      if (kept.length) out[key] = kept;
      return;
    }
    const choice = this.pickChoice(el, v);
    const method = choice?.method;
    if (method === 'vault') {
      this.vault(el.path, v, src[el.extKey]);
      if (choice!.then === 'generalize') {
        const g = this.mapValue(v, (x) => this.generalize(x, el));
        if (g !== undefined) out[key] = g;
      } else if (choice!.then === 'pseudonym') {
        const ps = this.pseudonymValue(el, Array.isArray(v));
        if (ps !== undefined) out[key] = ps;
      }
      return;
    }
    if (method === 'redact') {
      this.stats.removedElements++;
      if (el.type === 'Narrative' && this.p.narrative === 'placeholder' && !Array.isArray(v)) {
        out[key] = { status: 'empty', div: NARRATIVE_PLACEHOLDER };
      }
      return;
    }
    if (method === 'pseudonym') {
      const ps = this.pseudonymValue(el, Array.isArray(v));
      if (ps !== undefined) out[key] = ps;
      return;
    }
    if (Array.isArray(v)) {
      const ext = el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE ? src[el.extKey] : undefined;
      const kept: unknown[] = [];
      let keptExt: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const r = this.one(v[i], el, node, choice);
        if (r !== undefined) {
          if (this.keptAt && typeof r === 'string' && (el.cat === Cat.TEXT || el.cat === Cat.XHTML)) this.keptAt.push([kept, kept.length]);
          kept.push(r);
          if (Array.isArray(ext)) (keptExt ??= []).push(ext[i] ?? null);
        }
      }
      if (kept.length) {
        out[key] = kept;
        if (keptExt && keptExt.some((x) => x !== null)) {
          out[`_${key}`] = keptExt.map((x) => (x === null ? null : this.walkNode(x as Json, this.c.elementPlan(node.ctx.extFilter), {})));
        }
      }
      return;
    }
    const r = this.one(v, el, node, choice);
    if (r !== undefined) {
      out[key] = r;
      if (this.keptAt && typeof r === 'string' && (el.cat === Cat.TEXT || el.cat === Cat.XHTML)) this.keptAt.push([out, key]);
      if (el.cat !== Cat.COMPLEX && el.cat !== Cat.RESOURCE) {
        const ext = src[el.extKey];
        if (ext && typeof ext === 'object' && !Array.isArray(ext) && method !== 'generalize') this.primitiveExt(ext, node, out, el.extKey);
      }
    }
  }

  /** One value (array item or single) under `choice`; undefined to drop it. */
  private one(x: unknown, el: ElemPlan, node: NodePlan, choice: Choice | undefined): unknown {
    const method = choice?.method;
    switch (method) {
      case 'vault':
        this.vault(el.path, x, undefined);
        if (choice!.then === 'generalize') return this.generalize(x, el);
        if (choice!.then === 'pseudonym') return this.pseudonymValue(el, false);
        return undefined;
      case 'redact':
        this.stats.removedElements++;
        return undefined;
      case 'pseudonym':
        return this.pseudonymValue(el, false);
      case 'hash':
        return this.hash(x, el, node);
      case 'generalize':
        return this.generalize(x, el);
      default:
        break;
    }
    const keep = method === 'keep';
    switch (el.cat) {
      case Cat.TEXT:
        if (typeof x !== 'string') return undefined;
        if (keep || node.ctx.keepStrings || this.p.defaultString === 'keep') return this.scrub(x);
        this.stats.removedElements++;
        return undefined;
      case Cat.DATE:
        if (this.birthDates !== undefined && typeof x === 'string' && this.birthDates.has(x)) {
          this.stats.generalized++;
          return generalizeDate(x, this.p.datePrecision);
        }
        return x;
      case Cat.B64:
        if (keep || this.p.defaultBase64Binary === 'keep') return x;
        this.stats.removedElements++;
        return undefined;
      case Cat.XHTML:
        return typeof x === 'string' ? this.scrub(x) : undefined;
      case Cat.PRIM:
        return x;
      case Cat.RESOURCE:
        if (!x || typeof x !== 'object') return undefined;
        return this.walkResource(x as Json, this.nestedIds.get(x) ?? this.e.hashId(this.source, String((x as Json).resourceType), String((x as Json).id)), 'nested');
      case Cat.COMPLEX: {
        if (!x || typeof x !== 'object') return undefined;
        const child = keep && !el.child!.keepStrings ? this.keepNodeOf(el) : this.nodeOf(el);
        const o: Json = {};
        if (el.special === Special.REFERENCE) this.logicalReference(x as Json, o);
        this.walkNode(x as Json, child, o);
        for (const _ in o) return o;
        return undefined;
      }
    }
    return x;
  }

  private nodeOf(el: ElemPlan): NodePlan {
    const cache = el as ElemPlan & { _node?: NodePlan };
    return (cache._node ??= this.c.node(el.child!));
  }

  private keepNodeOf(el: ElemPlan): NodePlan {
    const cache = el as ElemPlan & { _keepNode?: NodePlan };
    return (cache._keepNode ??= this.c.node({ ...el.child!, keepStrings: true, extFilter: false }));
  }

  private scrub(s: string): string {
    if (this.matcher === undefined) return s;
    const r = this.matcher.replace(s, this.p.scrubReplacement);
    if (r !== s) this.stats.scrubbedStrings++;
    return r;
  }

  private mapValue(v: unknown, fn: (x: unknown) => unknown): unknown {
    if (!Array.isArray(v)) return fn(v);
    const out = v.map(fn).filter((x) => x !== undefined);
    return out.length ? out : undefined;
  }

  private vault(path: string, value: unknown, ext: unknown): void {
    const s = this.subject;
    if (!s) return;
    let rec = this.records.get(s.id);
    if (!rec) {
      rec = {
        pseudonym: s.id,
        source: this.source,
        resourceType: s.resourceType,
        sourceIds: [],
        keyVersion: this.e.keyVersion,
        policyVersion: this.e.policyVersion,
        receivedAt: this.receivedAt,
        elements: [],
      };
      this.records.set(s.id, rec);
    }
    if (s.sourceId && !rec.sourceIds.includes(s.sourceId)) rec.sourceIds.push(s.sourceId);
    rec.elements.push(ext === undefined ? { path, value } : { path, value, extension: ext });
    this.stats.vaultedElements++;
  }

  private pseudonymValue(el: ElemPlan, asArray: boolean): unknown {
    const ps = this.currentPseudonym;
    if (!ps) return undefined;
    const v = el.type === 'Identifier' ? { system: this.p.pseudonymIdentifierSystem, value: ps } : ps;
    return asArray ? [v] : v;
  }

  private generalize(x: unknown, el: ElemPlan): unknown {
    this.stats.generalized++;
    if (el.cat === Cat.DATE) return typeof x === 'string' ? generalizeDate(x, this.p.datePrecision) : undefined;
    if (el.postalCode) return typeof x === 'string' ? generalizePostalCode(x, this.p.zipDigits) : undefined;
    if (el.type === 'Address' && x && typeof x === 'object') {
      const a = x as Json;
      const o: Json = {};
      for (const k of this.p.generalizedAddress) {
        const val = a[k];
        if (typeof val !== 'string') continue;
        if (k === 'postalCode') {
          const g = generalizePostalCode(val, this.p.zipDigits);
          if (g) o.postalCode = g;
        } else {
          o[k] = k === 'use' || k === 'type' ? val : this.scrub(val);
        }
      }
      for (const _ in o) return o;
      return undefined;
    }
    return undefined;
  }

  private hash(x: unknown, el: ElemPlan, node: NodePlan): unknown {
    if (el.type === 'Identifier') {
      if (!x || typeof x !== 'object') return undefined;
      const id = x as Json;
      const o: Json = {};
      this.walkNode(id, this.nodeOf(el), o);
      if (typeof id.value === 'string') o.value = this.e.hashIdentifier(this.source, typeof id.system === 'string' ? id.system : undefined, id.value);
      else delete o.value;
      for (const _ in o) return o;
      return undefined;
    }
    if (typeof x !== 'string') return undefined;
    if (el.type === 'uuid') return `urn:uuid:${this.e.uuidFor(this.source, x)}`;
    if (el.type === 'oid') return `urn:oid:2.25.${BigInt('0x' + this.e.uuidFor(this.source, x).replace(/-/g, '')).toString()}`;
    void node;
    return this.e.hashString(this.source, x);
  }

  private extensions(key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
    if (!Array.isArray(v)) return;
    const allowed = this.c.allowedExtensions;
    const kept: Json[] = [];
    for (const x of v) {
      if (!x || typeof x !== 'object') continue;
      if (node.ctx.extFilter && !allowed.has((x as Json).url)) {
        this.stats.removedExtensions++;
        continue;
      }
      const o = this.walkNode(x as Json, this.nodeOf(el), {});
      if (typeof o.url === 'string' && Object.keys(o).length > 1) kept.push(o);
    }
    if (kept.length) out[key] = kept;
  }

  /** The `_x` sibling of a kept primitive `x` (single or array): ids and allowed extensions. */
  private primitiveExt(ext: unknown, node: NodePlan, out: Json, extKey: string): void {
    const plan = this.c.elementPlan(node.ctx.extFilter);
    if (Array.isArray(ext)) {
      const items = ext.map((x) => (x && typeof x === 'object' ? this.walkNode(x as Json, plan, {}) : null));
      if (items.some((x) => x && Object.keys(x).length)) out[extKey] = items.map((x) => (x && Object.keys(x).length ? x : null));
    } else if (ext && typeof ext === 'object') {
      const o = this.walkNode(ext as Json, plan, {});
      if (Object.keys(o).length) out[extKey] = o;
    }
  }

  /** `_x` without `x`: the primitive carries only extensions (e.g. data-absent-reason). */
  private orphanPrimitiveExt(key: string, v: unknown, el: ElemPlan, node: NodePlan, out: Json): void {
    const method = el.choices[0]?.method;
    if (method === 'redact' || method === 'vault' || method === 'pseudonym') return;
    const plan = this.c.elementPlan(node.ctx.extFilter);
    if (Array.isArray(v)) {
      const items = v.map((x) => (x && typeof x === 'object' ? this.walkNode(x as Json, plan, {}) : null));
      if (items.some((x) => x && Object.keys(x).length)) out[key] = items.map((x) => (x && Object.keys(x).length ? x : null));
    } else if (v && typeof v === 'object') {
      const o = this.walkNode(v as Json, plan, {});
      if (Object.keys(o).length) out[key] = o;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // References

  /** A logical reference by NHS number becomes a literal reference to the patient's pseudonym. */
  private logicalReference(x: Json, o: Json): void {
    const id = x.identifier;
    if (typeof x.reference === 'string' || !id || id.system !== NHS_NUMBER_SYSTEM || typeof id.value !== 'string') return;
    const n = normaliseNhsNumber(id.value);
    if (!isValidNhsNumber(n)) this.badNhs((v) => v === id, '.value');
    this.patientRef(`nhs:${n}`, o, 'reference');
  }

  private badNhs(pred: (v: unknown) => boolean, suffix: string): never {
    let at: string | undefined;
    for (const u of this.units) {
      at = u.resource ? findPath(u.resource, pred, u.expr) : undefined;
      if (at) break;
    }
    throw new ClientError(
      outcome(422, 'business-rule', 'NHS number is not valid (10 digits with a Modulus 11 check digit)', at ? at + suffix : undefined),
    );
  }

  private patientRef(input: string, out: Json, key: string): void {
    const ps = this.pseudonyms.get(input);
    if (ps !== undefined) {
      out[key] = `Patient/${ps}`;
      return;
    }
    out[key] = PENDING;
    this.pending.push({ obj: out, key, input });
  }

  /** Rewrites any reference string (see the policy file's header for the forms). */
  private ref(ref: string, out: Json, key: string): void {
    if (ref.charCodeAt(0) === 35) {
      // '#id' → the contained resource's new local id ('#' alone: the container).
      out[key] = ref.length === 1 ? '#' : `#${this.containedIds?.get(ref.slice(1)) ?? this.e.hashString(this.source, ref)}`;
      return;
    }
    const local = this.fullUrls.get(ref);
    if (local !== undefined) {
      out[key] = local;
      return;
    }
    if (ref.startsWith('urn:')) {
      out[key] = `urn:uuid:${this.e.uuidFor(this.source, ref)}`;
      return;
    }
    const q = ref.indexOf('?');
    if (q > 0) {
      this.conditional(ref, q, out, key);
      return;
    }
    const m = REF.exec(ref);
    if (m) {
      const base = m[1];
      const type = m[2]!;
      const id = m[3]!;
      if (base) {
        if (this.e.isPublicType(type)) out[key] = ref;
        else if (type === 'Patient') this.patientRef(`src:${this.source}|${ref}`, out, key);
        else out[key] = `${type}/${this.e.hashId(this.source, type, ref)}`;
        return;
      }
      if (type === 'Patient') {
        const ps = this.patientsById.get(id);
        if (ps !== undefined) out[key] = `Patient/${ps}`;
        else {
          out[key] = PENDING;
          this.pending.push({ obj: out, key, patientId: id });
        }
        return;
      }
      out[key] = `${type}/${this.e.hashId(this.source, type, id)}`;
      return;
    }
    out[key] = this.e.hashString(this.source, ref);
  }

  /** `Patient?identifier=system|value` and other conditional references. */
  private conditional(ref: string, q: number, out: Json, key: string): void {
    const type = ref.slice(0, q);
    const params = new URLSearchParams(ref.slice(q + 1));
    const ident = params.get('identifier');
    const bar = ident ? ident.indexOf('|') : -1;
    const system = ident && bar >= 0 ? ident.slice(0, bar) : undefined;
    const value = ident && bar >= 0 ? ident.slice(bar + 1) : undefined;
    if (type === 'Patient') {
      if (system === NHS_NUMBER_SYSTEM && value) {
        const n = normaliseNhsNumber(value);
        if (!isValidNhsNumber(n)) this.badNhs((v) => v === ref, '');
        this.patientRef(`nhs:${n}`, out, key);
      } else if (system && value) {
        this.patientRef(`id:${system}|${value}`, out, key);
      } else {
        this.patientRef(`src:${this.source}|${ref}`, out, key);
      }
      return;
    }
    if (/^[A-Z][A-Za-z]+$/.test(type) && system !== undefined && value !== undefined) {
      // Resolve within the request when an entry of that type carries the identifier.
      for (const u of this.units) {
        const r = u.resource;
        if (r?.resourceType === type && Array.isArray(r.identifier) && r.identifier.some((i: Json) => i?.system === system && i?.value === value)) {
          out[key] = `${type}/${u.lakeId}`;
          return;
        }
      }
    }
    out[key] = /^[A-Z][A-Za-z]+$/.test(type) ? `${type}/${this.e.hashId(this.source, type, ref)}` : this.e.hashString(this.source, ref);
  }

  private async scrubAbsentPatients(): Promise<void> {
    const kept = this.keptAt;
    if (!kept || kept.length === 0 || this.absentPatients.size === 0) return;
    const values = await this.opts.identityLookup!.lookup([...this.absentPatients]);
    const m = buildMatcher(values);
    if (m.empty) return;
    for (const [obj, key] of kept) {
      const o = obj as Record<string | number, unknown>;
      const v = o[key];
      if (typeof v !== 'string') continue;
      const r = m.replace(v, this.p.scrubReplacement);
      if (r !== v) {
        o[key] = r;
        this.stats.scrubbedStrings++;
      }
    }
  }

  private async resolvePending(): Promise<void> {
    if (this.pending.length === 0) return;
    const ids = [...new Set(this.pending.filter((p) => p.patientId !== undefined).map((p) => p.patientId!))];
    let resolved = new Map<string, string>();
    if (ids.length && this.opts.patientResolver) resolved = await this.opts.patientResolver.resolve(this.source, ids);
    for (const p of this.pending) if (p.patientId !== undefined && !resolved.has(p.patientId)) p.input = `src:${this.source}|Patient/${p.patientId}`;
    await this.macAll(this.pending.filter((p) => p.input !== undefined).map((p) => p.input!));
    for (const p of this.pending) {
      const ps = p.input !== undefined ? this.pseudonyms.get(p.input)! : resolved.get(p.patientId!)!;
      p.obj[p.key] = `Patient/${ps}`;
      this.absentPatients.add(ps);
      if (p.patientId !== undefined) this.idMap.set(`Patient/${p.patientId}`, `Patient/${ps}`);
    }
  }
}

/**
 * The identifying values held in identity records (as returned by `IdentityVault.get`), for an
 * {@link IdentityLookup}: each record's vaulted elements are put back on a resource of its type and read with
 * the same rules as the people in a request.
 */
export function identityValues(records: Iterable<{ record: unknown } | IdentityRecord>): IdentifierValue[] {
  const out: IdentifierValue[] = [];
  for (const item of records) {
    const rec = ('record' in item ? item.record : item) as Partial<IdentityRecord>;
    if (!rec || typeof rec.resourceType !== 'string' || !Array.isArray(rec.elements)) continue;
    const r: Json = { resourceType: rec.resourceType };
    for (const e of rec.elements) {
      const name = e.path.slice(e.path.lastIndexOf('.') + 1);
      if (e.path.split('.').length === 2) r[name] = Array.isArray(r[name]) && Array.isArray(e.value) ? [...r[name], ...e.value] : e.value;
    }
    personValues(r, out);
  }
  return out;
}

/**
 * Creates the engine: compiles the policy once and derives the id-hashing key (one KeyService call).
 *
 * ```ts
 * const p = await createPseudonymiser({ policy: parsePolicy(yamlText), keys });
 * const { resources, identities, idMap } = await p.pseudonymise(bundle, { source: 'gp-emis-a81001' });
 * ```
 */
export async function createPseudonymiser(opts: PseudonymiserOptions): Promise<Pseudonymiser> {
  const p = new Pseudonymiser(opts);
  await p.init();
  return p;
}
