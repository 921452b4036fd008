// Concurrent blob writes for NAR ingest. Small files are hashed in-process (native blake3) so the parser
// can move on at once; their writes run in the background under a byte and task budget, so a NAR of
// many small files is not one filesystem round trip (open, write, fsync, rename) after another.
import { HashedBytes, storeHashed, type B3Digest, type BlobService, type WriteOptions } from '../../castore/index.js';

/** Files up to this size are buffered whole and written in the background; larger ones stream. */
export const SMALL_BLOB_BYTES = 1024 * 1024;
/** Bytes of small blobs buffered and waiting for their write: bounds ingest memory. */
const QUEUE_BUDGET_BYTES = 32 * 1024 * 1024;
/** Concurrent background writes; more than libuv's thread pool (4) keeps it busy without thrashing. */
const MAX_WRITES_IN_FLIGHT = 16;

export class BlobUploadQueue {
  readonly #pending = new Set<Promise<void>>();
  #bytes = 0;
  #failure: unknown;
  #waiters: Array<() => void> = [];

  constructor(
    private readonly blobs: BlobService,
    /** Every write of the queue is made with these (a locality keeps one ingest's blobs together). */
    readonly opts: WriteOptions,
  ) {}

  /** Buffers a small file's contents, returns its digest now and stores it in the background. */
  async addSmall(contents: AsyncIterable<Uint8Array>, size: number): Promise<B3Digest> {
    const blob = HashedBytes.of(await collect(contents, size));
    while (this.#bytes > 0 && (this.#bytes + size > QUEUE_BUDGET_BYTES || this.#pending.size >= MAX_WRITES_IN_FLIGHT)) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#throwIfFailed();
    this.#bytes += size;
    const write = storeHashed(this.blobs, blob, this.opts)
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => {
        this.#bytes -= size;
        this.#pending.delete(write);
        this.#waiters.shift()?.();
      });
    this.#pending.add(write);
    return blob.digest;
  }

  /** Streams a large file's contents straight into a blob writer. */
  async addLarge(contents: AsyncIterable<Uint8Array>): Promise<B3Digest> {
    this.#throwIfFailed();
    const writer = this.blobs.openWrite(this.opts);
    try {
      for await (const chunk of contents) await writer.write(chunk);
    } catch (err) {
      await writer.abort(err);
      throw err;
    }
    return writer.close();
  }

  /** Waits for every background write; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    this.#throwIfFailed();
  }

  /** Lets the writes in flight settle (their blobs are harmless orphans) so nothing outlives the ingest. */
  async settle(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }
}

/** One contiguous copy: the chunks are views into request buffers that should not be kept alive. */
async function collect(contents: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for await (const chunk of contents) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
