/**
 * The API's application (the bootstrap is the one place that chooses adapters, like Medplum's storage loader picking
 * `s3:` or `file:`):
 * `runtime: aws` wires S3, DynamoDB, SNS, KMS, Glue; `runtime: local` wires the same S3/SNS adapters
 * against the local s3rver and SNS endpoint, plus file-backed and DuckDB implementations of the rest.
 * Everything is built once per cold start and reused by every invocation.
 */
import path from 'node:path';
import { loadConfig, type Config } from '../config';
import { IndexKeys, Ingestor, type OutboxDeps, type ResourceValidator } from '../core/ingest';
import type { AuditLog, EventBus, IdentityVault, KeyService, ObjectStore, VersionIndex } from '../core/ports';
import type { TokenVerifier } from '../core/auth';
import { buildVerifier } from './auth';
import { lazy, load, requireSetting } from './adapters';
import { systemClock } from '../core/ports';
import { createS3Client, S3ObjectStore } from '../adapters/aws/s3-object-store';
import { createSnsClient, SnsEventBus } from '../adapters/aws/sns-event-bus';
import { buildProfileValidator, buildValidator } from '../fhir/validation/pipeline';
import { loadSchemaModule, projectFile, readPolicyText, readProfileModel, readRulesText } from '../paths';
import { createPseudonymiser, parsePolicy } from '../fhir/pseudo';
import { PseudonymiseTransform, VersionIndexPatientResolver } from '../core/pseudonymise';
import { TriageArea, type Sealer } from '../core/triage';

/** Everything a handler needs, built once. */
export interface App {
  config: Config;
  lake: ObjectStore;
  versions: VersionIndex;
  events: EventBus;
  ingestor: Ingestor;
  validate: ResourceValidator;
  identityStore: ObjectStore;
  /** The identity vault (built asynchronously at cold start). */
  identity: IdentityVault;
  transform: PseudonymiseTransform;
  triage: TriageArea;
  /** Is the triage area enabled for this source (TRIAGE_SOURCES)? */
  triageEnabled(source: string): boolean;
  /** Bearer-token verifier; undefined when AUTH=off (local experiments only). */
  verifier?: TokenVerifier;
  audit: AuditLog;
}

let app: App | undefined;

// The validation pipeline (profile validator + user rules + options, then the ajv standalone JSON schema, then the
// NHS number check) lives in src/fhir/validation/pipeline.ts, so the benchmark and conformance test run the same code.
export { buildValidator, buildProfileValidator };

/**
 * Builds (once) and returns the application for the current environment.
 *
 * Cold start: only the adapters of the configured runtime are loaded (`aws`: DynamoDB, KMS, S3 audit; `local`:
 * files), and the identity vault and the triage sealer — the AWS Encryption SDK, the heaviest module here — are
 * built on their first use, which a request without identifiers or rejected resources never makes. Settings are
 * still checked here, so a misconfigured function fails at its first start, not at its first Patient.
 */
export function getApp(config: Config = loadConfig()): App {
  if (app) return app;
  const aws = config.runtime === 'aws';
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const lake = new S3ObjectStore(s3, config.buckets.lake, { kmsKeyId: config.kms.lake });
  const events = new SnsEventBus(createSnsClient({ region: config.region, endpoint: config.snsEndpoint }), config.ingestTopicArn);
  const versions: VersionIndex = aws
    ? (() => {
        const { DynamoDbVersionIndex, DynamoDBClient } = load.dynamo();
        return new DynamoDbVersionIndex(new DynamoDBClient({ region: config.region }), config.versionsTable);
      })()
    : new (load.fileIndex().FileVersionIndex)(path.join(config.dataDir, 'index'), { maxOpenFiles: config.indexOpenFiles });
  const profile = buildProfileValidator({ model: readProfileModel(), rules: readRulesText(config.rulesFile), validation: config.validation });
  const validate = buildValidator({ ...config, schemaModule: loadSchemaModule }, profile);
  const identityStore = new S3ObjectStore(s3, config.buckets.identity, { kmsKeyId: config.kms.identity });
  const kms = aws ? new (load.kms().KMSClient)({ region: config.region }) : undefined;
  const hmacKey = aws ? requireSetting(config.kms.hmac, 'HMAC_KMS_KEY_ARN') : '';
  const identityKey = aws ? requireSetting(config.kms.identity, 'IDENTITY_KMS_KEY_ARN') : '';
  const triageKey = aws ? requireSetting(config.kms.triage, 'TRIAGE_KMS_KEY_ARN') : '';
  const keys: Promise<KeyService> = aws
    ? Promise.resolve(new (load.kmsKeys().KmsKeyService)({ client: kms!, keyId: hmacKey }))
    : load.localKeys().LocalKeyService.open(config.dataDir);
  const policyFile = config.policyFile ?? projectFile('policy/pseudonymisation.yaml');
  const indexKeys = new IndexKeys(keys);
  const transform = new PseudonymiseTransform(
    Promise.all([readPolicyText(policyFile).then(parsePolicy), keys]).then(([policy, k]) =>
      createPseudonymiser({ policy, keys: k, patientResolver: new VersionIndexPatientResolver(versions, indexKeys) }),
    ),
  );
  const vault = lazy<IdentityVault>(async () =>
    aws
      ? load.kmsVault().createKmsIdentityVault({ store: identityStore, kmsKeyId: identityKey, kmsClient: kms! })
      : load.localVault().createLocalIdentityVault({ store: identityStore, dataDir: config.dataDir }),
  );
  const identity: IdentityVault = {
    stage: async (id, records) => (await vault()).stage(id, records),
    promote: async (id, refs) => (await vault()).promote(id, refs),
    discard: async (id, refs) => (await vault()).discard(id, refs),
    get: async (p) => (await vault()).get(p),
  };
  // per-writer audit chains (src/core/audit/trail.ts): in Lambda one writer per container, anchored on append;
  // locally a long-running process, so an idle timer also anchors the last records
  const audit: AuditLog = aws
    ? load.s3Audit().createS3AuditLog({ client: s3, bucket: config.buckets.audit, label: 'api' })
    : load.localAudit().createLocalAuditLog(config.dataDir, { label: 'api', idleAnchor: true });
  const ingestor = new Ingestor({ lake, versions, events, clock: systemClock, validate, transform, identity, audit, indexKeys, identifiers: transform });
  const verifier = buildVerifier(config);
  const sealerReady = lazy<Sealer>(async () => (aws ? load.kmsSealer().kmsSealer(kms!, triageKey) : load.localSealer().localTriageSealer(config.dataDir)));
  const sealer: Sealer = {
    seal: async (p, c) => (await sealerReady()).seal(p, c),
    open: async (b, c) => (await sealerReady()).open(b, c),
  };
  const triageStore = new S3ObjectStore(s3, config.buckets.triage, { kmsKeyId: config.kms.triage });
  const triage = new TriageArea(triageStore, sealer, events, systemClock);
  const triageEnabled = (source: string): boolean => config.triageSources.includes('*') || config.triageSources.includes(source);
  app = { config, lake, versions, events, ingestor, validate, verifier, audit, identityStore, identity, transform, triage, triageEnabled };
  return app;
}

/** What recovery of the commit protocol (src/core/use-cases/recover-commits.ts) works on: the API's own stores. */
export function recoveryDeps(a: App): OutboxDeps {
  return { lake: a.lake, versions: a.versions, events: a.events, clock: systemClock, identity: a.identity, audit: a.audit };
}

/** Test hook: forget the cached app so the next `getApp` rebuilds it. */
export function resetApp(): void {
  app = undefined;
}
