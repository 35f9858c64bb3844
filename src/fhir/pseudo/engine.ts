/**
 * The pseudonymisation engine (issue 3): applied by the ingest pipeline to every accepted request after
 * validation and before storage, following the policy file (`policy/pseudonymisation.yaml`, see `policy.ts`).
 * It splits direct identifiers out into identity records (for the identity store), replaces the patient's
 * identity with a stable keyed pseudonym so one person links up across sources, keyed-hashes every other source
 * id, removes or scrubs free text, filters extensions, and tags the output (HL7 security label PSEUDED).
 * The output stays valid against the R4 JSON schema.
 *
 * Pure apart from `node:crypto`: keys come through the {@link KeyService} port, which is only awaited for
 * patient pseudonyms (batched, at most one call per distinct person) and once for the id-hashing key.
 *
 * Collaborators: `pseudonyms.ts` (keyed hashing), `request.ts` (one request's stages) over a `RunContext`,
 * `walk.ts` (the element walk), `element-actions.ts` (the policy methods), `references.ts`,
 * `security-labels.ts`, `identity-records.ts`; the types are in `engine-types.ts`.
 */
import type { Bundle, Resource } from 'fhir/r4';
import { CompiledPolicy } from './compile';
import type { PseudonymiseContext, PseudonymiseResult, PseudonymiserOptions } from './engine-types';
import type { PolicyParameters } from './policy';
import { KeyedHasher } from './pseudonyms';
import { pseudonymiseRequest } from './request';
import { RunContext, type RunEngine } from './run-context';

/** The compiled engine; create once per cold start with {@link createPseudonymiser}. */
export class Pseudonymiser implements RunEngine {
  /** The compiled policy (exposed for diagnostics). */
  readonly compiled: CompiledPolicy;
  /** @internal The keyed hashes (memoised across requests). */
  readonly hasher: KeyedHasher;
  private readonly params: PolicyParameters;
  private readonly publicTypes: Set<string>;

  constructor(private readonly opts: PseudonymiserOptions) {
    this.compiled = new CompiledPolicy(opts.policy);
    this.params = opts.policy.parameters;
    this.publicTypes = new Set(this.params.publicReferenceTypes);
    this.hasher = new KeyedHasher(opts.keys, this.params);
  }

  /** Version of the policy applied. */
  get policyVersion(): string {
    return this.opts.policy.version;
  }

  /** Version of the key in use (from the {@link KeyService}). */
  get keyVersion(): string {
    return this.opts.keys.keyVersion;
  }

  /** Derives (once) the local id-hashing key: one KeyService call (see {@link KeyedHasher.init}). */
  init(): Promise<void> {
    return this.hasher.init();
  }

  /** Keyed hash of a source's resource id: same source + type + id → same lake id; other sources differ. */
  hashId(source: string, type: string, id: string): string {
    return this.hasher.hashId(source, type, id);
  }

  /** Keyed hash of an identifier value; namespaced by its system (or by source when it has none). */
  hashIdentifier(source: string, system: string | undefined, value: string): string {
    return this.hasher.hashIdentifier(source, system, value);
  }

  /** Keyed hash of any other string (opaque references, hashed strings), namespaced by source. */
  hashString(source: string, value: string): string {
    return this.hasher.hashString(source, value);
  }

  /** A UUID derived from a string (for urn:uuid values), namespaced by source. */
  uuidFor(source: string, value: string): string {
    return this.hasher.uuidFor(source, value);
  }

  /** The pseudonym for a MAC input (`nhs:9434765919`, `id:system|value`, `src:source|Patient/id`). */
  pseudonymOf(input: string): Promise<string> {
    return this.hasher.pseudonymOf(input);
  }

  /**
   * Pseudonymises one request: a resource, an array of resources, or a Bundle (a batch/transaction Bundle is
   * taken entry by entry; any other Bundle is one resource). Throws a {@link ClientError} (422, with the
   * FHIRPath expression) for an invalid NHS number and (400) for an unknown resource type.
   */
  async pseudonymise(input: Resource | Resource[] | Bundle, ctx: PseudonymiseContext): Promise<PseudonymiseResult> {
    await this.init();
    return pseudonymiseRequest(new RunContext(this, this.opts, ctx), input);
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
