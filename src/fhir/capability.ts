/**
 * The CapabilityStatement (https://hl7.org/fhir/R4/capabilitystatement.html) served at `GET /metadata`:
 * it states truthfully what this write-only API supports, its size limit and validation level.
 */
import type { CapabilityStatement } from 'fhir/r4';

/** Inputs that vary per deployment. */
export interface CapabilityOptions {
  baseUrl: string;
  version: string;
  resourceTypes: readonly string[];
  maxBodyBytes: number;
  validationLevel: string;
  authEnabled: boolean;
  date: string;
  /** Id of this running instance (the local stack's, see `TRIBUTARY_INSTANCE_ID`); omitted when undefined. */
  instanceId?: string;
}

/** Extension carrying {@link CapabilityOptions.instanceId}. */
export const INSTANCE_ID_EXTENSION = 'https://tributary.nhs.example/fhir/StructureDefinition/instance-id';

/**
 * The search parameters a conditional create (`If-None-Exist`, https://hl7.org/fhir/R4/http.html#ccreate) and a
 * conditional reference (https://hl7.org/fhir/R4/http.html#trules) may use.
 */
export const CONDITIONAL_PARAMETERS = 'identifier=[system]|[value], identifier=[value] and _id=[id]';

/** Builds the CapabilityStatement (https://hl7.org/fhir/R4/http.html#capabilities). */
export function capabilityStatement(o: CapabilityOptions): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: o.date,
    publisher: 'Tributary',
    kind: 'instance',
    software: { name: 'Tributary', version: o.version },
    implementation: {
      description:
        `Tributary write-only FHIR R4 ingestion API. Accepts create (POST), update (PUT) and batch/transaction ` +
        `Bundles of create/update entries. Read, search, history, delete and patch are not supported: data is read ` +
        `from the analytical marts. Request bodies larger than ${o.maxBodyBytes} bytes are refused (413). ` +
        `Validation level: ${o.validationLevel}. Every resource is pseudonymised before it reaches the lake.`,
      url: o.baseUrl,
    },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'application/json'],
    extension: [
      { url: 'https://tributary.nhs.example/fhir/StructureDefinition/max-request-bytes', valueInteger: o.maxBodyBytes },
      { url: 'https://tributary.nhs.example/fhir/StructureDefinition/validation-level', valueCode: o.validationLevel },
      ...(o.instanceId ? [{ url: INSTANCE_ID_EXTENSION, valueString: o.instanceId }] : []),
    ],
    rest: [
      {
        mode: 'server',
        documentation:
          'Only create and update. Batch and transaction Bundles may hold POST and PUT entries only. ' +
          `Conditional create (If-None-Exist, request.ifNoneExist) with ${CONDITIONAL_PARAMETERS}; conditional ` +
          `references (Type?identifier=[system]|[value]) resolve to the one matching resource of the same source ` +
          `system. In a batch, references to other entries' fullUrl are resolved too (an extension).`,
        security: o.authEnabled
          ? {
              cors: false,
              service: [
                {
                  coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
                },
              ],
              description:
                'Bearer JWT from the configured OIDC / SMART Backend Services issuer; system scopes (system/*.write, system/{type}.cu ...).',
            }
          : { cors: false, description: 'Authentication is DISABLED in this deployment (local development).' },
        resource: o.resourceTypes.map((type) => ({
          type,
          interaction: [{ code: 'create' as const }, { code: 'update' as const }],
          versioning: 'versioned-update' as const,
          readHistory: false,
          updateCreate: true,
          conditionalCreate: true,
          documentation: `Conditional create (If-None-Exist) supports ${CONDITIONAL_PARAMETERS} (matches within the source system).`,
          conditionalUpdate: false,
          conditionalDelete: 'not-supported' as const,
          operation: [{ name: 'validate', definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' }],
        })),
        interaction: [{ code: 'batch' }, { code: 'transaction' }],
      },
    ],
  };
}
