/**
 * The pseudonymisation engine's contract: its options, the per-request context, and what a request yields
 * (pseudonymised resources, identity records, the id map, per-entry outcomes and counts).
 */
import type { Bundle, Resource } from 'fhir/r4';
import type { IdentityLookup, IdentityRecord } from './identity-records';
import type { KeyService } from './keys';
import type { IdentifierValue } from './matcher';
import type { Policy } from './policy';

/**
 * Looks up pseudonyms already assigned to a source's patients (e.g. an index the pipeline keeps from
 * {@link PseudonymiseResult.idMap}), so `Patient/{id}` references to a patient sent in an earlier request
 * get that patient's pseudonym. Without one, such references fall back to the pseudonym of `source|Patient/id`.
 */
export interface PatientResolver {
  /** Pseudonyms by source patient id, for the ids it knows. */
  resolve(source: string, patientIds: string[]): Promise<Map<string, string>>;
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
