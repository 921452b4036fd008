// serve --gc-interval: garbage collection in the background, one run at a time, one log line per run. Under --workers
// every worker keeps the schedule and they take turns through the database (GcTables.takeTurn): the first to tick
// after an interval runs, the others see the run and let it be, and a worker that dies leaves the turn to the rest.
// POST /admin/gc runs the same way on request (gcRunner).
import { NarBridgeError } from '../errors.js';
import type { CollectGarbage, GcMetrics } from '../http/index.js';
import { collectGarbage, type GcReport, type GcTarget } from '../store/index.js';
import type { GcSettings } from './gc-settings.js';

export interface GcLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface GcSchedule {
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

function isConflict(err: unknown): boolean {
  return err instanceof NarBridgeError && err.code === 'NB_ERR_CONFLICT';
}

/**
 * One run with the server's settings, counted in the metrics and logged in one line (a dry run neither: it changes
 * nothing). A run refused because another is going counts as skipped; failures are logged and thrown on.
 */
export function gcRunner(target: GcTarget, settings: Omit<GcSettings, 'intervalMs'>, log: GcLog, metrics: GcMetrics): CollectGarbage {
  const skipped = (err: unknown) => {
    metrics.ran('skipped');
    log.info({ reason: err instanceof Error ? err.message : String(err) }, 'garbage collection skipped');
  };
  const runOnce = async (dryRun: boolean): Promise<GcReport> => {
    const started = Date.now();
    let report: GcReport;
    try {
      report = await collectGarbage(target, {
        dryRun,
        retention: settings.retention,
        uploadGraceMs: settings.uploadGraceMs,
        objectGraceMs: settings.objectGraceMs,
      });
    } catch (err) {
      if (isConflict(err)) skipped(err);
      else {
        metrics.ran({ ok: false, durationMs: Date.now() - started, objects: 0, diskBytesFreed: 0 });
        log.error({ err }, 'garbage collection failed');
      }
      throw err;
    }
    if (dryRun) return report;
    if (report.skipped) {
      metrics.ran('skipped');
      log.warn({ reason: report.skipped }, 'garbage collection skipped');
      return report;
    }
    metrics.ran({ ok: true, durationMs: report.durationMs, objects: report.records + report.directories, diskBytesFreed: report.diskBytesFreed });
    const { evicted, ...counts } = report;
    log.info({ ...counts, evicted: evicted.length }, 'garbage collection done');
    return report;
  };
  // The GC lock keeps other processes out; within this one (the schedule and POST /admin/gc) this flag does.
  let running = false;
  return async (dryRun) => {
    if (running) {
      const err = new NarBridgeError('NB_ERR_CONFLICT', `another garbage collection is running (pid ${process.pid})`);
      skipped(err);
      throw err;
    }
    running = true;
    try {
      return await runOnce(dryRun);
    } finally {
      running = false;
    }
  };
}

export function startGcSchedule(target: GcTarget, intervalMs: number, run: CollectGarbage, log: GcLog): GcSchedule {
  let running: Promise<void> | null = null;
  const runOnce = async () => {
    let turn: boolean;
    try {
      turn = target.tables.takeTurn(Date.now(), intervalMs / 2);
    } catch (err) {
      log.error({ err }, 'garbage collection not started');
      return;
    }
    if (turn) await run(false).catch(() => undefined); // logged and counted by the runner
  };
  const timer = setInterval(() => {
    if (running) return; // the previous run is still going: this tick is skipped, not queued
    running = runOnce().finally(() => {
      running = null;
    });
  }, intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
