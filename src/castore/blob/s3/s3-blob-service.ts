// S3BlobService: blobs and chunks as pack records (pack/format.ts) in a few large immutable objects of an S3 bucket,
// read back with ranged GETs. Writes are appended to a local spool pack; at flush() (the commit point) each spool pack
// is uploaded as one object named by what it holds, and only then are its index rows committed, so nothing durable
// ever points at bytes the bucket lacks. A spool pack reaching its target size is uploaded while ingest goes on.
// The bucket is a far tier: every record read back is checked against its CRC-32 and its blake3 digest.
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { NarBridgeError } from '../../../errors.js';
import type { CallOptions } from '../../call-options.js';
import { blake3, Blake3Hasher, type B3Digest, type HashedBytes } from '../../digest.js';
import { chunkingParams, type ChunkingParams } from '../fastcdc.js';
import { checkedPayload, PACK_HEADER_BYTES, packFileName, RECORD_HEADER_BYTES } from '../pack/format.js';
import { PackAppender, type Appended } from '../pack/pack-appender.js';
import { PackBlobWriter, putHashedRecords, type RecordSink } from '../pack/pack-blob-service.js';
import { EncodedChunks, type ChunkList, type RecordPlace } from '../pack/pack-index.js';
import { damaged, fillSlots, PackReader, placedWindows, planBatch, planRuns, type Run, type WantedRecord } from '../pack/pack-reader.js';
import { readWhole } from '../read-whole.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions, WriteOptions } from '../service.js';
import { claimTempSpace } from '../temp-space.js';
import type { S3Bucket } from './bucket.js';
import type { ObjectCommit, ObjectIndexStats, PackObjectIndex } from './object-index.js';

export interface S3BlobServiceOptions {
  /** Where this process keeps its spool packs (a folder of its own is made below it; stale ones are removed). */
  readonly spoolDir: string;
  /** Upload a spool pack once it is this large, while writes go on into the next (the last record may take it past). */
  readonly packTargetBytes?: number;
  readonly chunking?: ChunkingParams;
}

/**
 * 64 MiB: an upload of a few seconds at most, so a large ingest is several objects uploaded while it goes on; large
 * enough that a tree of small files is a handful of objects.
 */
const DEFAULT_PACK_TARGET_BYTES = 64 * 1024 * 1024;
/** Records this close together are fetched with one GET (the gap is read and dropped): a request costs more. */
const MAX_GAP_BYTES = 256 * 1024;
/** One ranged GET when streaming a big blob, and the bytes of them in flight ahead of the one being consumed. */
const STREAM_RUN_BYTES = 4 * 1024 * 1024;
const STREAM_READ_AHEAD_BYTES = 16 * 1024 * 1024;
/** Largest GET for readMany; the caller's read-ahead budget bounds how many batches are in flight. */
const BATCH_RUN_BYTES = 4 * 1024 * 1024;
/** Closed records are committed this long after the first of them even if nobody calls flush. */
const AUTO_FLUSH_MS = 2000;
/** What an object's name covers, so another layout or version never names the same key. */
const NAME_DOMAIN = Buffer.from('nar-bridge pack object v1\n');

interface SpoolPack {
  /** Local, positive; places in it carry `pack: -id`, apart from object ids. */
  readonly id: number;
  readonly appender: PackAppender;
  readonly path: string;
}

interface PendingRecord {
  readonly digest: B3Digest;
  readonly place: RecordPlace;
  readonly spool: SpoolPack;
  readonly written: Promise<void>;
}

export class S3BlobService implements BlobService, RecordSink {
  readonly #spoolDir: string;
  readonly #spoolReader: PackReader;
  readonly #params: ChunkingParams;
  readonly #packTargetBytes: number;
  /** Records closed here and not yet committed: readable from the spool, not yet durable. */
  readonly #pending = new Map<string, PendingRecord>();
  readonly #pendingLists = new Map<string, ChunkList>();
  #active: Promise<SpoolPack> | null = null;
  /** Spool packs that take no more writes, in order, awaiting upload and commit (kept for a retry if that fails). */
  readonly #sealed: SpoolPack[] = [];
  #committing: Promise<void> = Promise.resolve();
  #nextSpoolId = 1;
  #autoFlush: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly bucket: S3Bucket,
    private readonly index: PackObjectIndex,
    options: S3BlobServiceOptions,
  ) {
    this.#spoolDir = claimTempSpace(options.spoolDir);
    this.#spoolReader = new PackReader(this.#spoolDir);
    this.#params = options.chunking ?? chunkingParams();
    this.#packTargetBytes = options.packTargetBytes ?? DEFAULT_PACK_TARGET_BYTES;
  }

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    opts?.signal?.throwIfAborted();
    const hex = digest.toHex();
    return this.#pending.has(hex) || this.#pendingLists.has(hex) || (await this.index.contains(digest, opts));
  }

  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    opts?.signal?.throwIfAborted();
    if ((await this.#placesOf([digest], opts)).has(digest.toHex())) return [];
    const list = await this.#chunkList(digest, opts);
    return list ? list.all() : null;
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    const offset = opts?.offset ?? 0;
    const place = (await this.#placesOf([digest], opts)).get(digest.toHex());
    if (place) return this.#stream([{ digest, place }], offset, opts);
    const list = await this.#chunkList(digest, opts);
    if (!list) return null;
    const { first, skip } = list.seek(offset);
    // Placed in one lookup (a round trip to the index each window would cost more than the records held here).
    const wanted: WantedRecord[] = [];
    const placesOf = async (digests: readonly B3Digest[]) => {
      const places = await this.#placesOf(digests, opts);
      return digests.map((d) => places.get(d.toHex()));
    };
    for await (const window of placedWindows(list, first, placesOf, list.length)) wanted.push(...window);
    return this.#stream(wanted, skip, opts);
  }

  /** What the object index holds (committed objects only, not what is still spooled), for store statistics. */
  stats(opts?: CallOptions): Promise<ObjectIndexStats> {
    return this.index.stats(opts);
  }

  /** Deletes pack objects from the bucket (garbage collection, once no index row names them). */
  deleteObjects(keys: readonly string[], opts?: CallOptions): Promise<void> {
    return this.bucket.delete(keys, opts);
  }

  /** Neighbouring records come in one ranged GET; a batch's GETs run together (the caller bounds the batches). */
  async readMany(blobs: readonly ChunkMeta[], opts?: CallOptions): Promise<Array<Uint8Array | null>> {
    opts?.signal?.throwIfAborted();
    const places = await this.#placesOf(
      blobs.map((b) => b.digest),
      opts,
    );
    const plan = planBatch(blobs, (digest) => places.get(digest.toHex()));
    const results = new Array<Uint8Array | null>(blobs.length).fill(null);
    await Promise.all([
      ...planRuns(plan.wanted, BATCH_RUN_BYTES, MAX_GAP_BYTES).map(async (run) => fillSlots(results, run, await this.#readRun(run, opts))),
      ...plan.unplaced.map(async ({ slot, digest }) => {
        results[slot] = await readWhole(this, digest, opts);
      }),
    ]);
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
   * Uploads every spool pack holding closed records (the current one is sealed; the next write starts another), each
   * as one object, then commits its index rows; chunk lists go with the last of the packs their chunks are in. A
   * failure leaves the packs for the next flush to retry.
   */
  async flush(opts?: WriteOptions): Promise<void> {
    opts?.signal?.throwIfAborted();
    const active = this.#active;
    if (active) {
      const spool = await active.catch(() => null);
      if (spool && this.#active === active) this.#seal(spool);
    }
    await this.#commitSealed(opts);
  }

  /** Stops writing; what was not flushed is forgotten with the spool (no index row points at it). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#autoFlush) clearTimeout(this.#autoFlush);
    await this.#committing.catch(() => undefined);
    const spools = [...this.#sealed, ...(this.#active ? [await this.#active.catch(() => null)] : [])];
    await Promise.all(spools.map((s) => s?.appender.close().catch(() => undefined)));
    await this.#spoolReader.close();
    rmSync(this.#spoolDir, { recursive: true, force: true });
  }

  /** Appends one record to the spool unless the object is already held (here or in the index). */
  async store(digest: B3Digest, payload: Uint8Array, _locality: object | undefined): Promise<void> {
    this.#checkOpen();
    const hex = digest.toHex();
    if (this.#pending.has(hex) || (await this.index.contains(digest))) return;
    let appended: Appended | null = null;
    let spool: SpoolPack;
    do {
      spool = await this.#spoolFor(RECORD_HEADER_BYTES + payload.byteLength);
      appended = await spool.appender.append(digest, payload);
    } while (!appended);
    if (this.#pending.has(hex)) return; // stored by another writer meanwhile: ours stays a dead duplicate in the object
    this.#pending.set(hex, { digest, place: { pack: -spool.id, offset: appended.offset, size: payload.byteLength }, spool, written: appended.written });
    spool.appender.scheduleWriteOut();
    this.#scheduleAutoFlush();
  }

  addChunkList(digest: B3Digest, chunks: readonly ChunkMeta[]): void {
    if (!this.#pendingLists.has(digest.toHex())) this.#pendingLists.set(digest.toHex(), { digest, chunks });
    this.#scheduleAutoFlush();
  }

  async #chunkList(digest: B3Digest, opts: CallOptions | undefined): Promise<EncodedChunks | null> {
    const pending = this.#pendingLists.get(digest.toHex());
    return pending ? EncodedChunks.of(pending) : this.index.chunkList(digest, opts);
  }

  /** Places of those of `digests` that are stored: in the spool (negative pack) or in an object. */
  async #placesOf(digests: readonly B3Digest[], opts: CallOptions | undefined): Promise<Map<string, RecordPlace>> {
    const places = new Map<string, RecordPlace>();
    const asked: B3Digest[] = [];
    for (const digest of digests) {
      const pending = this.#pending.get(digest.toHex());
      if (pending) places.set(digest.toHex(), pending.place);
      else asked.push(digest);
    }
    if (asked.length > 0) for (const [hex, place] of await this.index.records(asked, opts)) places.set(hex, place);
    return places;
  }

  /** The payloads of one run's records, each checked. */
  async #readRun(run: Run, opts: CallOptions | undefined): Promise<Buffer[]> {
    if (run.pack > 0) return this.#readObjectRun(run, opts);
    for (const record of run.records) await this.#pending.get(record.digest.toHex())?.written;
    try {
      return await this.#spoolReader.readRun({ ...run, pack: -run.pack });
    } catch (err) {
      // Committed and its spool removed while we were reading: it is in its object now.
      const places = await this.index.records(
        run.records.map((r) => r.digest),
        opts,
      );
      const moved = run.records.map((r) => ({ digest: r.digest, place: places.get(r.digest.toHex()) }));
      if (moved.some((r) => !r.place)) throw err;
      const runs = planRuns(moved as WantedRecord[], Number.MAX_SAFE_INTEGER, MAX_GAP_BYTES);
      return (await Promise.all(runs.map((r) => this.#readObjectRun(r, opts)))).flat();
    }
  }

  /** One ranged GET; every record in it must pass its CRC-32 and hash to its digest. */
  async #readObjectRun(run: Run, opts: CallOptions | undefined): Promise<Buffer[]> {
    const key = await this.index.objectKey(run.pack, opts);
    const bytes = await this.bucket.read(key, run.start, run.end - run.start, opts);
    return run.records.map(({ digest, place }) => {
      const payload = checkedPayload(bytes, place.offset - run.start, digest, place.size);
      if (typeof payload === 'string') throw damaged(digest, place, `${payload} (object ${key})`);
      if (!blake3(payload).equals(digest)) throw damaged(digest, place, `payload does not hash to its digest (object ${key})`);
      return payload;
    });
  }

  /** The payloads of `records` from `skip` bytes in, with ranged GETs of up to STREAM_READ_AHEAD_BYTES in flight. */
  async *#stream(records: readonly WantedRecord[], skip: number, opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    const runs = planRuns(records, STREAM_RUN_BYTES, MAX_GAP_BYTES);
    const ahead: Array<{ bytes: number; read: Promise<Buffer[]> }> = [];
    let next = 0;
    let aheadBytes = 0;
    const fill = () => {
      for (let run = runs[next]; run && (ahead.length === 0 || aheadBytes + run.end - run.start <= STREAM_READ_AHEAD_BYTES); run = runs[++next]) {
        const read = this.#readRun(run, opts);
        read.catch(() => undefined); // surfaced when its turn comes; a reader that stops early never asks
        ahead.push({ bytes: run.end - run.start, read });
        aheadBytes += run.end - run.start;
      }
    };
    fill();
    for (let current = ahead.shift(); current; current = ahead.shift()) {
      opts?.signal?.throwIfAborted();
      const payloads = await current.read;
      aheadBytes -= current.bytes;
      fill();
      for (const payload of payloads) {
        if (skip >= payload.byteLength) {
          skip -= payload.byteLength;
          continue;
        }
        yield skip > 0 ? payload.subarray(skip) : payload;
        skip = 0;
      }
    }
  }

  /** The spool pack to append `bytes` to: the current one, or (once that is full or failed) a new one. */
  async #spoolFor(bytes: number): Promise<SpoolPack> {
    for (;;) {
      this.#active ??= this.#createSpool();
      const active = this.#active;
      let spool: SpoolPack;
      try {
        spool = await active;
      } catch (err) {
        if (this.#active === active) this.#active = null;
        throw new NarBridgeError('NB_ERR_STORAGE', 'blob store: cannot create a spool pack', { cause: err });
      }
      if (this.#active !== active) continue; // rolled over while we waited
      const { appender } = spool;
      if (!appender.failed && (appender.end + bytes <= this.#packTargetBytes || appender.end <= PACK_HEADER_BYTES)) return spool;
      this.#seal(spool);
      // Uploaded while ingest fills the next pack; a failure is retried, and reported, by the next flush.
      this.#commitSealed(undefined).catch(() => undefined);
    }
  }

  #createSpool(): Promise<SpoolPack> {
    const id = this.#nextSpoolId++;
    const path = join(this.#spoolDir, packFileName(id));
    return PackAppender.create(id, path).then((appender) => ({ id, appender, path }));
  }

  /** No more appends to `spool`: it waits in line for its upload. */
  #seal(spool: SpoolPack): void {
    spool.appender.retired = true;
    if (this.#active) this.#active = null;
    this.#sealed.push(spool);
  }

  /** Uploads and commits the sealed packs in order, one commit at a time (callers queue up behind each other). */
  #commitSealed(opts: CallOptions | undefined): Promise<void> {
    const run = this.#committing.catch(() => undefined).then(() => this.#commitAll(opts));
    this.#committing = run;
    return run;
  }

  async #commitAll(opts: CallOptions | undefined): Promise<void> {
    if (this.#autoFlush) {
      clearTimeout(this.#autoFlush);
      this.#autoFlush = null;
    }
    for (let spool = this.#sealed[0]; spool; spool = this.#sealed[0]) {
      await this.#commitSpool(spool, opts);
      this.#sealed.shift();
    }
    // Lists whose chunks were all stored before (deduplicated) have no pack to go with.
    const lists = this.#readyLists(null);
    if (lists.length > 0) await this.#commitIndex({ object: null, records: [], lists }, opts);
  }

  /** One spool pack: written out, uploaded under its content name, indexed, then removed from the spool. */
  async #commitSpool(spool: SpoolPack, opts: CallOptions | undefined): Promise<void> {
    let bytes: number;
    try {
      bytes = await spool.appender.sync();
    } catch (err) {
      this.#discard(spool);
      throw new NarBridgeError('NB_ERR_STORAGE', 'blob store: writing a spool pack failed', { cause: err });
    }
    const records = [...this.#pending.values()].filter((r) => r.spool === spool).sort((a, b) => a.place.offset - b.place.offset);
    const lists = this.#readyLists(spool);
    if (records.length > 0) {
      const key = objectKey(records, bytes);
      await this.bucket.upload(key, spool.path, opts);
      const recheck = async () => {
        if (!(await this.bucket.exists(key, opts))) await this.bucket.upload(key, spool.path, opts);
      };
      await this.#commitIndex(
        { object: { key, bytes }, records: records.map((r) => ({ digest: r.digest, offset: r.place.offset, size: r.place.size })), lists, recheck },
        opts,
      );
    } else if (lists.length > 0) {
      await this.#commitIndex({ object: null, records: [], lists }, opts);
    }
    for (const r of records) this.#pending.delete(r.digest.toHex());
    for (const l of lists) this.#pendingLists.delete(l.digest.toHex());
    await spool.appender.close();
    this.#spoolReader.forget(spool.id);
    unlinkSync(spool.path);
  }

  async #commitIndex(commit: ObjectCommit, opts: CallOptions | undefined): Promise<void> {
    await this.index.commit(commit, opts);
    for (const l of commit.lists) this.#pendingLists.delete(l.digest.toHex());
  }

  /** Pending lists whose every chunk is committed, or is in `spool` (about to be). */
  #readyLists(spool: SpoolPack | null): ChunkList[] {
    return [...this.#pendingLists.values()].filter((l) =>
      l.chunks.every((c) => {
        const pending = this.#pending.get(c.digest.toHex());
        return !pending || pending.spool === spool;
      }),
    );
  }

  /** A spool pack that could not be written: its records are forgotten, with the lists that need them. */
  #discard(spool: SpoolPack): void {
    const dropped = new Set<string>();
    for (const [hex, r] of this.#pending) {
      if (r.spool !== spool) continue;
      this.#pending.delete(hex);
      dropped.add(hex);
    }
    for (const [hex, list] of this.#pendingLists) if (list.chunks.some((c) => dropped.has(c.digest.toHex()))) this.#pendingLists.delete(hex);
    const at = this.#sealed.indexOf(spool);
    if (at >= 0) this.#sealed.splice(at, 1);
    void spool.appender.close().catch(() => undefined);
    this.#spoolReader.forget(spool.id);
    rmSync(spool.path, { force: true });
  }

  #scheduleAutoFlush(): void {
    if (this.#autoFlush || this.#closed) return;
    this.#autoFlush = setTimeout(() => {
      this.#autoFlush = null;
      this.flush().catch(() => undefined); // an explicit flush reports the failure to whoever needs durability
    }, AUTO_FLUSH_MS);
    this.#autoFlush.unref();
  }

  #checkOpen(): void {
    if (this.#closed) throw new NarBridgeError('NB_ERR_STORAGE', 'blob store is closed');
  }
}

/**
 * The object's key: a digest of what it holds (each indexed record's digest, offset and size, and its length). Record
 * bytes are fixed by their digests, so the same name always means an object serving the same records: an upload
 * retried, or made by two replicas, writes the same bytes to the same key.
 */
function objectKey(records: readonly PendingRecord[], bytes: number): string {
  const hasher = new Blake3Hasher();
  hasher.update(NAME_DOMAIN);
  const entry = Buffer.alloc(32 + 8 + 4);
  for (const r of records) {
    entry.set(r.digest.bytes, 0);
    entry.writeBigUInt64LE(BigInt(r.place.offset), 32);
    entry.writeUInt32LE(r.place.size, 40);
    hasher.update(entry);
  }
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(bytes));
  hasher.update(length);
  return `packs/${hasher.digest().toHex()}.pack`;
}
