/**
 * Adapter choice for the ETL and the marts tools (issue 4), built once per cold start — the ETL's part of
 * `src/bootstrap.ts` (kept apart while the API's bootstrap evolves; it can be folded into it as is):
 * - `runtime: aws`: lake and marts buckets through the S3 adapter, the Glue Data Catalog.
 * - `runtime: local`: the same S3 adapter against s3rver; the marts store also mirrors `marts/` to plain files
 *   under `{DATA_DIR}/marts/` (written atomically) that the local DuckDB catalogue
 *   `{DATA_DIR}/catalog/tributary.duckdb` reads; `raw_*` tables read s3rver's lake files in place.
 * Both: Parquet encoded by embedded DuckDB, views compiled once from `views/`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GlueClient } from '@aws-sdk/client-glue';
import { loadConfig, type Config } from './config';
import { Etl } from './core/etl';
import type { Catalog } from './core/catalog';
import type { ObjectStore } from './core/ports';
import { createLogger } from './core/log';
import { createS3Client, S3ObjectStore } from './adapters/aws/s3-object-store';
import { GlueCatalog } from './adapters/aws/glue-catalog';
import { DuckDbCatalog, localCatalogFile, localLocator } from './adapters/local/duckdb-catalog';
import { DuckDbParquetCodec } from './adapters/local/parquet-writer';
import { MirroredObjectStore } from './adapters/local/mirrored-object-store';
import { loadViews, type LoadedView } from './fhir/views';

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

let app: EtlApp | undefined;

/** Builds the ETL's adapters for a configuration (no caching; see {@link getEtlApp}). */
export function buildEtlApp(config: Config, env: NodeJS.ProcessEnv = process.env): EtlApp {
  const s3 = createS3Client({ region: config.region, endpoint: config.s3Endpoint });
  const lake = new S3ObjectStore(s3, config.buckets.lake, { kmsKeyId: config.kms.lake });
  const views = loadViews(viewsDir(env));
  const codec = new DuckDbParquetCodec();
  let marts: ObjectStore;
  let catalog: Catalog;
  let catalogFile: string | undefined;
  if (config.runtime === 'aws') {
    marts = new S3ObjectStore(s3, config.buckets.marts);
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
  app ??= buildEtlApp(loadConfig(env), env);
  return app;
}

/** Test hook: forget the cached app. */
export function resetEtlApp(): void {
  app = undefined;
}
