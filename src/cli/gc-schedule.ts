// serve --gc-interval: garbage collection in the background, one run at a time, one log line per run. Under --workers
// every worker keeps the schedule and they take turns through the database (GcTables.takeTurn): the first to tick
// after an interval runs, the others see the run and let it be, and a worker that dies leaves the turn to the rest.
import { NarBridgeError } from '../errors.js';
import type { GcMetrics } from '../http/index.js';
import { collectGarbage, type GcTarget } from '../store/index.js';
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

export function startGcSchedule(target: GcTarget, settings: GcSettings & { intervalMs: number }, log: GcLog, metrics: GcMetrics): GcSchedule {
  let running: Promise<void> | null = null;
  const runOnce = async () => {
    const started = Date.now();
    try {
      if (!target.tables.takeTurn(started, settings.intervalMs / 2)) return;
      const report = await collectGarbage(target, {
        retention: settings.retention,
        uploadGraceMs: settings.uploadGraceMs,
        objectGraceMs: settings.objectGraceMs,
      });
      if (report.skipped) {
        metrics.ran('skipped');
        log.warn({ reason: report.skipped }, 'garbage collection skipped');
        return;
      }
      metrics.ran({ ok: true, durationMs: report.durationMs, objects: report.records + report.directories, diskBytesFreed: report.diskBytesFreed });
      const { evicted, ...counts } = report;
      log.info({ ...counts, evicted: evicted.length }, 'garbage collection done');
    } catch (err) {
      if (err instanceof NarBridgeError && err.code === 'NB_ERR_CONFLICT') {
        // `nar-bridge gc` took the lock between our turn and our run: its run is this interval's.
        metrics.ran('skipped');
        log.info({ reason: err.message }, 'garbage collection skipped');
        return;
      }
      metrics.ran({ ok: false, durationMs: Date.now() - started, objects: 0, diskBytesFreed: 0 });
      log.error({ err }, 'garbage collection failed');
    }
  };
  const timer = setInterval(() => {
    if (running) return; // the previous run is still going: this tick is skipped, not queued
    running = runOnce().finally(() => {
      running = null;
    });
  }, settings.intervalMs);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
