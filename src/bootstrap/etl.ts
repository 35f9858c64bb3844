/**
 * The ETL's and the marts tools' application: the lake, the marts store, the catalogue (Glue in AWS, DuckDB
 * locally), the Parquet codec and the mart views. ETL-only modules (DuckDB, Glue, the view compiler, the Parquet
 * writer) are loaded here, on first use, so the API handlers' cold start never pays for them (about 300 ms).
 */
import path from 'node:path';
import type { Catalog } from '../core/catalog';
import { createLogger } from '../core/log';
import type { DuckDbParquetCodec } from '../adapters/local/parquet-writer';
import type { Etl } from '../core/etl';
import type { LoadedView } from '../fhir/views';
import type { ObjectStore } from '../core/ports';
import type { JobLog } from '../core/ops/jobs';
import { loadConfig, type Config } from '../config';
import { createS3Client, S3ObjectStore } from '../adapters/aws/s3-object-store';
import { projectFile, readViewFiles } from '../paths';
import { load } from './adapters';


/** Everything the ETL handler and the marts scripts need. */
export interface EtlApp {
  config: Config;
  lake: ObjectStore;
  marts: ObjectStore;
  catalog: Catalog;
  codec: DuckDbParquetCodec;
  views: LoadedView[];
  etl: Etl;
  /** Where ETL runs are recorded. */
  jobs: JobLog;
  /** Local runtime: the catalogue file (`npm run query` reads it). */
  catalogFile?: string;
}

/** The mart views folder: `VIEWS_DIR`, else the project's `views/` (from `src/` or `dist/src/`). */
export function viewsDir(config: Pick<Config, 'viewsDir'>): string {
  return config.viewsDir ?? projectFile('views');
}

let etlApp: EtlApp | undefined;

/** Builds the ETL's adapters for a configuration (no caching; see {@link getEtlApp}). */
export function buildEtlApp(config: Config): EtlApp {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { GlueClient } = require('@aws-sdk/client-glue') as typeof import('@aws-sdk/client-glue');
  const { Etl } = require('../core/etl') as typeof import('../core/etl');
  const { GlueCatalog } = require('../adapters/aws/glue-catalog') as typeof import('../adapters/aws/glue-catalog');
  const { DuckDbCatalog, localCatalogFile, localLocator } = require('../adapters/local/duckdb-catalog') as typeof import('../adapters/local/duckdb-catalog');
  const { JsParquetCodec } = require('../adapters/local/js-parquet-codec') as typeof import('../adapters/local/js-parquet-codec');
  const { MirroredObjectStore } = require('../adapters/local/mirrored-object-store') as typeof import('../adapters/local/mirrored-object-store');
  const { loadViews } = require('../fhir/views') as typeof import('../fhir/views');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const lake = new S3ObjectStore(s3, config.buckets.lake, { kmsKeyId: config.kms.lake });
  const views = loadViews(readViewFiles(viewsDir(config)));
  const codec = new JsParquetCodec();
  let marts: ObjectStore;
  let catalog: Catalog;
  let catalogFile: string | undefined;
  if (config.runtime === 'aws') {
    marts = new S3ObjectStore(s3, config.buckets.marts, { kmsKeyId: config.kms.marts });
    catalog = new GlueCatalog(new GlueClient({ region: config.region }), config.glueDatabase);
  } else {
    marts = new MirroredObjectStore(new S3ObjectStore(s3, config.buckets.marts), config.dataDir);
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
  const jobs = buildJobLog(config);
  const etl = new Etl({ lake, marts, codec, views, catalog, log, jobs });
  return { config, lake, marts, catalog, codec, views, etl, jobs, catalogFile };
}

/** The job record store: DynamoDB in AWS, files under DATA_DIR/ops/jobs locally. */
export function buildJobLog(config: Config): JobLog {
  if (config.runtime === 'aws') {
    const { DynamoDbJobLog, DynamoDBClient } = load.dynamoJobs();
    return new DynamoDbJobLog(new DynamoDBClient({ region: config.region }), config.jobsTable);
  }
  const { FileJobLog, localJobsDir } = load.fileJobs();
  return new FileJobLog(localJobsDir(config.dataDir));
}

/** Builds (once) and returns the ETL app for the environment. */
export function getEtlApp(config: Config = loadConfig()): EtlApp {
  etlApp ??= buildEtlApp(config);
  return etlApp;
}

/** Test hook: forget the cached app. */
export function resetEtlApp(): void {
  etlApp = undefined;
}
