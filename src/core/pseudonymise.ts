/**
 * Pseudonymisation in the write path: adapts the policy engine (`src/fhir/pseudo`) to the ingest pipeline's
 * {@link LakeTransform}, and resolves references to patients sent in earlier requests through the version index
 * (which records each resource's lake id), so the same person keeps one pseudonym across requests.
 */
import type { Resource } from 'fhir/r4';
import type { IdentifierHasher, IndexKeys, LakeTransform, TransformResult } from './ingest';
import type { VersionIndex } from './ports';
import type { PatientResolver, Pseudonymiser } from '../fhir/pseudo';

/** {@link PatientResolver} over the version index: `Patient/{id}` of the same source → its pseudonym. */
export class VersionIndexPatientResolver implements PatientResolver {
  constructor(
    private readonly versions: VersionIndex,
    private readonly keys: IndexKeys,
  ) {}

  async resolve(source: string, patientIds: string[]): Promise<Map<string, string>> {
    const keys = await this.keys.init();
    const found = await this.versions.get(patientIds.map((id) => keys.resource('Patient', id)));
    const out = new Map<string, string>();
    for (const id of patientIds) {
      const r = found.get(keys.resource('Patient', id));
      if (r && r.source === source && r.lakeId) out.set(id, r.lakeId);
    }
    return out;
  }
}

/**
 * The lake transform: every accepted request is pseudonymised before anything is staged. The engine is built
 * asynchronously at cold start (its key derivation may call KMS); `apply` waits for it once.
 */
export class PseudonymiseTransform implements LakeTransform, IdentifierHasher {
  private engine?: Pseudonymiser;

  constructor(private readonly ready: Promise<Pseudonymiser>) {
    // surface a bad policy or key at start-up in logs, and never as an unhandled rejection
    ready.then((e) => (this.engine = e)).catch(() => undefined);
  }

  /** Version of the policy in force (after the engine is ready). */
  get policyVersion(): string | undefined {
    return this.engine?.policyVersion;
  }

  /**
   * Keyed hash for the identifier index (conditional create, https://hl7.org/fhir/R4/http.html#ccreate): the
   * engine's keyed string hash (HMAC under the deployment's key), namespaced by source and by purpose.
   */
  async identifierHash(source: string, text: string): Promise<string> {
    const engine = this.engine ?? (this.engine = await this.ready);
    return engine.hashString(source, `identifier-index\u0000${text}`);
  }

  async apply(resources: Resource[], ctx: { source: string; requestId: string }): Promise<TransformResult> {
    const engine = this.engine ?? (this.engine = await this.ready);
    const r = await engine.pseudonymise(resources, { source: ctx.source });
    const lakeIds: (string | undefined)[] = new Array(resources.length);
    for (const e of r.entries) lakeIds[e.index] = e.lakeId;
    return { resources: r.resources, identities: r.identities, lakeIds };
  }
}
