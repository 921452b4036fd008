// UpstreamPathInfoService: a PathInfoService wrapper that answers a miss by pulling the path from upstream
// Nix binary caches (verified, ingested into our castore, stored), so the HTTP routes need no change.
import type { CallOptions } from '../../../castore/index.js';
import { encodeNixBase32, type StorePathDigest } from '../../../nix/index.js';
import { asWriter, type Castore, type Fence } from '../../../castore/index.js';
import type { PathInfo } from '../../path-info.js';
import type { PathInfoService } from '../service.js';
import type { BinaryCacheClient } from './client.js';
import { checkUpstreamSignature, pullNar } from './pull.js';
import { NarBridgeError } from '../../../errors.js';

export type UpstreamOutcome = 'hit' | 'miss' | 'refused' | 'failed';

/** Where metrics hook in; one call per upstream asked, and per piece of NAR file received. */
export interface UpstreamObserver {
  asked(upstream: string, outcome: UpstreamOutcome): void;
  received(upstream: string, bytes: number): void;
}

/** The pino methods we use, so services can take Fastify's logger or a child of it. */
export interface UpstreamLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface UpstreamSettings {
  /** How long a path no upstream had (or could give us) is answered as absent without asking again. */
  readonly missTtlMs: number;
  readonly observer?: UpstreamObserver;
  readonly log?: UpstreamLog;
}

/** Nix caches misses for an hour (narinfo-cache-negative-ttl); ours is shorter, as upstreams fill up. */
export const DEFAULT_UPSTREAM_MISS_TTL_MS = 60_000;
/** Remembered misses, oldest forgotten first: a scan of random hashes must not grow memory without end. */
const MAX_REMEMBERED_MISSES = 100_000;

export class UpstreamPathInfoService implements PathInfoService {
  readonly #clients: readonly BinaryCacheClient[];
  /** Store path digest hex → the pull every concurrent asker shares. */
  readonly #inFlight = new Map<string, Promise<PathInfo | null>>();
  /** Store path digest hex → when the remembered miss expires (ms since the epoch). */
  readonly #misses = new Map<string, number>();

  constructor(
    private readonly inner: PathInfoService,
    private readonly castore: Castore & { readonly fence?: Fence },
    clients: readonly BinaryCacheClient[],
    private readonly settings: UpstreamSettings = { missTtlMs: DEFAULT_UPSTREAM_MISS_TTL_MS },
  ) {
    this.#clients = [...clients].sort((a, b) => a.cache.priority - b.cache.priority);
  }

  /** What we hold is answered without asking any upstream, so a slow upstream never delays it. */
  async get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    const held = await this.inner.get(digest, opts);
    if (held) return held;
    const key = Buffer.from(digest).toString('hex');
    const missUntil = this.#misses.get(key);
    if (missUntil !== undefined) {
      if (missUntil > Date.now()) return null;
      this.#misses.delete(key);
    }
    let pull = this.#inFlight.get(key);
    if (!pull) {
      // Not tied to this caller's signal: others may be waiting on the same pull.
      pull = this.#pull(digest).finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pull);
    }
    const info = await pull;
    if (!info) this.#rememberMiss(key);
    return info;
  }

  put(info: PathInfo, opts?: CallOptions): Promise<void> {
    return this.inner.put(info, opts);
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.inner.list(opts);
  }

  /** Asks the upstreams in priority order; the first that has the path and passes every check wins. */
  async #pull(digest: StorePathDigest): Promise<PathInfo | null> {
    const hashPart = encodeNixBase32(digest);
    const { observer, log } = this.settings;
    for (const client of this.#clients) {
      const upstream = client.cache.baseUrl;
      try {
        const narInfo = await client.narInfo(hashPart);
        if (!narInfo) {
          observer?.asked(upstream, 'miss');
          continue;
        }
        if (narInfo.storePath.hashPart !== hashPart) {
          throw new NarBridgeError('NB_ERR_FORBIDDEN', `${hashPart}.narinfo from ${upstream} describes ${narInfo.storePath.basename}`);
        }
        checkUpstreamSignature(narInfo, client);
        const started = Date.now();
        const onBytes = observer ? (bytes: number) => observer.received(upstream, bytes) : undefined;
        // One writer from ingest to PathInfo: a GC must not take what the NAR deduplicated against in between.
        const info = await asWriter(this.castore.fence, async () => {
          const pulled = await pullNar(narInfo, client, this.castore, onBytes ? { onBytes } : {});
          await this.inner.put(pulled);
          return pulled;
        });
        observer?.asked(upstream, 'hit');
        log?.info({ upstream, storePath: info.storePath.basename, narSize: info.narSize, durationMs: Date.now() - started }, 'path pulled from upstream');
        return info;
      } catch (err) {
        const refused = NarBridgeError.is(err) && (err.code === 'NB_ERR_FORBIDDEN' || err.code === 'NB_ERR_HASH_MISMATCH');
        observer?.asked(upstream, refused ? 'refused' : 'failed');
        log?.warn({ upstream, hashPart, err }, refused ? 'upstream path refused' : 'upstream failed');
      }
    }
    return null;
  }

  #rememberMiss(key: string): void {
    this.#misses.delete(key);
    this.#misses.set(key, Date.now() + this.settings.missTtlMs);
    if (this.#misses.size > MAX_REMEMBERED_MISSES) {
      const oldest = this.#misses.keys().next();
      if (!oldest.done) this.#misses.delete(oldest.value);
    }
  }
}
