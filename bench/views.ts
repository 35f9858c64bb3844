/**
 * Benchmark of the ViewDefinition runner: every default mart view (views/*.json) over the given resources,
 * single-threaded. Reports figures only; `npm run bench` prints them.
 */
import { loadViews } from '../src/fhir/views';
import { projectFile, readViewFiles } from '../src/paths';

/** Figures of one {@link benchViews} run. */
export interface ViewsBench {
  /** Mart rows produced per second of wall time, all views together (after one warm-up pass). */
  rowsPerSecond: number;
  /** Mart rows per second of this process's CPU time: the one-core figure, steadier on a shared machine. */
  rowsPerCpuSecond: number;
  /** Rows produced by one pass of all views. */
  rows: number;
  /** Resources given. */
  resources: number;
  /** Measured passes. */
  passes: number;
  /** Wall time of the measured passes, milliseconds. */
  millis: number;
  /** Rows of one pass per view. */
  rowsByView: Record<string, number>;
}

/**
 * Runs all default views over `resources`: one warm-up pass (JIT), then as many passes as fit in about
 * `minMillis` (at least one), and reports rows per second.
 * @param viewsDir - folder of the mart views (default: the project's `views/`).
 */
export async function benchViews(
  resources: any[],
  opts: { viewsDir?: string; minMillis?: number } = {},
): Promise<ViewsBench> {
  const views = loadViews(readViewFiles(opts.viewsDir ?? projectFile('views')));
  const minMillis = opts.minMillis ?? 2000;
  const rowsByView: Record<string, number> = {};
  let rows = 0;
  for (const v of views) {
    const n = v.compiled.run(resources).length;
    rowsByView[v.name] = n;
    rows += n;
  }
  let passes = 0;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let now = start;
  do {
    for (const v of views) v.compiled.run(resources);
    passes++;
    now = performance.now();
  } while (now - start < minMillis);
  const millis = now - start;
  const cpu = process.cpuUsage(cpu0);
  const cpuMillis = (cpu.user + cpu.system) / 1000;
  return {
    rowsPerSecond: Math.round((rows * passes * 1000) / millis),
    rowsPerCpuSecond: Math.round((rows * passes * 1000) / cpuMillis),
    rows,
    resources: resources.length,
    passes,
    millis: Math.round(millis),
    rowsByView,
  };
}
