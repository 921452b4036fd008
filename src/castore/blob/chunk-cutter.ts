// ChunkCutter: the buffer a chunking writer streams through. Bytes go in as they arrive; FastCDC chunks come out
// once more than a maximum chunk is buffered, so a blob of at most one chunk is never cut and is kept whole.
import { chunkLength, type ChunkingParams } from './fastcdc.js';

/** Receives each chunk cut: a view of the buffer, valid until the returned promise settles. */
export type ChunkSink = (chunk: Uint8Array) => Promise<void>;

export class ChunkCutter {
  /**
   * Bytes not yet cut into a chunk: `#buffer[#start..#end)`. Cuts advance `#start`; the rest is moved to the
   * front only when the buffer is full, so each byte is moved at most about once.
   */
  #buffer = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #cuts = 0;

  constructor(private readonly params: ChunkingParams) {}

  /** Whether any chunk was cut: if not, the blob is the bytes `rest()` returns. */
  get cut(): boolean {
    return this.#cuts > 0;
  }

  async push(data: Uint8Array, sink: ChunkSink): Promise<void> {
    for (let at = 0; at < data.byteLength; ) {
      if (this.#end === this.#buffer.byteLength) this.#makeRoom(data.byteLength - at);
      const take = Math.min(data.byteLength - at, this.#buffer.byteLength - this.#end);
      this.#buffer.set(data.subarray(at, at + take), this.#end);
      this.#end += take;
      at += take;
      while (this.#end - this.#start > this.params.maxSize) await this.#cut(sink);
    }
  }

  /** Cuts everything still buffered (the end of a chunked blob). */
  async finish(sink: ChunkSink): Promise<void> {
    while (this.#end > this.#start) await this.#cut(sink);
  }

  /** The bytes buffered and not cut. */
  rest(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  release(): void {
    this.#buffer = new Uint8Array(0);
    this.#start = this.#end = 0;
  }

  async #cut(sink: ChunkSink): Promise<void> {
    const length = chunkLength(this.#buffer, this.#start, this.#end, this.params);
    await sink(this.#buffer.subarray(this.#start, this.#start + length));
    this.#start += length;
    this.#cuts++;
  }

  /**
   * Grows the buffer as data arrives, up to two maximum chunks (most blobs are small, and allocating that much
   * per writer dominated ingesting many small files); once it is that large, moves the unconsumed bytes to the front.
   */
  #makeRoom(wanted: number): void {
    const limit = 2 * this.params.maxSize;
    if (this.#buffer.byteLength < limit) {
      const grown = new Uint8Array(Math.min(limit, Math.max(this.#end + wanted, 2 * this.#buffer.byteLength)));
      grown.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = grown;
    } else {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    }
    this.#end -= this.#start;
    this.#start = 0;
  }
}
