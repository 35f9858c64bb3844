/**
 * The one place that chooses adapters (like Medplum's storage loader picking `s3:` or `file:`):
 * `runtime: aws` wires S3, DynamoDB, SNS, KMS, Glue; `runtime: local` wires the same S3/SNS adapters
 * against the local s3rver and SNS endpoint, plus file-backed and DuckDB implementations of the rest.
 * Everything is built once per cold start and reused by every invocation.
 */
import path from 'node:path';
import type { Catalog } from './core/catalog';
import { createLogger } from './core/log';
import type { DuckDbParquetCodec } from './adapters/local/parquet-writer';
import type { Etl } from './core/etl';
import type { LoadedView } from './fhir/views';
import fs from 'node:fs';
import { loadConfig, type Config } from './config';
import { Ingestor, type ResourceValidator } from './core/ingest';
import type { AuditLog, EventBus, IdentityVault, KeyService, ObjectStore, VersionIndex } from './core/ports';
import { createTokenVerifier, type TokenVerifier } from './core/auth';
import { authConfigFromEnv } from './handlers/authorizer';
import { systemClock } from './core/ports';
import { createS3Client, S3ObjectStore } from './adapters/aws/s3-object-store';
import { createSnsClient, SnsEventBus } from './adapters/aws/sns-event-bus';
import { buildProfileValidator, buildValidator } from './fhir/validation/pipeline';
import { loadSchemaModule, projectFile, readProfileModel, readRulesText, readViewFiles } from './paths';
import { createPseudonymiser, loadPolicyFile } from './fhir/pseudo';
import { PseudonymiseTransform, VersionIndexPatientResolver } from './core/pseudonymise';
import { TriageArea, type Sealer } from './core/triage';

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

/* eslint-disable @typescript-eslint/no-require-imports -- adapters are loaded on demand (see getApp) */
const load = {
  localAudit: () => require('./adapters/local/audit-log') as typeof import('./adapters/local/audit-log'),
  s3Audit: () => require('./adapters/aws/s3-audit-log') as typeof import('./adapters/aws/s3-audit-log'),
  dynamo: () => require('./adapters/aws/dynamodb-version-index') as typeof import('./adapters/aws/dynamodb-version-index'),
  fileIndex: () => require('./adapters/local/file-version-index') as typeof import('./adapters/local/file-version-index'),
  localKeys: () => require('./adapters/local/key-service') as typeof import('./adapters/local/key-service'),
  kmsKeys: () => require('./adapters/aws/kms-key-service') as typeof import('./adapters/aws/kms-key-service'),
  kms: () => require('@aws-sdk/client-kms') as typeof import('@aws-sdk/client-kms'),
  localVault: () => require('./adapters/local/identity-vault') as typeof import('./adapters/local/identity-vault'),
  kmsVault: () => require('./adapters/aws/identity-vault') as typeof import('./adapters/aws/identity-vault'),
  localSealer: () => require('./adapters/local/envelope-sealer') as typeof import('./adapters/local/envelope-sealer'),
  kmsSealer: () => require('./adapters/aws/kms-sealer') as typeof import('./adapters/aws/kms-sealer'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** `fn` called once, on first use (its promise shared; a failure is kept, as a bad key would stay bad). */
function lazy<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/**
 * Builds (once) and returns the application for the current environment.
 *
 * Cold start: only the adapters of the configured runtime are loaded (`aws`: DynamoDB, KMS, S3 audit; `local`:
 * files), and the identity vault and the triage sealer — the AWS Encryption SDK, the heaviest module here — are
 * built on their first use, which a request without identifiers or rejected resources never makes. Settings are
 * still checked here, so a misconfigured function fails at its first start, not at its first Patient.
 */
export function getApp(env: NodeJS.ProcessEnv = process.env): App {
  if (app) return app;
  const config = loadConfig(env);
  const aws = config.runtime === 'aws';
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const lake = new S3ObjectStore(s3, config.buckets.lake, { kmsKeyId: config.kms.lake });
  const events = new SnsEventBus(createSnsClient({ region: config.region, endpoint: config.snsEndpoint }), config.ingestTopicArn);
  const versions: VersionIndex = aws
    ? (() => {
        const { DynamoDbVersionIndex, DynamoDBClient } = load.dynamo();
        return new DynamoDbVersionIndex(new DynamoDBClient({ region: config.region }), config.versionsTable);
      })()
    : new (load.fileIndex().FileVersionIndex)(path.join(config.dataDir, 'index'));
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
  const transform = new PseudonymiseTransform(
    Promise.all([loadPolicyFile(policyFile), keys]).then(([policy, k]) =>
      createPseudonymiser({ policy, keys: k, patientResolver: new VersionIndexPatientResolver(versions) }),
    ),
  );
  const vault = lazy<IdentityVault>(async () =>
    aws
      ? load.kmsVault().createKmsIdentityVault({ store: identityStore, kmsKeyId: identityKey, kmsClient: kms! })
      : load.localVault().createLocalIdentityVault({ store: identityStore, dataDir: config.dataDir }),
  );
  const identity: IdentityVault = {
    put: async (p, s, r) => (await vault()).put(p, s, r),
    get: async (p) => (await vault()).get(p),
  };
  const ingestor = new Ingestor({ lake, versions, events, clock: systemClock, validate, transform, identity });
  const verifier = config.auth.enabled ? createTokenVerifier(authConfigFromEnv(env)) : undefined;
  const audit: AuditLog = aws ? new (load.s3Audit().S3AuditLog)({ client: s3, bucket: config.buckets.audit }) : load.localAudit().createLocalAuditLog(config.dataDir);
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

function requireSetting(value: string | undefined, name: string): string {
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Test hook: forget the cached app so the next `getApp` rebuilds it. */
export function resetApp(): void {
  app = undefined;
}

// ---------------------------------------------------------------- the ETL and the marts tools

/** Everything the ETL handler and the marts scripts need. */
export interface EtlApp {
  config: Config;
  lake: ObjectStore;
  marts: ObjectStore;
  catalog: Catalog;
  codec: DuckDbParquetCodec;
  views: LoadedView[];
  etl: Etl;
  /** Local runtime: the catalogue file (`npm run query` reads it). */
  catalogFile?: string;
}

/** The mart views folder: `VIEWS_DIR`, else `views/` of the project (from `src/` or `dist/src/`), else `./views`. */
export function viewsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VIEWS_DIR) return path.resolve(env.VIEWS_DIR);
  const candidates = [path.resolve(__dirname, '../views'), path.resolve(__dirname, '../../views'), path.resolve('views')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'patient.json'))) ?? candidates[0]!;
}

let etlApp: EtlApp | undefined;

/** Builds the ETL's adapters for a configuration (no caching; see {@link getEtlApp}). */
export function buildEtlApp(config: Config, env: NodeJS.ProcessEnv = process.env): EtlApp {
  // ETL-only modules (DuckDB, Glue, the view compiler, the Parquet writer) are loaded here, on first use, so the
  // API handlers' cold start never pays for them (about 300 ms of module loading).
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { GlueClient } = require('@aws-sdk/client-glue') as typeof import('@aws-sdk/client-glue');
  const { Etl } = require('./core/etl') as typeof import('./core/etl');
  const { GlueCatalog } = require('./adapters/aws/glue-catalog') as typeof import('./adapters/aws/glue-catalog');
  const { DuckDbCatalog, localCatalogFile, localLocator } = require('./adapters/local/duckdb-catalog') as typeof import('./adapters/local/duckdb-catalog');
  const { JsParquetCodec } = require('./adapters/local/js-parquet-codec') as typeof import('./adapters/local/js-parquet-codec');
  const { MirroredObjectStore } = require('./adapters/local/mirrored-object-store') as typeof import('./adapters/local/mirrored-object-store');
  const { loadViews } = require('./fhir/views') as typeof import('./fhir/views');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const lake = new S3ObjectStore(s3, config.buckets.lake, { kmsKeyId: config.kms.lake });
  const views = loadViews(readViewFiles(viewsDir(env)));
  const codec = new JsParquetCodec();
  let marts: ObjectStore;
  let catalog: Catalog;
  let catalogFile: string | undefined;
  if (config.runtime === 'aws') {
    marts = new S3ObjectStore(s3, config.buckets.marts, { kmsKeyId: config.kms.marts });
    catalog = new GlueCatalog(new GlueClient({ region: config.region }), config.glueDatabase);
  } else {
    marts = new MirroredObjectStore(new S3ObjectStore(s3, config.buckets.marts), config.dataDir, ['marts/']);
    catalogFile = localCatalogFile(config.dataDir);
    catalog = new DuckDbCatalog({
      file: catalogFile,
      database: config.glueDatabase,
      locate: localLocator({ dataDir: config.dataDir, martsBucket: config.buckets.marts }),
    });
  }
  const logger = createLogger('tributary-etl');
  const log = {
    info: (message: string, extra?: Record<string, unknown>) => logger.info(message, extra ?? {}),
    warn: (message: string, extra?: Record<string, unknown>) => logger.warn(message, extra ?? {}),
  };
  const etl = new Etl({ lake, marts, codec, views, catalog, log });
  return { config, lake, marts, catalog, codec, views, etl, catalogFile };
}

/** Builds (once) and returns the ETL app for the environment. */
export function getEtlApp(env: NodeJS.ProcessEnv = process.env): EtlApp {
  etlApp ??= buildEtlApp(loadConfig(env), env);
  return etlApp;
}

/** Test hook: forget the cached app. */
export function resetEtlApp(): void {
  app = undefined;
}
