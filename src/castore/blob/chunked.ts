// ChunkedBlobService: stores a blob larger than one chunk as content-defined chunks (each its own blob in the
// inner service, so equal chunks of similar blobs are kept once) plus a chunk list; smaller blobs stay whole.
import { NarBridgeError } from '../../errors.js';
import { blake3, Blake3Hasher, type B3Digest } from '../digest.js';
import type { ChunkIndex } from './chunk-index.js';
import { chunkingParams, chunkLength, type ChunkingParams } from './fastcdc.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { verifiedRead } from './verified-read.js';

/** Chunk reads in flight per blob reader: at most this many chunks (≤ 4 × the average size each) buffered. */
const CHUNK_READS_AHEAD = 4;
/** Chunk writes in flight per blob writer: overlaps their fsyncs while bounding memory to this many chunks. */
const CHUNK_WRITES_IN_FLIGHT = 4;

export class ChunkedBlobService implements BlobService {
  constructor(
    private readonly inner: BlobService,
    private readonly index: ChunkIndex,
    private readonly params: ChunkingParams = chunkingParams(),
  ) {}

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    return (await this.index.get(digest)) !== null || (await this.inner.has(digest, opts));
  }

  /** A chunk is a whole blob of the inner service, so a chunk's own list is empty. */
  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return (await this.index.get(digest)) ?? (await this.inner.chunks(digest, opts));
  }

  /**
   * Reassembles from the chunk holding `opts.offset` on; chunks before it are not read at all. Most blobs
   * are small and stored whole, so the inner service is asked first and the chunk index only on a miss.
   */
  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    const whole = await this.inner.openRead(digest, opts);
    if (whole) return whole;
    const chunks = await this.index.get(digest);
    return chunks ? this.#readChunks(digest, chunks, opts?.offset ?? 0, opts) : null;
  }

  /** Keeps CHUNK_READS_AHEAD verified chunk reads in flight, so one file's open and read latency never stalls the stream. */
  async *#readChunks(blob: B3Digest, chunks: readonly ChunkMeta[], offset: number, opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    let next = 0;
    let start = 0;
    for (let chunk = chunks[next]; chunk && start + chunk.size <= offset; chunk = chunks[++next]) start += chunk.size;
    let skip = offset - start;
    const ahead: Array<Promise<Uint8Array[]>> = [];
    const fill = (): void => {
      for (let chunk = chunks[next]; chunk && ahead.length < CHUNK_READS_AHEAD; chunk = chunks[++next]) {
        const read = this.#readChunk(blob, chunk, opts);
        read.catch(() => undefined); // surfaced when its turn comes; a reader that stops early never asks
        ahead.push(read);
      }
    };
    fill();
    for (let read = ahead.shift(); read; read = ahead.shift()) {
      const pieces = await read;
      fill();
      for (const piece of pieces) {
        if (skip >= piece.byteLength) {
          skip -= piece.byteLength;
          continue;
        }
        yield skip > 0 ? piece.subarray(skip) : piece;
        skip = 0;
      }
    }
  }

  async #readChunk(blob: B3Digest, chunk: ChunkMeta, opts: CallOptions | undefined): Promise<Uint8Array[]> {
    const contents = await this.inner.openRead(chunk.digest, opts?.signal ? { signal: opts.signal } : {});
    if (!contents) throw damaged(blob, `chunk ${chunk.digest.toHex()} is missing`);
    const pieces: Uint8Array[] = [];
    for await (const piece of verifiedRead(contents, chunk.digest, chunk.size, (what) => damaged(blob, `chunk ${chunk.digest.toHex()} has ${what}`))) {
      pieces.push(piece);
    }
    return pieces;
  }

  openWrite(opts?: CallOptions): BlobWriter {
    return new ChunkingWriter(this.inner, this.index, this.params, opts);
  }
}

function damaged(blob: B3Digest, what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_STORAGE', `chunked blob ${blob.toHex()}: ${what}`);
}

/**
 * Buffers up to one maximum-size chunk: a blob that ends within it is stored whole; past it, chunks are cut
 * and written (each once: a chunk the inner service has is skipped) while the rest streams in.
 */
class ChunkingWriter implements BlobWriter {
  readonly #whole = new Blake3Hasher();
  /**
   * Bytes not yet cut into a chunk: `#buffer[#start..#end)`. Cuts advance `#start`; the rest is moved to the
   * front only when the buffer is full, so each byte is moved at most about once.
   */
  #buffer: Uint8Array;
  #start = 0;
  #end = 0;
  readonly #chunks: ChunkMeta[] = [];
  readonly #writes = new Set<Promise<void>>();
  #failure: unknown;
  #state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly inner: BlobService,
    private readonly index: ChunkIndex,
    private readonly params: ChunkingParams,
    private readonly opts: CallOptions | undefined,
  ) {
    this.#buffer = new Uint8Array(0);
  }

  async write(data: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#whole.update(data);
    for (let at = 0; at < data.byteLength; ) {
      if (this.#end === this.#buffer.byteLength) this.#makeRoom(data.byteLength - at);
      const take = Math.min(data.byteLength - at, this.#buffer.byteLength - this.#end);
      this.#buffer.set(data.subarray(at, at + take), this.#end);
      this.#end += take;
      at += take;
      // Cut only with more than a maximum chunk buffered: a blob of at most one chunk is never cut.
      while (this.#end - this.#start > this.params.maxSize) await this.#cut(chunkLength(this.#buffer, this.#start, this.#end, this.params));
    }
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closed';
    const digest = this.#whole.digest();
    if (this.#chunks.length === 0) {
      await this.#storeWhole(this.#buffer.subarray(this.#start, this.#end));
      return digest;
    }
    while (this.#end > this.#start) await this.#cut(chunkLength(this.#buffer, this.#start, this.#end, this.params));
    await this.#settle();
    await this.index.put(digest, this.#chunks);
    return digest;
  }

  /** Chunks already written stay: they are valid content-addressed blobs, possibly shared. */
  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    await Promise.allSettled(this.#writes);
  }

  async #cut(length: number): Promise<void> {
    const chunk = this.#buffer.slice(this.#start, this.#start + length); // a copy: the buffer is reused while the chunk is written
    this.#start += length;
    const digest = blake3(chunk);
    this.#chunks.push({ digest, size: length });
    while (this.#writes.size >= CHUNK_WRITES_IN_FLIGHT) await Promise.race(this.#writes);
    this.#throwIfFailed();
    const write = this.#storeChunk(chunk, digest)
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
  }

  /**
   * Grows the buffer as data arrives, up to two maximum chunks (most blobs are small, and allocating that much
   * per writer would dominate ingesting many small files); once it is that large, moves the unconsumed bytes to the front.
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

  async #storeChunk(chunk: Uint8Array, digest: B3Digest): Promise<void> {
    if (await this.inner.has(digest, this.opts)) return;
    const stored = await this.#storeWhole(chunk);
    if (!stored.equals(digest)) throw new NarBridgeError('NB_ERR_STORAGE', `chunk stored as ${stored.toHex()}, expected ${digest.toHex()}`);
  }

  async #storeWhole(bytes: Uint8Array): Promise<B3Digest> {
    const writer = this.inner.openWrite(this.opts);
    try {
      if (bytes.byteLength > 0) await writer.write(bytes);
    } catch (err) {
      await writer.abort(err);
      throw err;
    }
    return writer.close();
  }

  async #settle(): Promise<void> {
    await Promise.allSettled(this.#writes);
    this.#throwIfFailed();
  }

  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`blob writer already ${this.#state}`);
    this.opts?.signal?.throwIfAborted();
  }
}
