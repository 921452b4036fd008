// Blob reads kept in flight ahead of the NAR writer: while one file is being sent, the next small files
// are already being read, so a tree of many small files is not one storage round trip after another
// (and over gRPC, not one network round trip after another).
import type { B3Digest, BlobService, CallOptions } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';

export interface BlobRef {
  readonly digest: B3Digest;
  readonly size: number;
}

/** Blobs up to this size are read whole, ahead of time; larger ones stream when their turn comes. */
const READAHEAD_BLOB_BYTES = 1024 * 1024;
/** Bytes read ahead and not yet sent: bounds memory per NAR stream. */
const READAHEAD_BUDGET_BYTES = 16 * 1024 * 1024;
/**
 * Reads in flight at once. Over gRPC each small blob is one call and one round trip, so this many per RTT is the
 * ceiling: 128 × ~8 KiB per 20 ms is ~50 MB/s. Local reads just queue for libuv's threads; the byte budget bounds memory.
 */
const READAHEAD_READS = 128;

/** Hands out each blob's contents in the order of `refs`, reading small ones ahead. */
export class BlobReadahead {
  readonly #ahead = new Map<number, Promise<Uint8Array[]>>();
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
    }
  }

  #schedule(): void {
    while (this.#scheduled < this.refs.length && this.#ahead.size < READAHEAD_READS) {
      const index = this.#scheduled;
      const ref = this.refs[index];
      if (!ref) break;
      if (index < this.#next - 1) {
        this.#scheduled++;
        continue;
      }
      if (ref.size > READAHEAD_BLOB_BYTES || ref.size === 0) {
        // Streamed (or empty) when its turn comes; keep reading ahead past it.
        this.#scheduled++;
        continue;
      }
      if (this.#bytes > 0 && this.#bytes + ref.size > READAHEAD_BUDGET_BYTES) break;
      this.#bytes += ref.size;
      const read = readWhole(this.blobs, ref, this.opts);
      read.catch(() => undefined); // surfaced when consumed; a stream torn down early never asks
      this.#ahead.set(index, read);
      this.#scheduled++;
    }
  }
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
