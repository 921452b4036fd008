// A bounded in-memory cache in front of a PathInfoService: narinfo lookups are the hottest request a
// binary cache gets, and a PathInfo is small and immutable once read. Hits return the same object, so
// callers can memoise what they derive from it (the served narinfo text) by identity.
import type { CallOptions } from '../castore/index.js';
import type { PathInfo } from './path-info.js';
import type { PathInfoService } from './path-info-service.js';

export interface PathInfoCacheOptions {
  /** Entries kept; the least recently used goes first. */
  readonly maxEntries?: number;
  /**
   * How long an entry may be served without asking the inner service again. Puts through this wrapper
   * replace entries at once; this only bounds how stale a write made elsewhere (another process on a
   * shared gRPC store) can look.
   */
  readonly ttlMs?: number;
}

/** ~1 KiB per entry: 100k narinfos is ~100 MB at most, far below that for typical closures. */
const DEFAULT_MAX_ENTRIES = 50_000;
const DEFAULT_TTL_MS = 10_000;

interface Entry {
  readonly info: PathInfo;
  readonly expires: number;
}

export class CachingPathInfoService implements PathInfoService {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;

  constructor(
    private readonly inner: PathInfoService,
    { maxEntries = DEFAULT_MAX_ENTRIES, ttlMs = DEFAULT_TTL_MS }: PathInfoCacheOptions = {},
  ) {
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
  }

  async get(digest: Uint8Array, opts?: CallOptions): Promise<PathInfo | null> {
    const key = keyOf(digest);
    const entry = this.#entries.get(key);
    if (entry && entry.expires > Date.now()) {
      // Re-insert: Map iteration order is insertion order, so the oldest key is the least recently used.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return entry.info;
    }
    const info = await this.inner.get(digest, opts);
    if (info) this.#remember(key, info);
    else this.#entries.delete(key);
    return info;
  }

  /** Forgets the entry, so the next get reads what the inner service now holds (it may add signatures). */
  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    await this.inner.put(info, opts);
    this.#entries.delete(keyOf(info.storePath.digest));
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.inner.list(opts);
  }

  #remember(key: string, info: PathInfo): void {
    this.#entries.delete(key);
    this.#entries.set(key, { info, expires: Date.now() + this.#ttlMs });
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }
}

function keyOf(digest: Uint8Array): string {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('latin1');
}
