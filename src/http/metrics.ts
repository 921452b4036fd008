// Prometheus metrics for the HTTP surface and the store behind it. The registry is handed in (never prom-client's
// global default), so two servers in one process, as in tests, keep separate counts.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { processReadahead } from '../store/index.js';
import type { ObservedRequest, RequestObservation, RequestObserver } from './observe.js';

/** What the store holds, as the composition root measures it (from SQLite or PostgreSQL and the blob index). */
export interface StoreStats {
  readonly blobs: number;
  /** Sum of blob lengths: file contents kept, each distinct content once (wherever they live, S3 included). */
  readonly blobBytes: number;
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

/** One method, route and status: what its requests added to the counters since they were last collected. */
interface Tally {
  readonly labels: { readonly method: string; readonly route: string; readonly status: string };
  requests: number;
  served: number;
  ingested: number;
}

export class HttpMetrics implements RequestObserver {
  /**
   * Requests are tallied here and reach the counters when they are collected (a scrape): prom-client's labelled inc()
   * hashes and checks its labels on every call, three times per request on the narinfo hot path.
   */
  readonly #tallies = new Map<string, Map<string, Map<number, Tally>>>();
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
    // Whichever of the tallied counters is collected first moves every tally into all three.
    const collect = () => this.#flush();
    this.#requests = new Counter({
      name: 'nar_bridge_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
      collect,
    });
    this.#duration = new Histogram({
      name: 'nar_bridge_http_request_duration_seconds',
      help: 'Time from request to last response byte',
      labelNames: ['method', 'route'],
      buckets: DURATION_BUCKETS_S,
      registers,
    });
    this.#bytesServed = new Counter({
      name: 'nar_bridge_http_served_bytes_total',
      help: 'Response body bytes sent',
      labelNames: ['route'],
      registers,
      collect,
    });
    this.#bytesIngested = new Counter({
      name: 'nar_bridge_http_ingested_bytes_total',
      help: 'Request body bytes received',
      labelNames: ['route'],
      registers,
      collect,
    });
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
        name: 'nar_bridge_store_blob_bytes',
        help: 'Bytes of blob contents the store keeps, each distinct content once',
        registers,
        aggregator: 'max',
        async collect() {
          this.set((await stats()).blobBytes);
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

  finished(_request: ObservedRequest, o: RequestObservation): void {
    const tally = this.#tallies.get(o.route)?.get(o.method)?.get(o.status) ?? this.#newTally(o);
    tally.requests++;
    tally.served += o.bytesOut;
    tally.ingested += o.bytesIn;
    this.#duration.observe({ method: o.method, route: o.route }, o.durationMs / 1000);
  }

  /** Keyed by route, method and status in turn: a key made of the three would be a new string to hash per request. */
  #newTally({ method, route, status }: RequestObservation): Tally {
    const tally: Tally = { labels: { method, route, status: String(status) }, requests: 0, served: 0, ingested: 0 };
    const byMethod = this.#tallies.get(route) ?? new Map<string, Map<number, Tally>>();
    const byStatus = byMethod.get(method) ?? new Map<number, Tally>();
    this.#tallies.set(route, byMethod.set(method, byStatus.set(status, tally)));
    return tally;
  }

  #flush(): void {
    // Kept and zeroed, not deleted: routes, methods and statuses are few and recur.
    for (const tally of allTallies(this.#tallies)) {
      if (tally.requests === 0) continue;
      const { labels } = tally;
      this.#requests.inc(labels, tally.requests);
      this.#bytesServed.inc({ route: labels.route }, tally.served);
      this.#bytesIngested.inc({ route: labels.route }, tally.ingested);
      tally.requests = tally.served = tally.ingested = 0;
    }
  }
}

function* allTallies(byRoute: Map<string, Map<string, Map<number, Tally>>>): Generator<Tally> {
  for (const byMethod of byRoute.values()) for (const byStatus of byMethod.values()) yield* byStatus.values();
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
    // Under --workers one of them runs each collection: the cluster's last success is the latest of theirs.
    this.#lastSuccess = new Gauge({
      name: 'nar_bridge_gc_last_success_timestamp_seconds',
      help: 'When the last garbage collection run finished',
      aggregator: 'max',
      registers,
    });
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
