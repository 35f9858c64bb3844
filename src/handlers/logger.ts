/**
 * The handlers' structured logger (AWS Powertools for Lambda). Logs ids, counts and statuses, never payloads.
 */
import { Logger } from '@aws-lambda-powertools/logger';

/** Shared logger; `POWERTOOLS_LOG_LEVEL` sets the level (default INFO, `SILENT` in tests). */
export const logger = new Logger({ serviceName: 'tributary' });
