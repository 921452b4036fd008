// Blob reads kept in flight ahead of the NAR writer: while one file is being sent, the next small files
// are already being read, so a tree of many small files is not one storage round trip after another
// (and over gRPC, not one network round trip after another).
import type { B3Digest, BlobService, CallOptions } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';

interface BlobRef {
  readonly digest: B3Digest;
  readonly size: number;
}

/** Blobs up to this size are read whole, ahead of time; larger ones stream when their turn comes. */
const READAHEAD_BLOB_BYTES = 1024 * 1024;
/** Bytes one NAR stream reads ahead and has not yet sent: a single stream never needs more to keep up. */
const STREAM_READAHEAD_BYTES = 16 * 1024 * 1024;
/**
 * Bytes read ahead and not yet sent by all NAR streams of the process together, beyond each stream's own two batches:
 * 16 streams of trees of small files each holding their own 16 MiB made peak RSS ~300 MB and more. A stream finding the
 * budget spent goes on with its own, and takes more again once others gave some back.
 */
const PROCESS_READAHEAD_BYTES = 32 * 1024 * 1024;
/**
 * Reads (or batches, with readMany) in flight or waiting to be consumed. Over gRPC each small blob is one call and one
 * round trip, so this many per RTT is the ceiling: 128 × ~8 KiB per 20 ms is ~50 MB/s. Local reads are batched into few
 * large ones anyway; the byte budget bounds memory.
 */
const READAHEAD_READS = 128;
/**
 * Small blobs asked for in one readMany: a backend that keeps a tree's files side by side (packs) turns a batch into
 * one or a few large reads, so a tree of many small files costs a few syscalls per MiB, not one per file.
 */
const READAHEAD_BATCH_BYTES = 1024 * 1024;
/** Read-ahead each stream may hold whatever the others do: one batch being sent and the next being read. */
const STREAM_OWN_READAHEAD_BYTES = 2 * READAHEAD_BATCH_BYTES;

/**
 * What NAR streams hold read ahead: each may hold `ownBytes` whatever the others do (a stream that could read ahead
 * nothing would read its small files one by one, many times slower), and what any holds beyond that comes out of one
 * shared `limit`. Streams never wait for it: one stalled client must not hold up the others.
 */
export class ReadaheadBudget {
  #shared = 0;
  #total = 0;

  constructor(
    readonly limit: number,
    readonly ownBytes: number,
  ) {}

  /** Bytes of the shared limit taken and not yet given back. */
  get shared(): number {
    return this.#shared;
  }

  /** Bytes all streams hold read ahead, their own and shared ones. */
  get total(): number {
    return this.#total;
  }

  /** Whether a stream holding `held` bytes could take `bytes` more now. */
  fits(held: number, bytes: number): boolean {
    return this.#shared + this.#beyondOwn(held + bytes) - this.#beyondOwn(held) <= this.limit;
  }

  /** A stream holding `held` bytes takes `bytes` more if they fit. */
  tryTake(held: number, bytes: number): boolean {
    if (!this.fits(held, bytes)) return false;
    this.#shared += this.#beyondOwn(held + bytes) - this.#beyondOwn(held);
    this.#total += bytes;
    return true;
  }

  /** A stream holding `held` bytes gives `bytes` of them back. */
  give(held: number, bytes: number): void {
    this.#shared -= this.#beyondOwn(held) - this.#beyondOwn(held - bytes);
    this.#total -= bytes;
  }

  #beyondOwn(held: number): number {
    return Math.max(0, held - this.ownBytes);
  }
}

/** The budget every NAR stream of this process shares (the gauge nar_bridge_readahead_bytes reports its total). */
export const processReadahead = new ReadaheadBudget(PROCESS_READAHEAD_BYTES, STREAM_OWN_READAHEAD_BYTES);

/** Blobs read together (not necessarily neighbours in `refs`): the read, and how many are not yet handed out. */
interface Batch {
  readonly read: Promise<void>;
  left: number;
}

/** Hands out each blob's contents in the order of `refs`, reading small ones ahead; close() gives back what it holds. */
export class BlobReadahead {
  /** The batch of each blob scheduled and not yet handed out, by its index in `refs`. */
  readonly #batches: Array<Batch | undefined>;
  /** The contents of each blob whose batch was read and that is not yet handed out, by its index in `refs`. */
  readonly #contents: Array<Uint8Array[] | undefined>;
  /** Batches scheduled whose blobs are not all handed out yet. */
  #reads = 0;
  #next = 0;
  #scheduled = 0;
  #bytes = 0;

  #closed = false;

  constructor(
    private readonly blobs: BlobService,
    private readonly refs: readonly BlobRef[],
    private readonly opts: CallOptions,
    private readonly budget: ReadaheadBudget = processReadahead,
  ) {
    this.#batches = new Array<Batch | undefined>(refs.length);
    this.#contents = new Array<Uint8Array[] | undefined>(refs.length);
  }

  /**
   * Contents of the next blob in order: the chunks themselves when its batch was read already (so a tree of small files
   * costs no await per file), else chunks to stream. Must be consumed fully before asking for the one after.
   */
  next(): readonly Uint8Array[] | AsyncIterable<Uint8Array> {
    const index = this.#next++;
    const ref = this.refs[index];
    if (!ref) throw new Error('BlobReadahead asked for more blobs than it was given');
    this.#schedule();
    const batch = this.#batches[index];
    if (!batch) return ref.size === 0 ? NO_CHUNKS : opened(this.blobs, ref, this.opts);
    this.#batches[index] = undefined;
    return this.#contents[index] ? this.#take(batch, index) : this.#whenRead(batch, index);
  }

  /**
   * The stream is over (finished, failed or torn down): what is still read ahead goes back to the budget once its
   * read settles, since until then its bytes are still arriving.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (let index = this.#next; index < this.#scheduled; index++) {
      const batch = this.#batches[index];
      if (!batch) continue;
      this.#batches[index] = undefined;
      this.#contents[index] = undefined;
      const size = this.refs[index]?.size ?? 0;
      const giveBack = () => this.#giveBack(size);
      batch.read.then(giveBack, giveBack);
    }
  }

  async *#whenRead(batch: Batch, index: number): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      await batch.read;
    } catch (err) {
      this.#handedOut(batch, index);
      throw err;
    }
    yield* this.#take(batch, index);
  }

  /**
   * A blob's chunks, given back to the budget as they are handed out: the writer copies small contents into its
   * output chunk at once, so they leave the read-ahead as the next is asked for, as when they were streamed.
   */
  #take(batch: Batch, index: number): Uint8Array[] {
    const contents = this.#contents[index] ?? [];
    this.#contents[index] = undefined;
    this.#handedOut(batch, index);
    return contents;
  }

  #handedOut(batch: Batch, index: number): void {
    this.#giveBack(this.refs[index]?.size ?? 0);
    if (--batch.left === 0) this.#reads--;
  }

  #giveBack(bytes: number): void {
    this.budget.give(this.#bytes, bytes);
    this.#bytes -= bytes;
  }

  #schedule(): void {
    while (!this.#closed && this.#scheduled < this.refs.length && this.#reads < READAHEAD_READS) {
      const indices = this.#nextBatch();
      if (indices.length === 0) break;
      const read = readBatch(
        this.blobs,
        indices.map((i) => this.refs[i] as BlobRef),
        this.opts,
      ).then((contents) => {
        if (this.#closed) return;
        indices.forEach((index, k) => {
          this.#contents[index] = contents[k];
        });
      });
      read.catch(() => undefined); // surfaced when consumed; a stream torn down early never asks
      const batch: Batch = { read, left: indices.length };
      this.#reads++;
      for (const index of indices) this.#batches[index] = batch;
    }
  }

  /**
   * Indices of the next small blobs to read together: one, or (with readMany) neighbours up to a batch's bytes, within
   * budget; blobs streamed when their turn comes (large or empty ones) may lie between them.
   */
  #nextBatch(): number[] {
    const batch: number[] = [];
    // A batch starts only once a whole one fits (or nothing is held): room coming back a file at a time would
    // otherwise make every batch one file, and every file a read of its own (16 streams of small files went 3x slower).
    const roomForBatch = this.#bytes + READAHEAD_BATCH_BYTES <= STREAM_READAHEAD_BYTES && this.budget.fits(this.#bytes, READAHEAD_BATCH_BYTES);
    if (this.blobs.readMany && this.#bytes > 0 && !roomForBatch) return batch;
    let bytes = 0;
    for (; this.#scheduled < this.refs.length; this.#scheduled++) {
      const index = this.#scheduled;
      const ref = this.refs[index];
      if (!ref) break;
      // Already being streamed, or streamed (or empty) when its turn comes: keep reading ahead past it.
      if (index < this.#next - 1 || ref.size > READAHEAD_BLOB_BYTES || ref.size === 0) continue;
      if (this.#bytes > 0 && this.#bytes + ref.size > STREAM_READAHEAD_BYTES) break;
      if (batch.length > 0 && (!this.blobs.readMany || bytes + ref.size > READAHEAD_BATCH_BYTES)) break;
      if (!this.budget.tryTake(this.#bytes, ref.size)) break;
      batch.push(index);
      bytes += ref.size;
      this.#bytes += ref.size;
    }
    return batch;
  }
}

/** Each blob's contents: with one readMany call when the backend has it, else one read. */
async function readBatch(blobs: BlobService, refs: readonly BlobRef[], opts: CallOptions): Promise<Uint8Array[][]> {
  const first = refs[0];
  if (!blobs.readMany || (refs.length === 1 && first)) return first ? [await readWhole(blobs, first, opts)] : [];
  const contents = await blobs.readMany(refs, opts);
  return refs.map((ref, i) => {
    const bytes = contents[i];
    if (!bytes) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `blob ${ref.digest.toHex()} is missing`);
    return [bytes];
  });
}

const NO_CHUNKS: readonly Uint8Array[] = [];

/** A blob streamed when its turn comes: opened only once the writer got that far. */
async function* opened(blobs: BlobService, ref: BlobRef, opts: CallOptions): AsyncGenerator<Uint8Array, void, undefined> {
  yield* await openOrFail(blobs, ref, opts);
}

async function openOrFail(blobs: BlobService, ref: BlobRef, opts: CallOptions): Promise<AsyncIterable<Uint8Array>> {
  if (ref.size === 0) return nothing();
  const contents = await blobs.openRead(ref.digest, { ...opts, size: ref.size });
  if (!contents) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `blob ${ref.digest.toHex()} is missing`);
  return contents;
}

async function readWhole(blobs: BlobService, ref: BlobRef, opts: CallOptions): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of await openOrFail(blobs, ref, opts)) chunks.push(chunk);
  return chunks;
}

async function* nothing(): AsyncGenerator<Uint8Array, void, undefined> {}
