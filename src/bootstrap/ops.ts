/**
 * The ops API's application: the {@link OpsService} over the API app's audit log, triage area, ingestor and event
 * bus, the ETL job records ({@link buildJobLog}), an audit reader over the configured audit store (local files or
 * the S3 audit bucket) and the catalogue's tables from the mart ViewDefinitions.
 */
import { historyTableDefinition, rawTableDefinition, versionsTableDefinition } from '../core/catalog';
import { martViewInfo } from '../core/etl/rows';
import { auditReaderOver } from '../core/ops/audit-reader';
import { OpsService, type AuditReader } from '../core/ops/service';
import type { CatalogueInput } from '../core/ops/catalogue';
import { systemClock } from '../core/ports';
import { createS3Client } from '../adapters/aws/s3-object-store';
import { loadViews } from '../fhir/views';
import { readViewFiles } from '../paths';
import type { Config } from '../config';
import { load } from './adapters';
import { getApp } from './app';
import { buildJobLog, viewsDir } from './etl';

/** The audit reader of the configured runtime. */
export function buildAuditReader(config: Config): AuditReader {
  if (config.runtime === 'aws') {
    const { S3AuditStore } = load.s3Audit();
    return auditReaderOver(new S3AuditStore({ client: createS3Client({ region: config.region }), bucket: config.buckets.audit }));
  }
  const { FileAuditStore, localAuditDir } = load.localAudit();
  return auditReaderOver(new FileAuditStore(localAuditDir(config.dataDir)));
}

/** The catalogue's tables: each view's history table, `resource_versions`, and a raw table per view resource type. */
export function catalogueTables(config: Config): Omit<CatalogueInput, 'jobs'> {
  const views = loadViews(readViewFiles(viewsDir(config))).map(martViewInfo);
  const types = [...new Set(views.map((v) => v.resourceType))].sort();
  return {
    marts: [
      { table: versionsTableDefinition(config.buckets.marts), resourceType: '*' },
      ...views.map((v) => ({ table: historyTableDefinition(v, config.buckets.marts), resourceType: v.resourceType })),
    ],
    raw: types.map((t) => ({ table: rawTableDefinition(t, config.buckets.lake), resourceType: t })),
  };
}

let ops: OpsService | undefined;

/** Builds (once) the ops service. */
export function getOpsService(config: Config): OpsService {
  if (ops) return ops;
  const app = getApp(config);
  let tables: Omit<CatalogueInput, 'jobs'> | undefined;
  ops = new OpsService({
    jobs: buildJobLog(config),
    auditReader: buildAuditReader(config),
    triage: app.triage,
    ingestor: app.ingestor,
    events: app.events,
    catalogueTables: () => (tables ??= catalogueTables(config)),
    clock: systemClock,
    deadLetters:
      config.runtime === 'aws' && config.etlDlqArn
        ? (() => {
            const { SqsDeadLetters, SQSClient } = load.sqsDeadLetters();
            return new SqsDeadLetters(new SQSClient({ region: config.region }), config.etlDlqArn!);
          })()
        : undefined,
  });
  return ops;
}
