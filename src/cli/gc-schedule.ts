// serve --gc-interval: garbage collection in the background, one run at a time, one log line per run. Under --workers
// every worker keeps the schedule and they take turns through the database (GcTables.takeTurn): the first to tick
// after an interval runs, the others see the run and let it be, and a worker that dies leaves the turn to the rest.
// POST /admin/gc runs the same way on request (gcRunner).
import { NarBridgeError } from '../errors.js';
import type { CollectGarbage, GcMetrics } from '../http/index.js';
import {
  collectGarbage,
  collectPostgresGarbage,
  deletePostgresPaths,
  deleteStorePaths,
  type GcOptions,
  type GcReport,
  type GcTarget,
  type PostgresGcTarget,
} from '../store/index.js';
import type { GcSettings } from './gc-settings.js';

export interface GcLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** What a server collects and deletes from: the embedded store, or a store replicas share on PostgreSQL and S3. */
export interface Collector {
  collect(options: Pick<GcOptions, 'dryRun' | 'retention' | 'uploadGraceMs' | 'objectGraceMs'>): Promise<GcReport>;
  deletePaths(digests: readonly Uint8Array[], recursive: boolean): Promise<string[]>;
  /** Whether a scheduled run is this process's turn (see GcTables.takeTurn). */
  takeTurn(now: number, minGapMs: number): boolean;
}

export function embeddedCollector(target: GcTarget): Collector {
  return {
    collect: (options) => collectGarbage(target, options),
    deletePaths: (digests, recursive) => deleteStorePaths(target, digests, recursive),
    takeTurn: (now, minGapMs) => target.tables.takeTurn(now, minGapMs),
  };
}

/**
 * Every replica keeps the schedule and tries; the GC lock in PostgreSQL lets one run and the others skip. Retention
 * and pins need access times and pins in PostgreSQL, which this store does not keep yet (the CLI refuses them).
 */
export function postgresCollector(target: PostgresGcTarget): Collector {
  return {
    collect: ({ retention, ...options }) => {
      if (retention?.maxAgeMs !== undefined || retention?.maxSizeBytes !== undefined) {
        throw new NarBridgeError('NB_ERR_CONFIG', '--gc-max-size and --gc-max-age work on the embedded store only');
      }
      return collectPostgresGarbage(target, options);
    },
    deletePaths: (digests, recursive) => deletePostgresPaths(target, digests, recursive),
    takeTurn: () => true,
  };
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
export function gcRunner(collector: Collector, settings: Omit<GcSettings, 'intervalMs'>, log: GcLog, metrics: GcMetrics): CollectGarbage {
  const skipped = (err: unknown) => {
    metrics.ran('skipped');
    log.info({ reason: err instanceof Error ? err.message : String(err) }, 'garbage collection skipped');
  };
  const runOnce = async (dryRun: boolean): Promise<GcReport> => {
    const started = Date.now();
    let report: GcReport;
    try {
      report = await collector.collect({
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

export function startGcSchedule(collector: Collector, intervalMs: number, run: CollectGarbage, log: GcLog): GcSchedule {
  let running: Promise<void> | null = null;
  const runOnce = async () => {
    let turn: boolean;
    try {
      turn = collector.takeTurn(Date.now(), intervalMs / 2);
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
