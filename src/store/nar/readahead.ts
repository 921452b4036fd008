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
/** Bytes read ahead and not yet sent: bounds memory per NAR stream. */
const READAHEAD_BUDGET_BYTES = 16 * 1024 * 1024;
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

/** Hands out each blob's contents in the order of `refs`, reading small ones ahead. */
export class BlobReadahead {
  readonly #ahead = new Map<number, Promise<Uint8Array[]>>();
  /** Reads (or batches) scheduled whose blobs are not all consumed yet. */
  readonly #unconsumed = new Map<number, number>();
  /** Which batch (named by its first index) each scheduled blob belongs to. */
  readonly #batchOf = new Map<number, number>();
  #reads = 0;
  #next = 0;
  #scheduled = 0;
  #bytes = 0;

  constructor(
    private readonly blobs: BlobService,
    private readonly refs: readonly BlobRef[],
    private readonly opts: CallOptions,
  ) {}

  /** Contents of the next blob in order. Must be consumed fully before asking for the one after. */
  async *next(): AsyncGenerator<Uint8Array, void, undefined> {
    const index = this.#next++;
    const ref = this.refs[index];
    if (!ref) throw new Error('BlobReadahead asked for more blobs than it was given');
    this.#schedule();
    const read = this.#ahead.get(index);
    if (!read) {
      yield* await openOrFail(this.blobs, ref, this.opts);
      return;
    }
    this.#ahead.delete(index);
    try {
      yield* await read;
    } finally {
      this.#bytes -= ref.size;
      this.#consumed(index);
    }
  }

  #schedule(): void {
    while (this.#scheduled < this.refs.length && this.#reads < READAHEAD_READS) {
      const batch = this.#nextBatch();
      if (batch.length === 0) break;
      const read = readBatch(
        this.blobs,
        batch.map((b) => b.ref),
        this.opts,
      );
      read.catch(() => undefined); // surfaced when consumed; a stream torn down early never asks
      this.#reads++;
      const id = batch[0]?.index ?? 0;
      this.#unconsumed.set(id, batch.length);
      batch.forEach(({ index }, k) => {
        const own = read.then((contents) => contents[k] ?? []);
        own.catch(() => undefined); // as above: each blob's share is awaited only if the stream gets that far
        this.#ahead.set(index, own);
        this.#batchOf.set(index, id);
      });
    }
  }

  /** The next small blobs to read together: one, or (with readMany) neighbours up to a batch's bytes; within budget. */
  #nextBatch(): Array<{ index: number; ref: BlobRef }> {
    const batch: Array<{ index: number; ref: BlobRef }> = [];
    let bytes = 0;
    for (; this.#scheduled < this.refs.length; this.#scheduled++) {
      const index = this.#scheduled;
      const ref = this.refs[index];
      if (!ref) break;
      // Already being streamed, or streamed (or empty) when its turn comes: keep reading ahead past it.
      if (index < this.#next - 1 || ref.size > READAHEAD_BLOB_BYTES || ref.size === 0) continue;
      if (this.#bytes > 0 && this.#bytes + ref.size > READAHEAD_BUDGET_BYTES) break;
      if (batch.length > 0 && (!this.blobs.readMany || bytes + ref.size > READAHEAD_BATCH_BYTES)) break;
      batch.push({ index, ref });
      bytes += ref.size;
      this.#bytes += ref.size;
    }
    return batch;
  }

  #consumed(index: number): void {
    const id = this.#batchOf.get(index);
    if (id === undefined) return;
    this.#batchOf.delete(index);
    const left = (this.#unconsumed.get(id) ?? 1) - 1;
    if (left > 0) {
      this.#unconsumed.set(id, left);
      return;
    }
    this.#unconsumed.delete(id);
    this.#reads--;
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
