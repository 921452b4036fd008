// A bounded in-memory cache in front of a PathInfoService: narinfo lookups are the hottest request a
// binary cache gets, and a PathInfo is small and immutable once read. Hits return the same object, so
// callers can memoise what they derive from it (the served narinfo text) by identity. Several processes serving one
// store (serve --workers) each keep one, and tell each other of their puts (peers), so none serves an old entry.
import type { StorePathDigest } from '../../nix/index.js';
import type { CallOptions } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';

export interface PathInfoCacheOptions {
  /** Entries kept; the least recently used goes first. */
  readonly maxEntries?: number;
  /**
   * How long an entry may be served without asking the inner service again. Puts through this wrapper
   * replace entries at once; this only bounds how stale a write made elsewhere (another process on a
   * shared gRPC store) can look.
   */
  readonly ttlMs?: number;
  /**
   * How long a miss may be answered without asking again (0: never). Kept short: a path written past every cache
   * (`nar-bridge import` beside a live server, a far store written through another door) shows up after this long.
   */
  readonly missTtlMs?: number;
  /** The other processes caching the same store, told of each put here and telling of theirs. */
  readonly peers?: PathInfoCachePeers;
}

/**
 * A PathInfo only changes when signatures are merged into it (or it is deleted); each process caching it must hear of
 * that before the write is answered, or a client could read the old one from another process right after.
 */
export interface PathInfoCachePeers {
  /** Tells every peer that `digest` changed; resolves once they have all forgotten it (or stopped answering). */
  changed(digest: Uint8Array): Promise<void>;
  /** `forget` is called with each digest a peer changed. */
  subscribe(forget: (digest: Uint8Array) => void): void;
}

/** ~1 KiB per entry: 100k narinfos is ~100 MB at most, far below that for typical closures. */
const DEFAULT_MAX_ENTRIES = 50_000;
const DEFAULT_TTL_MS = 10_000;
/**
 * Clients ask again and again for paths nobody pushed yet (every builder of a new commit); one second of remembering
 * turns those repeats into memory hits. Puts through any cache of the store, and deletions, forget misses as entries.
 */
const DEFAULT_MISS_TTL_MS = 1_000;
/** Misses kept at most: apart from entries, so a flood of lookups of random paths cannot push out the entries. */
const MAX_MISSES = 10_000;

interface Entry {
  readonly info: PathInfo;
  readonly expires: number;
}

/** A get that missed and is asking the inner service; a put of its key while it waits makes its answer stale. */
interface Read {
  stale: boolean;
}

export class CachingPathInfoService implements PathInfoService {
  readonly #entries = new Map<string, Entry>();
  /** Paths found absent, by key, with when that answer expires. */
  readonly #misses = new Map<string, number>();
  /** Gets asking the inner service, by key; only keys with a get in flight are here. */
  readonly #reads = new Map<string, Set<Read>>();
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #missTtlMs: number;
  readonly #peers: PathInfoCachePeers | undefined;

  constructor(
    private readonly inner: PathInfoService,
    { maxEntries = DEFAULT_MAX_ENTRIES, ttlMs = DEFAULT_TTL_MS, missTtlMs = DEFAULT_MISS_TTL_MS, peers }: PathInfoCacheOptions = {},
  ) {
    this.#maxEntries = maxEntries;
    this.#ttlMs = ttlMs;
    this.#missTtlMs = missTtlMs;
    this.#peers = peers;
    peers?.subscribe((digest) => this.forget(digest));
  }

  async get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    const key = keyOf(digest);
    const entry = this.#entries.get(key);
    if (entry && entry.expires > Date.now()) {
      // Re-insert: Map iteration order is insertion order, so the oldest key is the least recently used.
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      return entry.info;
    }
    const missed = this.#misses.get(key);
    if (missed !== undefined && missed > Date.now()) return null;
    const read: Read = { stale: false };
    const reads = this.#reads.get(key) ?? new Set();
    this.#reads.set(key, reads.add(read));
    try {
      const info = await this.inner.get(digest, opts);
      // An answer the inner service gave before a put landed may be the old one: the caller gets it, the cache not.
      if (!info) {
        this.#entries.delete(key);
        if (!read.stale) this.#rememberMiss(key);
      } else if (!read.stale) this.#remember(key, info);
      return info;
    } finally {
      reads.delete(read);
      if (reads.size === 0) this.#reads.delete(key);
    }
  }

  /**
   * Forgets the entry and what gets in flight will answer, so the next get reads what the inner service now
   * holds (it may add signatures). Also when the put fails: the inner service may hold it all the same.
   */
  async put(info: PathInfo, opts?: CallOptions): Promise<void> {
    try {
      await this.inner.put(info, opts);
    } finally {
      this.forget(info.storePath.digest);
      await this.#peers?.changed(info.storePath.digest);
    }
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.inner.list(opts);
  }

  /** Drops what is cached for a path deleted behind this cache's back (GC, deletion), and gets in flight for it. */
  forget(digest: Uint8Array): void {
    const key = keyOf(digest);
    this.#entries.delete(key);
    this.#misses.delete(key);
    for (const read of this.#reads.get(key) ?? []) read.stale = true;
  }

  #rememberMiss(key: string): void {
    if (this.#missTtlMs <= 0) return;
    this.#misses.delete(key);
    this.#misses.set(key, Date.now() + this.#missTtlMs);
    if (this.#misses.size > MAX_MISSES) {
      const oldest = this.#misses.keys().next();
      if (!oldest.done) this.#misses.delete(oldest.value);
    }
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
