// PackBlobService: the embedded blob store. Blobs up to one chunk, and the FastCDC chunks of larger ones, are
// records appended to pack files (format.ts) in the order they were written; the index (pack-index.ts) maps digests
// to places. close() makes a blob readable; flush() makes everything closed so far durable with one fsync per pack
// and one SQLite transaction.
import { mkdirSync, readdirSync, statSync, truncateSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isEnoent, NarBridgeError } from '../../../errors.js';
import { blake3, Blake3Hasher, type B3Digest, type HashedBytes } from '../../digest.js';
import type { Database } from '../../sqlite.js';
import { isProcessAlive } from '../../process-alive.js';
import { ChunkCutter } from '../chunk-cutter.js';
import { chunkingParams, type ChunkingParams } from '../fastcdc.js';
import type { CallOptions } from '../../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions, WriteOptions } from '../service.js';
import { streamReadBuffers, type ReadLease } from '../read-buffers.js';
import { readWhole } from '../read-whole.js';
import { PACK_HEADER_BYTES, packFileName, RECORD_HEADER_BYTES } from './format.js';
import { PackAppender, type Appended } from './pack-appender.js';
import { EncodedChunks, PackIndex, type ChunkList, type IndexedRecord, type RecordPlace } from './pack-index.js';
import { fillSlots, PackReader, placedWindows, planBatch, planRuns, type Run, type WantedRecord } from './pack-reader.js';

/** A stream's read in flight: the pooled buffer it reads into, and the run's payloads once read. */
interface StartedRun {
  readonly lease: ReadLease;
  readonly read: Promise<Buffer[]>;
}

export interface PackStoreOptions {
  /** Start a new pack once the current one is this large (the last record may take it past). */
  readonly packTargetBytes?: number;
  readonly chunking?: ChunkingParams;
}

/**
 * 256 MiB: few enough files that descriptors stay cached, small enough that a pack is a sensible unit to upload to
 * an object store or to rewrite when GC drops most of it.
 */
const DEFAULT_PACK_TARGET_BYTES = 256 * 1024 * 1024;
/**
 * Largest single read when streaming: two of these per reader (one being sent, one being read). Peak RSS serving 16
 * streams of a 256 MiB NAR was 320–360 MB with 1 MiB reads and 280 MB with these, at the same speed.
 */
const STREAM_RUN_BYTES = 512 * 1024;
/** Largest single read for readMany: the caller's read-ahead budget bounds how many are in flight. */
const BATCH_RUN_BYTES = 4 * 1024 * 1024;
/**
 * Closed-but-unflushed records are committed this long after the first of them even if nobody calls flush (a tier
 * filling its cache never does): bounds what a crash forgets and what the pending map holds.
 */
const AUTO_FLUSH_MS = 2000;

interface PendingRecord {
  readonly digest: B3Digest;
  readonly place: RecordPlace;
  readonly appender: PackAppender;
  readonly written: Promise<void>;
}

export class PackBlobService implements BlobService {
  readonly #index: PackIndex;
  readonly #reader: PackReader;
  readonly #params: ChunkingParams;
  readonly #packTargetBytes: number;
  /** Records closed in this process and not yet committed: readable here, not yet durable. */
  readonly #pending = new Map<string, PendingRecord>();
  readonly #pendingLists = new Map<string, ChunkList>();
  /** Packs holding bytes not yet fsynced and committed: the active one and retired ones awaiting their last flush. */
  readonly #unflushed = new Set<PackAppender>();
  /**
   * The pack each group of writes appends to: one per locality (an ingest), so concurrent ingests do not interleave
   * record by record; writes without one share `#defaultActive`. A group's pack goes back to `#idle` when the group
   * flushes with its locality (or its key is garbage collected), for the next group to fill.
   */
  #defaultActive: Promise<PackAppender> | null = null;
  readonly #groups = new WeakMap<object, Promise<PackAppender>>();
  readonly #idle: PackAppender[] = [];
  readonly #abandoned = new FinalizationRegistry<Promise<PackAppender>>((active) => this.#makeIdle(active));
  #flushing: Promise<void> = Promise.resolve();
  #autoFlush: NodeJS.Timeout | null = null;
  #closed = false;

  /** Opens the packs under `dir` (creating it), indexed in `db`; cuts off uncommitted tails a crash left. */
  constructor(
    db: Database,
    private readonly dir: string,
    options: PackStoreOptions = {},
  ) {
    mkdirSync(dir, { recursive: true });
    this.#index = new PackIndex(db);
    this.#reader = new PackReader(dir);
    this.#params = options.chunking ?? chunkingParams();
    this.#packTargetBytes = options.packTargetBytes ?? DEFAULT_PACK_TARGET_BYTES;
    this.#recover();
  }

  get index(): PackIndex {
    return this.#index;
  }

  get reader(): PackReader {
    return this.#reader;
  }

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    opts?.signal?.throwIfAborted();
    const hex = digest.toHex();
    return this.#pending.has(hex) || this.#pendingLists.has(hex) || this.#index.contains(digest);
  }

  async size(digest: B3Digest, opts?: CallOptions): Promise<number | null> {
    opts?.signal?.throwIfAborted();
    const place = this.#place(digest);
    if (place) return place.size;
    return this.#chunkList(digest)?.blobSize ?? null;
  }

  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    opts?.signal?.throwIfAborted();
    if (this.#place(digest)) return [];
    const list = this.#chunkList(digest);
    return list ? list.all() : null;
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    const place = this.#place(digest);
    if (place) return this.#stream([[{ digest, place }]], opts?.offset ?? 0, opts?.signal);
    const list = this.#chunkList(digest);
    if (!list) return null;
    const { first, skip } = list.seek(opts?.offset ?? 0);
    return this.#stream(
      placedWindows(list, first, (digests) => this.#placesOf(digests)),
      skip,
      opts?.signal,
    );
  }

  async readMany(blobs: readonly ChunkMeta[], opts?: CallOptions): Promise<Array<Uint8Array | null>> {
    opts?.signal?.throwIfAborted();
    const places = this.#placesOf(blobs.map((b) => b.digest));
    const plan = planBatch(blobs, (_, slot) => places[slot]);
    const results = new Array<Uint8Array | null>(blobs.length).fill(null);
    const others = Promise.all(
      plan.unplaced.map(async ({ slot, digest }) => {
        results[slot] = await readWhole(this, digest, opts);
      }),
    );
    others.catch(() => undefined); // surfaced below, unless a run failed first
    await this.#awaitPending(plan.wanted);
    // One run at a time: the caller keeps several batches in flight already, and a batch of scattered records
    // (ingested beside another upload) must not flood libuv's thread pool ahead of the reads the stream needs first.
    for (const run of planRuns(plan.wanted, BATCH_RUN_BYTES)) fillSlots(results, run, await this.#readRun(run));
    await others;
    return results;
  }

  openWrite(opts?: WriteOptions): BlobWriter {
    this.#checkOpen();
    return new PackBlobWriter(this, this.#params, opts);
  }

  async putHashed(blob: HashedBytes, opts?: WriteOptions): Promise<void> {
    this.#checkOpen();
    return putHashedRecords(this, this.#params.maxSize, blob, opts);
  }

  /**
   * Fsyncs every pack written since the last flush, then commits their records in one transaction; with a
   * locality, that group is over and its pack is free for the next.
   */
  async flush(opts?: WriteOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
    const flushed = this.#flushing.then(() => this.#flushNow());
    this.#flushing = flushed.catch(() => undefined);
    await flushed;
    if (opts?.locality) this.#release(opts.locality);
  }

  /**
   * Stops writing. What was waiting for its automatic flush is flushed first, as the timer would have (a near tier's
   * fills are never flushed otherwise: a restart fetched them from far again); what is still being written is an
   * uncommitted tail the next open cuts off.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#autoFlush) await this.flush().catch(() => undefined); // best effort, as the timer's own flush
    await this.#flushing;
    await Promise.all([...this.#unflushed].map((a) => a.close().catch(() => undefined)));
    await this.#reader.close();
  }

  /**
   * Drops `digests` (blobs, chunk lists, chunks) from the index; an object closed here but not yet flushed is kept,
   * as are the chunks of a list not yet flushed. Synchronous, so a caller can make it part of a larger transaction
   * on the same database. The bytes stay on disk until repack().
   */
  deleteObjects(digests: readonly B3Digest[]): { records: number; lists: number; bytes: number } {
    const pendingChunks = new Set<string>();
    for (const list of this.#pendingLists.values()) for (const chunk of list.chunks) pendingChunks.add(chunk.digest.toHex());
    const unflushed = (hex: string) => this.#pending.has(hex) || this.#pendingLists.has(hex) || pendingChunks.has(hex);
    return this.#index.deleteObjects(digests.filter((d) => !unflushed(d.toHex())));
  }

  /**
   * Gives back the disk space of deleted objects: a sealed pack nothing points at is removed; one whose live share is
   * at most `maxLiveShare` has its live records copied into a new pack (fsynced), the index re-pointed in one
   * transaction, then the old file removed. `beforeRemove` runs between the re-pointing and the unlink (a test hook
   * for crashes; a crash anywhere leaves a pack whose rows are gone, and the next repack removes it).
   */
  async repack(
    maxLiveShare: number,
    hooks: { beforeRemove?: () => void | Promise<void> } = {},
  ): Promise<{ packsRemoved: number; bytesFreed: number; bytesCopied: number }> {
    this.#checkOpen();
    // The shared pack and idle ones are sealed first (the next write starts a new one), so their dead bytes count too;
    // a pack an ingest in flight is appending to stays its own and is left for a later run.
    const sealing = [...(this.#defaultActive ? [this.#defaultActive] : []), ...this.#idle.splice(0).map((idle) => Promise.resolve(idle))];
    this.#defaultActive = null;
    for (const active of sealing) {
      await active.then(
        (appender) => {
          appender.retired = true;
        },
        () => undefined,
      );
    }
    await this.flush();
    let packsRemoved = 0;
    let bytesFreed = 0;
    let bytesCopied = 0;
    // A pack file without an index row is what a crash between a repack's re-pointing and its unlink left (a row is
    // always inserted before its file is created, so listing files before reading rows cannot catch a new pack).
    const files = readdirSync(this.dir).filter((name) => /^[0-9a-f]{8}\.pack$/.test(name));
    const indexed = new Set(this.#index.packs().map((p) => packFileName(p.id)));
    for (const name of files) {
      if (indexed.has(name)) continue;
      bytesFreed += fileSize(join(this.dir, name)) ?? 0;
      unlinkSync(join(this.dir, name));
      packsRemoved++;
    }
    for (const pack of this.#index.packs()) {
      if (pack.ownerPid !== null) continue;
      const path = join(this.dir, packFileName(pack.id));
      const payload = pack.durableBytes - PACK_HEADER_BYTES;
      if (pack.liveBytes > 0 && pack.liveBytes > payload * maxLiveShare) continue;
      const records = pack.liveBytes > 0 ? this.#index.recordsIn(pack.id) : [];
      if (records.length === 0) {
        this.#index.repoint(pack.id, pack.id, pack.durableBytes, []);
      } else {
        const copy = await this.#copyRecords(records);
        this.#index.repoint(pack.id, copy.id, copy.durableBytes, copy.records);
        bytesCopied += copy.durableBytes - PACK_HEADER_BYTES;
      }
      await hooks.beforeRemove?.();
      this.#reader.forget(pack.id);
      bytesFreed += fileSize(path) ?? 0;
      if (fileSize(path) !== null) unlinkSync(path);
      packsRemoved++;
    }
    return { packsRemoved, bytesFreed, bytesCopied };
  }

  /** The packs last written at or after `since` (milliseconds since the epoch; the file's modification time). */
  packsWrittenSince(since: number): Set<number> {
    return new Set(
      this.#index
        .packs()
        .filter((p) => (fileMtime(join(this.dir, packFileName(p.id))) ?? 0) >= since)
        .map((p) => p.id),
    );
  }

  /**
   * Closes the descriptors of packs no longer indexed: another process's repack removed them, and an open descriptor
   * would keep their disk space taken.
   */
  forgetRemovedPacks(): void {
    const indexed = new Set(this.#index.packs().map((p) => p.id));
    this.#reader.forgetAllBut(indexed);
  }

  /**
   * The packs holding every record of the blob (its own, or its chunks'), or null when it is absent or a chunk of
   * its list is gone (a cache dropped that chunk's pack): a blob readable now reads only from these.
   */
  packsOf(digest: B3Digest): Set<number> | null {
    const place = this.#place(digest);
    if (place) return new Set([place.pack]);
    const chunks = this.#chunkList(digest)?.all();
    if (!chunks) return null;
    const packs = new Set<number>();
    for (const at of this.#placesOf(chunks.map((c) => c.digest))) {
      if (!at) return null;
      packs.add(at.pack);
    }
    return packs;
  }

  /**
   * Removes a sealed pack whole: its records leave the index with it (chunk lists that needed them are left to the
   * caller, see packsOf), then the file goes. Returns the bytes freed; 0 for a pack still being written or holding
   * records not yet committed.
   */
  dropPack(id: number): number {
    const pack = this.#index.packs().find((p) => p.id === id);
    if (!pack || pack.ownerPid !== null) return 0;
    // Sealed, yet a writer that picked it before it was retired may have appended since: those wait for a flush.
    for (const record of this.#pending.values()) if (record.place.pack === id) return 0;
    this.#index.dropPack(id);
    this.#reader.forget(id);
    const path = join(this.dir, packFileName(id));
    const bytes = fileSize(path) ?? 0;
    if (bytes > 0) unlinkSync(path);
    return bytes;
  }

  /** Counts and sizes for store statistics. */
  stats(): { records: number; payloadBytes: number; packs: number; packBytes: number } {
    const packs = this.#index.packs();
    return { ...this.#index.totals(), packs: packs.length, packBytes: packs.reduce((sum, p) => sum + p.durableBytes, 0) };
  }

  /**
   * Stores one record unless the object is already held; returns once the bytes were copied (the caller may reuse
   * `payload`). The record is readable from then on: a read waits for its write-out, which starts within one turn of
   * the event loop (appends made in the same turn share one write).
   */
  async store(digest: B3Digest, payload: Uint8Array, locality: object | undefined): Promise<void> {
    this.#checkOpen();
    if (this.#pending.has(digest.toHex()) || this.#index.record(digest)) return;
    let appended: Appended | null = null;
    let appender: PackAppender;
    do {
      appender = await this.#appender(RECORD_HEADER_BYTES + payload.byteLength, locality);
      appended = await appender.append(digest, payload);
    } while (!appended);
    if (this.#pending.has(digest.toHex())) return; // another writer stored it while we waited: ours is a dead duplicate
    this.#pending.set(digest.toHex(), {
      digest,
      place: { pack: appender.id, offset: appended.offset, size: payload.byteLength },
      appender,
      written: appended.written,
    });
    appender.scheduleWriteOut();
    this.#scheduleAutoFlush();
  }

  /** Records a chunked blob's list; its chunks were stored first. */
  addChunkList(digest: B3Digest, chunks: readonly ChunkMeta[]): void {
    if (this.#pendingLists.has(digest.toHex()) || this.#index.chunkList(digest)) return;
    this.#pendingLists.set(digest.toHex(), { digest, chunks });
    this.#scheduleAutoFlush();
  }

  /** Copies `records` (checked as they are read) into a new pack of their own, fsynced; not yet indexed. */
  async #copyRecords(records: readonly IndexedRecord[]): Promise<{ id: number; durableBytes: number; records: IndexedRecord[] }> {
    const id = this.#index.allocatePack(process.pid, PACK_HEADER_BYTES);
    const appender = await PackAppender.create(id, join(this.dir, packFileName(id)));
    try {
      const copied: IndexedRecord[] = [];
      for (const run of planRuns(
        records.map((r) => ({ digest: r.digest, place: r })),
        BATCH_RUN_BYTES,
      )) {
        const payloads = await this.#reader.readRun(run);
        for (const [i, payload] of payloads.entries()) {
          const record = run.records[i];
          if (!record) continue;
          const appended = await appender.append(record.digest, payload);
          if (!appended) throw new NarBridgeError('NB_ERR_STORAGE', `repack: pack ${id} refused a record`);
          copied.push({ digest: record.digest, pack: id, offset: appended.offset, size: payload.byteLength });
        }
      }
      return { id, durableBytes: await appender.sync(), records: copied };
    } finally {
      await appender.close();
    }
  }

  #place(digest: B3Digest): RecordPlace | null {
    return this.#pending.get(digest.toHex())?.place ?? this.#index.record(digest);
  }

  #chunkList(digest: B3Digest): EncodedChunks | null {
    const pending = this.#pendingLists.get(digest.toHex());
    return pending ? EncodedChunks.of(pending) : this.#index.chunkList(digest);
  }

  /** Where each of `digests` is, in the same order: closed here and not yet committed, or indexed. */
  #placesOf(digests: readonly B3Digest[]): Array<RecordPlace | undefined> {
    const places = this.#index.places(digests);
    if (this.#pending.size > 0) {
      digests.forEach((digest, i) => {
        places[i] = this.#pending.get(digest.toHex())?.place ?? places[i];
      });
    }
    return places;
  }

  /**
   * A run's payloads. Its places were looked up a moment ago; if its pack is gone since (a repack, maybe in another
   * process, copied the records elsewhere and removed the file), they are looked up again and read from there (into
   * fresh buffers: `into`, a pooled buffer the first read fills, is sized for the old run).
   */
  async #readRun(run: Run, into?: Buffer): Promise<Buffer[]> {
    try {
      return await this.#reader.readRun(run, into);
    } catch (err) {
      if (!(err instanceof NarBridgeError && isEnoent(err.cause))) throw err;
      const places = this.#placesOf(run.records.map((r) => r.digest));
      const moved: WantedRecord[] = [];
      for (const [i, { digest }] of run.records.entries()) {
        const place = places[i];
        if (!place || place.pack === run.pack) throw err; // not moved: really missing
        moved.push({ digest, place });
      }
      const payloads: Buffer[] = [];
      for (const again of planRuns(moved, STREAM_RUN_BYTES)) payloads.push(...(await this.#reader.readRun(again)));
      return payloads;
    }
  }

  /** Records closed here but maybe still in a write buffer: wait until the OS has them. */
  async #awaitPending(records: readonly WantedRecord[]): Promise<void> {
    if (this.#pending.size === 0) return;
    for (const { digest } of records) {
      const pending = this.#pending.get(digest.toHex());
      if (pending) await pending.written;
    }
  }

  /**
   * The payloads of `records` from `skip` bytes in, one large read ahead of the one being consumed. The reads go into
   * pooled buffers; a consumer that sent a chunk may hand it back (releaseReadBuffer) for the next read to reuse.
   */
  async *#stream(
    windows: AsyncIterable<readonly WantedRecord[]> | Iterable<readonly WantedRecord[]>,
    skip: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const runs = this.#runs(windows);
    const start = (): Promise<StartedRun | null> => {
      const started = runs.next().then(({ value: run, done }) => {
        if (done) return null;
        const lease = streamReadBuffers.take(run.end - run.start);
        const read = this.#readRun(run, lease.buffer);
        read.catch(() => undefined);
        return { lease, read };
      });
      started.catch(() => undefined); // both surface when their turn comes; a reader that stops early never asks
      return started;
    };
    let next: Promise<StartedRun | null> | null = start();
    try {
      while (next) {
        signal?.throwIfAborted();
        const current = await next;
        next = null;
        if (!current) break;
        const payloads = await current.read; // a failed read's buffer is left to the garbage collector
        next = start();
        try {
          for (const payload of payloads) {
            if (skip >= payload.byteLength) {
              skip -= payload.byteLength;
              continue;
            }
            yield streamReadBuffers.lend(current.lease, skip > 0 ? payload.subarray(skip) : payload);
            skip = 0;
          }
        } finally {
          streamReadBuffers.drop(current.lease);
        }
      }
    } finally {
      // The consumer stopped early: the read ahead keeps its buffer until it settles.
      const ahead: Promise<StartedRun | null> | null = next;
      ahead?.then(
        (started) => {
          const drop = () => started && streamReadBuffers.drop(started.lease);
          started?.read.then(drop, drop);
        },
        () => undefined,
      );
    }
  }

  /** A stream's runs, window after window; records still in a write buffer are waited for first. */
  async *#runs(windows: AsyncIterable<readonly WantedRecord[]> | Iterable<readonly WantedRecord[]>): AsyncGenerator<Run, void, undefined> {
    for await (const window of windows) {
      await this.#awaitPending(window);
      yield* planRuns(window, STREAM_RUN_BYTES);
    }
  }

  /**
   * The pack the group `locality` appends `bytes` to: its own, or (once that reached its target size or failed)
   * an idle one or a new one.
   */
  async #appender(bytes: number, locality: object | undefined): Promise<PackAppender> {
    for (;;) {
      const active = this.#activeOf(locality) ?? this.#assign(locality);
      let current: PackAppender;
      try {
        current = await active;
      } catch (err) {
        if (this.#activeOf(locality) === active) this.#setActive(locality, null);
        throw new NarBridgeError('NB_ERR_STORAGE', 'blob store: cannot create a pack file', { cause: err });
      }
      if (this.#activeOf(locality) !== active) continue; // another writer of the group rolled over while we waited
      if (!current.failed && (current.end + bytes <= this.#packTargetBytes || current.end <= PACK_HEADER_BYTES)) return current;
      current.retired = true;
      this.#setActive(locality, null);
    }
  }

  #activeOf(locality: object | undefined): Promise<PackAppender> | null {
    return (locality ? this.#groups.get(locality) : this.#defaultActive) ?? null;
  }

  #setActive(locality: object | undefined, active: Promise<PackAppender> | null): void {
    if (!locality) this.#defaultActive = active;
    else if (active) this.#groups.set(locality, active);
    else this.#groups.delete(locality);
  }

  /** Gives the group a pack of its own: an idle one that is not full, else a new one. */
  #assign(locality: object | undefined): Promise<PackAppender> {
    let idle = this.#idle.pop();
    while (idle && (idle.retired || idle.failed)) idle = this.#idle.pop();
    const active = idle ? Promise.resolve(idle) : this.#createPack();
    this.#setActive(locality, active);
    if (locality) this.#abandoned.register(locality, active, locality); // an ingest that failed never flushes its group
    return active;
  }

  /** The group is over: its pack takes the next group's writes. */
  #release(locality: object): void {
    const active = this.#groups.get(locality);
    this.#groups.delete(locality);
    this.#abandoned.unregister(locality);
    if (active) this.#makeIdle(active);
  }

  #makeIdle(active: Promise<PackAppender>): void {
    active.then(
      (appender) => {
        if (!appender.retired && !appender.failed && !this.#closed) this.#idle.push(appender);
      },
      () => undefined, // creating it failed: nothing to reuse
    );
  }

  #createPack(): Promise<PackAppender> {
    const id = this.#index.allocatePack(process.pid, PACK_HEADER_BYTES);
    return PackAppender.create(id, join(this.dir, packFileName(id))).then((appender) => {
      this.#unflushed.add(appender);
      return appender;
    });
  }

  async #flushNow(): Promise<void> {
    if (this.#autoFlush) {
      clearTimeout(this.#autoFlush);
      this.#autoFlush = null;
    }
    const records = [...this.#pending.values()];
    const lists = [...this.#pendingLists.values()];
    const packs = [...this.#unflushed];
    // Decided now: a pack retired during the fsync below may still have taken appends before it was; the next flush
    // seals it.
    const sealed = new Set(packs.filter((p) => p.retired));
    if (records.length === 0 && lists.length === 0 && sealed.size === 0) return;
    const synced = await Promise.all(
      packs.map((p) =>
        p.sync().then(
          (bytes) => ({ p, bytes }),
          (err: unknown) => ({ p, err }),
        ),
      ),
    );
    const failed = synced.filter((s) => 'err' in s);
    if (failed.length > 0) {
      await this.#discard(failed.map((f) => f.p));
      throw new NarBridgeError('NB_ERR_STORAGE', 'blob store: writing a pack failed', { cause: 'err' in failed[0]! ? failed[0].err : undefined });
    }
    this.#index.commit({
      records: records.map((r) => ({ digest: r.digest, ...r.place })),
      lists,
      packs: synced.map((s) => ({ id: s.p.id, durableBytes: 'bytes' in s ? s.bytes : 0, sealed: sealed.has(s.p) })),
    });
    for (const r of records) if (this.#pending.get(r.digest.toHex()) === r) this.#pending.delete(r.digest.toHex());
    for (const l of lists) if (this.#pendingLists.get(l.digest.toHex()) === l) this.#pendingLists.delete(l.digest.toHex());
    for (const p of sealed) {
      this.#unflushed.delete(p);
      await p.close();
    }
  }

  /**
   * A pack whose write or fsync failed is never trusted again: its uncommitted records are forgotten (with the
   * lists that need them), its tail cut off to give the space back, and the next write starts a new pack.
   */
  async #discard(packs: readonly PackAppender[]): Promise<void> {
    const dropped = new Set<string>();
    for (const appender of packs) {
      for (const [hex, r] of this.#pending) {
        if (r.appender !== appender) continue;
        this.#pending.delete(hex);
        dropped.add(hex);
      }
      this.#unflushed.delete(appender);
      appender.retired = true; // #appender() replaces a failed pack on the next write
      const durable = this.#index.packs().find((p) => p.id === appender.id)?.durableBytes ?? PACK_HEADER_BYTES;
      await appender.truncate(durable).catch(() => undefined); // best effort: the next open cuts it off too
      this.#index.seal(appender.id);
      await appender.close().catch(() => undefined);
    }
    for (const [hex, list] of this.#pendingLists) if (list.chunks.some((c) => dropped.has(c.digest.toHex()))) this.#pendingLists.delete(hex);
  }

  #scheduleAutoFlush(): void {
    if (this.#autoFlush) return;
    this.#autoFlush = setTimeout(() => {
      this.#autoFlush = null;
      this.flush().catch(() => undefined); // an explicit flush reports the failure to whoever needs durability
    }, AUTO_FLUSH_MS);
    this.#autoFlush.unref();
  }

  /**
   * Packs whose writer is gone (a crash, or a clean exit) are sealed, and bytes past what was committed are cut off;
   * packs of another live process sharing the data dir are left alone.
   */
  #recover(): void {
    for (const pack of this.#index.packs()) {
      if (pack.ownerPid === null) continue;
      if (pack.ownerPid !== process.pid && isProcessAlive(pack.ownerPid)) continue;
      const path = join(this.dir, packFileName(pack.id));
      const size = fileSize(path);
      if (pack.liveBytes === 0 && pack.durableBytes <= PACK_HEADER_BYTES) {
        if (size !== null) unlinkSync(path);
        this.#index.deletePack(pack.id);
        continue;
      }
      if (size !== null && size > pack.durableBytes) truncateSync(path, pack.durableBytes);
      this.#index.seal(pack.id);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new NarBridgeError('NB_ERR_STORAGE', 'blob store is closed');
  }
}

function fileSize(path: string): number | null {
  return fileStat(path)?.size ?? null;
}

function fileMtime(path: string): number | null {
  return fileStat(path)?.mtimeMs ?? null;
}

function fileStat(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (err) {
    if (isEnoent(err)) return null;
    throw err;
  }
}

/** Where a PackBlobWriter puts what it cuts: one record per chunk (or whole small blob), and chunked blobs' lists. */
export interface RecordSink {
  store(digest: B3Digest, payload: Uint8Array, locality: object | undefined): Promise<void>;
  addChunkList(digest: B3Digest, chunks: readonly ChunkMeta[]): void;
}

/**
 * putHashed of a service over records: a blob of at most one chunk is one record under the digest it came with
 * (`store` skips one already there: one index lookup per small file, not two); a larger one is cut as a writer would.
 */
export async function putHashedRecords(
  service: RecordSink & Pick<BlobService, 'has' | 'openWrite'>,
  maxChunkBytes: number,
  blob: HashedBytes,
  opts: WriteOptions | undefined,
): Promise<void> {
  opts?.signal?.throwIfAborted();
  if (blob.bytes.byteLength <= maxChunkBytes) return service.store(blob.digest, blob.bytes, opts?.locality);
  if (await service.has(blob.digest, opts)) return;
  const writer = service.openWrite(opts);
  await writer.write(blob.bytes);
  await writer.close();
}

/**
 * Hashes each byte once for the whole blob as it arrives, and once for its chunk when a chunk is cut (no other pass
 * re-reads it); a blob of at most one maximum chunk is one record under the whole digest, larger ones are FastCDC
 * chunks plus a list. Buffers up to two maximum chunks.
 */
export class PackBlobWriter implements BlobWriter {
  readonly #whole = new Blake3Hasher();
  readonly #cutter: ChunkCutter;
  readonly #chunks: ChunkMeta[] = [];
  #state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly service: RecordSink,
    params: ChunkingParams,
    private readonly opts: WriteOptions | undefined,
  ) {
    this.#cutter = new ChunkCutter(params);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#whole.update(chunk);
    await this.#cutter.push(chunk, (cut) => this.#store(cut));
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closed';
    const digest = this.#whole.digest();
    // Readable once stored: a read of a record still in the write buffer waits for its write-out, so close() need
    // not (waiting here made every small file of an ingest a write syscall of its own).
    if (!this.#cutter.cut) {
      await this.service.store(digest, this.#cutter.rest(), this.opts?.locality);
    } else {
      await this.#cutter.finish((cut) => this.#store(cut));
      this.service.addChunkList(digest, this.#chunks);
    }
    this.#cutter.release();
    return digest;
  }

  /** Chunks already stored stay: they are valid content-addressed objects, possibly shared. */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#cutter.release();
  }

  /** A chunk, hashed once here and copied into the pack before the cutter's buffer moves on. */
  async #store(chunk: Uint8Array): Promise<void> {
    const digest = blake3(chunk);
    this.#chunks.push({ digest, size: chunk.byteLength });
    await this.service.store(digest, chunk, this.opts?.locality);
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`blob writer already ${this.#state}`);
    this.opts?.signal?.throwIfAborted();
  }
}
