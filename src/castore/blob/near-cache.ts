// NearBlobCache: a bounded local cache of blobs, the near tier in front of a blob service that is the real home of
// the data (a remote nar-bridge, an object store). It is the pack engine over a directory of its own, evicting whole
// packs, least recently read first: a pack holds what was filled around the same time, so dropping one is a single
// unlink and one transaction, never a rewrite. Anything evicted is fetched again (and verified) by the tier above.
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isEnoent, NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import { Blake3Hasher, type B3Digest } from '../digest.js';
import { migrate, openDatabase, readRows, type Database } from '../sqlite.js';
import { PackBlobService, RECORD_HEADER_BYTES } from './pack/index.js';
import { readWhole } from './read-whole.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions, WriteOptions } from './service.js';

/** Where metrics hook in: the cache's size after each change, and each pack evicted. */
export interface NearCacheObserver {
  size(bytes: number): void;
  evicted(bytes: number): void;
}

/**
 * A pack is this share of the cap (so eviction frees space in steps of 1/16), between bounds: a large pack keeps
 * file count low, a small one keeps a small cache from being one or two packs.
 */
const PACK_SHARE = 16;
const MIN_PACK_BYTES = 256 * 1024;
const MAX_PACK_BYTES = 256 * 1024 * 1024;
/** A blob larger than this share of the cap passes through uncached: caching it would evict most of the rest. */
const MAX_BLOB_SHARE = 8;
/** Read times are written to disk at most this often, in one transaction: a read costs a Map update, never a write. */
const USE_FLUSH_MS = 10_000;

/** Pages of write-ahead log before SQLite folds it into the index file. */
const WAL_CHECKPOINT_PAGES = 64;
/** What the index's log and shared-memory file may grow by between two measurements: kept free under the cap. */
const INDEX_SLACK_BYTES = WAL_CHECKPOINT_PAGES * 4096 + 32 * 1024;

/** The smallest cap that leaves room for the index's slack and a few packs. */
export const NEAR_CACHE_MIN_BYTES = 4 * 1024 * 1024;

const SCHEMA = ['CREATE TABLE near_cache_use (pack INTEGER PRIMARY KEY NOT NULL, used_at INTEGER NOT NULL);'];

export class NearBlobCache implements BlobService {
  readonly #dir: string;
  readonly #db: Database;
  readonly #packs: PackBlobService;
  readonly #packsDir: string;
  readonly #maxBytes: number;
  /** What packs and index may take when measured: the cap less what the index may grow by before the next check. */
  readonly #budget: number;
  readonly #packBytes: number;
  /** Last read (or fill) of each pack, ms since the epoch; 0 for packs never read before the cache was opened. */
  readonly #usedAt = new Map<number, number>();
  readonly #unsaved = new Set<number>();
  /** Reads in progress per pack: such a pack is not evicted until they end. */
  readonly #readers = new Map<number, number>();
  /** Bytes on disk as last measured, plus what writers added since. */
  #bytes = 0;
  /** Bytes writers made room for and are writing now: not on disk yet, but about to be. */
  #landing = 0;
  #sinceCheck = 0;
  /** The commit-measure-evict pass under way: one at a time, writers wait for it. */
  #checking: Promise<void> = Promise.resolve();
  #saveTimer: NodeJS.Timeout | null = null;

  /** Opens (creating) the cache in `dir`: its own index database and pack directory. */
  constructor(
    dir: string,
    maxBytes: number,
    private readonly observer?: NearCacheObserver,
  ) {
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.#db = openDatabase(join(dir, 'index.sqlite'));
    // The index counts against the cap too: keep its write-ahead log small (SQLite's default lets it reach 4 MB).
    this.#db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    this.#db.exec(`PRAGMA journal_size_limit = ${WAL_CHECKPOINT_PAGES * 4096}`);
    migrate(this.#db, 'near_cache', SCHEMA);
    this.#maxBytes = maxBytes;
    this.#budget = maxBytes - INDEX_SLACK_BYTES;
    this.#packBytes = Math.min(MAX_PACK_BYTES, Math.max(MIN_PACK_BYTES, Math.floor(maxBytes / PACK_SHARE)));
    this.#packsDir = join(dir, 'packs');
    this.#packs = new PackBlobService(this.#db, this.#packsDir, { packTargetBytes: this.#packBytes });
    // Read times of packs a crash left empty (the pack engine drops those on open) go too.
    this.#db.exec('DELETE FROM near_cache_use WHERE pack NOT IN (SELECT id FROM pack_files)');
    for (const row of readRows('near_cache_use', this.#db.prepare('SELECT pack, used_at FROM near_cache_use').all([])))
      this.#usedAt.set(row.integer('pack'), row.integer('used_at'));
    // Packs filled and never read before the last close are the oldest: they go first.
    for (const pack of this.#packs.index.packs()) if (!this.#usedAt.has(pack.id)) this.#usedAt.set(pack.id, 0);
    this.#measure();
    this.#evict();
  }

  /** Bytes the cache holds on disk (index and packs), as last measured plus writes since. */
  get bytes(): number {
    return this.#bytes;
  }

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    opts?.signal?.throwIfAborted();
    return this.#packs.packsOf(digest) !== null;
  }

  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return this.#packs.packsOf(digest) === null ? null : this.#packs.chunks(digest, opts);
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    // Looked up and held in one turn of the event loop: eviction, which runs in its own turns, cannot slip between.
    const packs = this.#packs.packsOf(digest);
    if (!packs) return null;
    const now = Date.now();
    for (const pack of packs) {
      this.#touch(pack, now);
      this.#readers.set(pack, (this.#readers.get(pack) ?? 0) + 1);
    }
    let contents: AsyncIterable<Uint8Array> | null;
    try {
      contents = await this.#packs.openRead(digest, opts);
    } catch (err) {
      this.#release(packs);
      throw err;
    }
    if (!contents) {
      this.#release(packs);
      return null;
    }
    return this.#held(digest, contents, packs);
  }

  /**
   * Small blobs in one readMany of the packs (a tree's files are then a few large reads), their packs held as openRead
   * holds them. One the cache lacks, or holds only in part (a chunk evicted), is null: the tier above fetches it. A
   * damaged record fails the batch; the blobs are then read one by one, so the damaged one is found and forgotten.
   */
  async readMany(blobs: readonly ChunkMeta[], opts?: CallOptions): Promise<Array<Uint8Array | null>> {
    opts?.signal?.throwIfAborted();
    const held = new Set<number>();
    const present: ChunkMeta[] = [];
    const slots: number[] = [];
    const now = Date.now();
    blobs.forEach((blob, slot) => {
      const packs = this.#packs.packsOf(blob.digest);
      if (!packs) return;
      for (const pack of packs) held.add(pack);
      present.push(blob);
      slots.push(slot);
    });
    for (const pack of held) {
      this.#touch(pack, now);
      this.#readers.set(pack, (this.#readers.get(pack) ?? 0) + 1);
    }
    const results = new Array<Uint8Array | null>(blobs.length).fill(null);
    try {
      const contents = await this.#packs.readMany(present, opts);
      contents.forEach((bytes, k) => {
        results[slots[k] ?? -1] = bytes;
      });
    } catch (err) {
      if (!(NarBridgeError.is(err) && err.code === 'NB_ERR_STORAGE')) throw err;
      for (const [k, blob] of present.entries()) results[slots[k] ?? -1] = await readWhole(this, blob.digest, opts);
    } finally {
      this.#release(held);
    }
    return results;
  }

  openWrite(opts?: WriteOptions): BlobWriter {
    return new NearCacheWriter(this.#packs.openWrite(opts), Math.floor(this.#maxBytes / MAX_BLOB_SHARE), {
      reserve: (bytes) => this.#reserve(bytes),
      landed: (bytes) => {
        this.#landing -= bytes;
      },
    });
  }

  flush(opts?: WriteOptions): Promise<void> {
    return this.#packs.flush(opts);
  }

  /** Commits what was filled, saves the read times and closes the pack engine and the index. */
  async close(): Promise<void> {
    if (this.#saveTimer) clearTimeout(this.#saveTimer);
    await this.#checking.catch(() => undefined);
    await this.#packs.flush().catch(() => undefined); // a cache: what is lost is fetched again
    this.#save();
    await this.#packs.close();
    this.#db.close();
  }

  async *#held(digest: B3Digest, contents: AsyncIterable<Uint8Array>, packs: ReadonlySet<number>): AsyncGenerator<Uint8Array, void, undefined> {
    let failed = false;
    try {
      yield* contents;
    } catch (err) {
      failed = NarBridgeError.is(err) && err.code === 'NB_ERR_STORAGE';
      throw err;
    } finally {
      this.#release(packs);
      if (failed) {
        // A damaged (or unreadable) record: the blob and its chunks are forgotten (their bytes go with their pack),
        // so the next read fetches it again.
        const chunks = (await this.#packs.chunks(digest)) ?? [];
        this.#packs.deleteObjects([digest, ...chunks.map((c) => c.digest)]);
      }
    }
  }

  #release(packs: ReadonlySet<number>): void {
    for (const pack of packs) {
      const left = (this.#readers.get(pack) ?? 1) - 1;
      if (left > 0) this.#readers.set(pack, left);
      else this.#readers.delete(pack);
    }
  }

  /**
   * A writer is about to store `bytes`: every half pack written (or past the cap), commit what was written (sealing
   * full packs, which only then can go) and evict until the next half pack fits under the cap.
   */
  #reserve(bytes: number): Promise<void> {
    this.#landing += bytes;
    this.#bytes += bytes;
    this.#sinceCheck += bytes;
    if (this.#bytes <= this.#budget && this.#sinceCheck < this.#packBytes / 2) return this.#checking;
    this.#sinceCheck = 0;
    this.#checking = this.#checking
      .catch(() => undefined)
      .then(async () => {
        await this.#packs.flush();
        this.#measure();
        this.#evict();
      });
    return this.#checking;
  }

  /**
   * Drops sealed packs nobody is reading, least recently used first (never-read ones oldest first), until the cache
   * has room for the next half pack, and one pack more so that a check does not evict a pack at a time.
   */
  #evict(): void {
    if (this.#bytes + this.#packBytes / 2 <= this.#budget) return;
    const target = this.#budget - this.#packBytes;
    const now = Date.now();
    const candidates = this.#packs.index.packs().filter((p) => p.ownerPid === null && !this.#readers.has(p.id));
    // A pack not seen before was filled since the last check: as recent as a read now.
    for (const pack of candidates) if (!this.#usedAt.has(pack.id)) this.#touch(pack.id, now);
    candidates.sort((a, b) => (this.#usedAt.get(a.id) ?? 0) - (this.#usedAt.get(b.id) ?? 0) || a.id - b.id);
    for (const pack of candidates) {
      if (this.#bytes <= target) break;
      this.#drop(pack.id);
    }
    this.#measure();
  }

  /** Drops one pack and its read time; a pack with records not yet committed stays for a later check. */
  #drop(pack: number): void {
    const freed = this.#packs.dropPack(pack);
    if (freed === 0) return;
    this.#db.prepare('DELETE FROM near_cache_use WHERE pack = ?').run([pack]);
    this.#usedAt.delete(pack);
    this.#unsaved.delete(pack);
    this.#bytes -= freed;
    this.observer?.evicted(freed);
  }

  /** Sizes the cache's files on disk: the index and the packs (a handful: each is 1/16 of the cap). */
  #measure(): void {
    const files = [
      ...readdirSync(this.#dir)
        .filter((name) => name.startsWith('index.sqlite'))
        .map((name) => join(this.#dir, name)),
      ...readdirSync(this.#packsDir).map((name) => join(this.#packsDir, name)),
    ];
    let bytes = 0;
    for (const file of files) {
      try {
        bytes += statSync(file).size;
      } catch (err) {
        if (!isEnoent(err)) throw err; // dropped while we listed
      }
    }
    this.#bytes = bytes + this.#landing;
    this.observer?.size(bytes);
  }

  #touch(pack: number, at: number): void {
    this.#usedAt.set(pack, at);
    this.#unsaved.add(pack);
    this.#scheduleSave();
  }

  #scheduleSave(): void {
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = null;
      this.#save();
    }, USE_FLUSH_MS);
    this.#saveTimer.unref();
  }

  /** Writes the read times changed since the last save, in one transaction. */
  #save(): void {
    if (this.#unsaved.size === 0) return;
    const upsert = this.#db.prepare('INSERT INTO near_cache_use (pack, used_at) VALUES (?, ?) ON CONFLICT (pack) DO UPDATE SET used_at = excluded.used_at');
    const packs = [...this.#unsaved];
    this.#unsaved.clear();
    this.#db.transaction(() => {
      for (const pack of packs) upsert.run([pack, this.#usedAt.get(pack) ?? 0]);
    })();
  }
}

/**
 * Writes into the pack engine until the blob outgrows the per-blob limit or the cache fails (a full disk); from then
 * on it only hashes, so the digest the tier above checks is still the whole blob's and the read it fills goes on.
 * Nothing of such a blob stays listed (chunks already stored are valid objects that age out like any other).
 */
class NearCacheWriter implements BlobWriter {
  readonly #hasher = new Blake3Hasher();
  #size = 0;
  /** Room reserved so far: the pack engine may hold some of it in its chunk cutter until close(). */
  #reserved = 0;
  #inner: BlobWriter | null;

  constructor(
    inner: BlobWriter,
    private readonly maxBytes: number,
    private readonly room: { reserve(bytes: number): Promise<void>; landed(bytes: number): void },
  ) {
    this.#inner = inner;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#hasher.update(chunk);
    this.#size += chunk.byteLength;
    if (!this.#inner) return;
    if (this.#size > this.maxBytes) return this.#stop((inner) => inner.abort());
    const bytes = RECORD_HEADER_BYTES + chunk.byteLength;
    this.#reserved += bytes;
    try {
      await this.room.reserve(bytes); // room is made before the bytes land
      await this.#inner.write(chunk);
    } catch {
      await this.#stop((inner) => inner.abort()).catch(() => undefined);
    }
  }

  async close(): Promise<B3Digest> {
    const digest = this.#hasher.digest();
    await this.#stop((inner) => inner.close()).catch(() => undefined); // not cached: fetched again next time
    return digest;
  }

  abort(reason?: unknown): Promise<void> {
    return this.#stop((inner) => inner.abort(reason));
  }

  /** Ends the pack engine's writer (once); its bytes are on disk or dropped, so they stop counting as landing. */
  async #stop(end: (inner: BlobWriter) => Promise<unknown>): Promise<void> {
    const inner = this.#inner;
    if (!inner) return;
    this.#inner = null;
    try {
      await end(inner);
    } finally {
      this.room.landed(this.#reserved);
      this.#reserved = 0;
    }
  }
}
