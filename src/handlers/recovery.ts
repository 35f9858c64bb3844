/**
 * The recovery Lambda (scheduled; docs/commit-protocol.md): one pass of the commit protocol's recovery over the
 * outbox, rolling every committed request forward and every abandoned one back. Thin: the core's `recoverCommits`
 * over the API's stores. Logs counts only. Throws when some request could not be handled (the next run retries it;
 * the error count shows in the function's metrics).
 */
import { getApp, recoveryDeps } from '../bootstrap';
import { createLogger } from '../core/log';
import { recoverCommits, type RecoveryReport } from '../core/use-cases';

const logger = createLogger('tributary-recovery');

/** One recovery pass (EventBridge schedule). */
export async function handler(): Promise<RecoveryReport> {
  const report = await recoverCommits(recoveryDeps(getApp()));
  logger.info('recovery', { ...report });
  if (report.failed > 0) throw new Error(`recovery: ${report.failed} request(s) not handled; retried by the next run`);
  return report;
}
