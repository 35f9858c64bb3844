/**
 * The state of one pseudonymisation request (a "run"): what the prepass learnt about the request's people and
 * resources, the maps references are rewritten with, the identity records being filled, and the counts.
 * The request stages (`request.ts`), the walk (`walk.ts`), the element actions and the reference rewriting all
 * take the run as their first argument; nothing here outlives the request.
 */
import { ClientError } from '../errors';
import { outcome } from '../outcomes';
import { mapLimit } from '../../lib/concurrency';
import type { CompiledPolicy } from './compile';
import type { PseudonymiseContext, PseudonymiserOptions, PseudoStats } from './engine-types';
import type { IdentityRecord } from './identity-records';
import type { ValueMatcher } from './matcher';
import type { PolicyParameters } from './policy';
import type { KeyedHasher } from './pseudonyms';

/** Any FHIR JSON object. */
export type Json = Record<string, any>;

/** Placeholder of a reference waiting for a pseudonym (filled in before the run returns). */
export const PENDING = '';

/** An input unit: one top-level resource (or an entry without one). */
export interface Unit {
  index: number;
  resource: Json | undefined;
  entry: Json | undefined;
  /** Expression prefix for errors: `Bundle.entry[3].resource` or the resource type. */
  expr: string;
  lakeId?: string;
}

/** A reference to a patient whose pseudonym is not known yet: `obj[key]` gets `Patient/{pseudonym}`. */
export interface Pending {
  obj: Json;
  key: string;
  /** Pseudonym MAC input, or undefined when `patientId` must first go through the resolver. */
  input?: string;
  patientId?: string;
}

/** What a run reads from its engine (the {@link Pseudonymiser}). */
export interface RunEngine {
  readonly compiled: CompiledPolicy;
  readonly parameters: PolicyParameters;
  readonly hasher: KeyedHasher;
  readonly policyVersion: string;
  readonly keyVersion: string;
  isPublicType(type: string): boolean;
}

/** One request's state. */
export class RunContext {
  readonly source: string;
  readonly params: PolicyParameters;
  readonly compiled: CompiledPolicy;
  readonly hasher: KeyedHasher;
  /** Matches the identifying values of the request's people in kept text (undefined: nothing to scrub). */
  matcher: ValueMatcher | undefined;
  /** The people's birth dates, when other dates equal to one are generalised. */
  birthDates: Set<string> | undefined;
  readonly units: Unit[] = [];
  /** fullUrl → `Type/lakeId` */
  readonly fullUrls = new Map<string, string>();
  /** Patient resource object → pseudonym */
  readonly patientOf = new Map<object, string>();
  /** source Patient id → pseudonym (patients present in the request) */
  readonly patientsById = new Map<string, string>();
  /** pseudonym input → pseudonym */
  readonly pseudonyms = new Map<string, string>();
  /** nested (non-top-level, non-contained) resource → lake id */
  readonly nestedIds = new Map<object, string>();
  readonly pending: Pending[] = [];
  /** Where kept strings went (container, key), for scrubbing with looked-up identities; only with an IdentityLookup. */
  readonly keptAt: [Json | unknown[], string | number][] | undefined;
  /** Pseudonyms of patients referenced but absent from the request. */
  readonly absentPatients = new Set<string>();
  readonly records = new Map<string, IdentityRecord>();
  readonly idMap = new Map<string, string>();
  /** Contained resource id → its new local id, in the resource being walked. */
  containedIds: Map<string, string> | undefined;
  /** Where vaulted elements of the resource being walked go. */
  subject: { id: string; resourceType: string; sourceId?: string } | undefined;
  /** Pseudonym of the patient being walked (for `pseudonym` rules). */
  currentPseudonym: string | undefined;
  readonly receivedAt: string;
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
    readonly engine: RunEngine,
    readonly opts: PseudonymiserOptions,
    readonly ctx: PseudonymiseContext,
  ) {
    this.source = ctx.source;
    this.params = engine.parameters;
    this.compiled = engine.compiled;
    this.hasher = engine.hasher;
    this.receivedAt = (ctx.receivedAt ?? opts.clock?.now() ?? new Date()).toISOString();
    this.keptAt = opts.identityLookup ? [] : undefined;
  }

  /** Pseudonyms of MAC inputs not seen yet in this run (one KeyService call each, `macConcurrency` at a time). */
  async macAll(inputs: string[]): Promise<void> {
    const todo = [...new Set(inputs)].filter((i) => !this.pseudonyms.has(i));
    if (todo.length === 0) return;
    this.stats.keyCalls += todo.length;
    const out = await mapLimit(todo, this.opts.macConcurrency ?? 16, (i) => this.hasher.pseudonymOf(i));
    todo.forEach((i, k) => this.pseudonyms.set(i, out[k]!));
  }
}

/** FHIRPath-style path of `target` inside `root` (for error expressions; only used on error paths). */
export function findPath(root: unknown, pred: (v: unknown) => boolean, prefix: string): string | undefined {
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

/**
 * The 422 for an NHS number that fails its check (NHS Data Dictionary: 10 digits, the last a Modulus 11 check
 * digit), at `expression` (FHIRPath) when known.
 */
export function invalidNhsNumber(expression: string | undefined): ClientError {
  return new ClientError(outcome(422, 'business-rule', 'NHS number is not valid (10 digits with a Modulus 11 check digit)', expression));
}
