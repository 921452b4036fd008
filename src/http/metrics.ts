// Prometheus metrics for the HTTP surface and the store behind it. The registry is handed in (never prom-client's
// global default), so two servers in one process, as in tests, keep separate counts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { processReadahead } from '../store/index.js';
import type { RequestObservation, RequestObserver } from './observe.js';

/** What the store holds, as the composition root can measure it (counts from SQLite, sizes from disk). */
export interface StoreStats {
  readonly blobs: number;
  readonly directories: number;
  readonly pathInfos: number;
  /** Bytes the data directory takes on disk: blob files plus the metadata database. */
  readonly diskBytes: number;
}

/** From a 304-sized narinfo answer (~1 ms) to a multi-GiB NAR stream (minutes). */
const DURATION_BUCKETS_S = [0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60, 300];

export interface HttpMetricsOptions {
  /** What /metrics serves instead of the registry alone: with worker processes, every worker's metrics together. */
  readonly exposition?: () => Promise<string>;
}

export class HttpMetrics implements RequestObserver {
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #duration: Histogram<'method' | 'route'>;
  readonly #bytesServed: Counter<'route'>;
  readonly #bytesIngested: Counter<'route'>;
  readonly #uploadsInFlight: Gauge;
  readonly #exposition: () => Promise<string>;

  constructor(
    readonly registry: Registry,
    stats?: () => Promise<StoreStats>,
    { exposition }: HttpMetricsOptions = {},
  ) {
    const registers = [registry];
    this.#exposition = exposition ?? (() => registry.metrics());
    this.#requests = new Counter({
      name: 'nar_bridge_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'nar_bridge_http_request_duration_seconds',
      help: 'Time from request to last response byte',
      labelNames: ['method', 'route'],
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.#bytesServed = new Counter({ name: 'nar_bridge_http_served_bytes_total', help: 'Response body bytes sent', labelNames: ['route'], registers });
    this.#bytesIngested = new Counter({ name: 'nar_bridge_http_ingested_bytes_total', help: 'Request body bytes received', labelNames: ['route'], registers });
    this.#uploadsInFlight = new Gauge({ name: 'nar_bridge_uploads_in_flight', help: 'PUT requests being received', registers });
    new Gauge({
      name: 'nar_bridge_readahead_bytes',
      help: 'Bytes NAR streams have read ahead and not yet sent (2 MiB per stream, beyond that one 32 MiB budget per process)',
      registers,
      collect() {
        this.set(processReadahead.total);
      },
    });
    if (stats) {
      new Gauge({
        name: 'nar_bridge_store_objects',
        help: 'Objects in the store by kind',
        labelNames: ['kind'],
        registers,
        // Every worker measures the same store: summing them would count it once per worker.
        aggregator: 'max',
        async collect() {
          const s = await stats();
          this.set({ kind: 'blobs' }, s.blobs);
          this.set({ kind: 'directories' }, s.directories);
          this.set({ kind: 'path_infos' }, s.pathInfos);
        },
      });
      new Gauge({
        name: 'nar_bridge_store_disk_bytes',
        help: 'Bytes the data directory takes on disk',
        registers,
        aggregator: 'max',
        async collect() {
          this.set((await stats()).diskBytes);
        },
      });
    }
  }

  /** The Prometheus text /metrics serves. */
  exposition(): Promise<string> {
    return this.#exposition();
  }

  started(request: FastifyRequest, reply: FastifyReply): void {
    if (request.method !== 'PUT') return;
    this.#uploadsInFlight.inc();
    // The response's 'close' fires once, whether it finished or the client went away.
    reply.raw.once('close', () => this.#uploadsInFlight.dec());
  }

  finished(_request: FastifyRequest, o: RequestObservation): void {
    this.#requests.inc({ method: o.method, route: o.route, status: String(o.status) });
    this.#duration.observe({ method: o.method, route: o.route }, o.durationMs / 1000);
    this.#bytesServed.inc({ route: o.route }, o.bytesOut);
    this.#bytesIngested.inc({ route: o.route }, o.bytesIn);
  }
}

/** What one garbage-collection run did, as GcMetrics counts it. */
export interface GcRunFacts {
  readonly ok: boolean;
  readonly durationMs: number;
  readonly objects: number;
  readonly diskBytesFreed: number;
}

/** Background garbage collection: runs by outcome, duration, what was reclaimed, last success. */
export class GcMetrics {
  readonly #runs: Counter<'outcome'>;
  readonly #duration: Histogram;
  readonly #objects: Counter;
  readonly #bytes: Counter;
  readonly #lastSuccess: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#runs = new Counter({
      name: 'nar_bridge_gc_runs_total',
      help: 'Garbage collection runs by outcome (ok, failed, skipped)',
      labelNames: ['outcome'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'nar_bridge_gc_duration_seconds',
      help: 'Time a garbage collection run took',
      buckets: [0.1, 1, 10, 60, 600, 3600],
      registers,
    });
    this.#objects = new Counter({
      name: 'nar_bridge_gc_reclaimed_objects_total',
      help: 'Blobs, chunks and Directories deleted by garbage collection',
      registers,
    });
    this.#bytes = new Counter({ name: 'nar_bridge_gc_reclaimed_bytes_total', help: 'Pack file bytes given back to the file system', registers });
    this.#lastSuccess = new Gauge({ name: 'nar_bridge_gc_last_success_timestamp_seconds', help: 'When the last garbage collection run finished', registers });
  }

  ran(facts: GcRunFacts | 'skipped'): void {
    if (facts === 'skipped') return void this.#runs.inc({ outcome: 'skipped' });
    this.#runs.inc({ outcome: facts.ok ? 'ok' : 'failed' });
    this.#duration.observe(facts.durationMs / 1000);
    if (!facts.ok) return;
    this.#objects.inc(facts.objects);
    this.#bytes.inc(Math.max(0, facts.diskBytesFreed));
    this.#lastSuccess.set(Date.now() / 1000);
  }
}
