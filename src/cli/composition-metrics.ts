// Prometheus counters for the composed store: what each upstream cache and each tier answered, and the bytes
// that crossed from far tiers and upstreams.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { NearCacheObserver, Tier, TierObserver } from '../castore/index.js';
import type { UpstreamObserver, UpstreamOutcome } from '../store/index.js';

export class CompositionMetrics implements UpstreamObserver, TierObserver, NearCacheObserver {
  readonly #tierReads: Counter<'service' | 'tier'>;
  readonly #farBytes: Counter;
  readonly #upstreamLookups: Counter<'upstream' | 'outcome'>;
  readonly #upstreamBytes: Counter<'upstream'>;
  readonly #nearCacheBytes: Gauge;
  readonly #nearCacheEvictions: Counter;
  readonly #nearCacheEvictedBytes: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#tierReads = new Counter({
      name: 'nar_bridge_tier_reads_total',
      help: 'Reads of a tiered service by the tier that answered (near, far, none)',
      labelNames: ['service', 'tier'],
      registers,
    });
    this.#farBytes = new Counter({ name: 'nar_bridge_far_blob_bytes_total', help: 'Blob bytes fetched from a far tier', registers });
    this.#upstreamLookups = new Counter({
      name: 'nar_bridge_upstream_lookups_total',
      help: 'Narinfo misses asked of an upstream cache, by outcome (hit, miss, refused, failed)',
      labelNames: ['upstream', 'outcome'],
      registers,
    });
    this.#upstreamBytes = new Counter({
      name: 'nar_bridge_upstream_bytes_total',
      help: 'NAR file bytes downloaded from an upstream cache (as sent, compressed)',
      labelNames: ['upstream'],
      registers,
    });
    this.#nearCacheBytes = new Gauge({ name: 'nar_bridge_near_cache_bytes', help: 'Bytes the near blob cache holds on disk (--cache-max-size)', registers });
    this.#nearCacheEvictions = new Counter({ name: 'nar_bridge_near_cache_evictions_total', help: 'Packs evicted from the near blob cache', registers });
    this.#nearCacheEvictedBytes = new Counter({
      name: 'nar_bridge_near_cache_evicted_bytes_total',
      help: 'Bytes evicted from the near blob cache',
      registers,
    });
  }

  asked(upstream: string, outcome: UpstreamOutcome): void {
    this.#upstreamLookups.inc({ upstream, outcome });
  }

  received(upstream: string, bytes: number): void {
    this.#upstreamBytes.inc({ upstream }, bytes);
  }

  served(service: string, tier: Tier | 'none', reads = 1): void {
    this.#tierReads.inc({ service, tier }, reads);
  }

  fetched(bytes: number): void {
    this.#farBytes.inc(bytes);
  }

  size(bytes: number): void {
    this.#nearCacheBytes.set(bytes);
  }

  evicted(bytes: number): void {
    this.#nearCacheEvictions.inc();
    this.#nearCacheEvictedBytes.inc(bytes);
  }
}
