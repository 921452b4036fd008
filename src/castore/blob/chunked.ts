// ChunkedBlobService: stores a blob larger than one chunk as content-defined chunks (each its own blob in the
// inner service, so equal chunks of similar blobs are kept once) plus a chunk list; smaller blobs stay whole.
import { NarBridgeError } from '../../errors.js';
import { blake3, Blake3Hasher, type B3Digest } from '../digest.js';
import type { ChunkIndex } from './chunk-index.js';
import type { CallOptions } from '../call-options.js';
import { ChunkCutter } from './chunk-cutter.js';
import { chunkingParams, type ChunkingParams } from './fastcdc.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { sliceBytes } from './slice-bytes.js';
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
      yield* sliceBytes(pieces, skip); // skip < the first chunk's size, so it is used up there
      skip = 0;
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

  /** The chunk index is durable at close; the chunks are the inner service's to commit. */
  flush(opts?: CallOptions): Promise<void> {
    return this.inner.flush(opts);
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
  readonly #cutter: ChunkCutter;
  readonly #chunks: ChunkMeta[] = [];
  readonly #writes = new Set<Promise<void>>();
  #failure: unknown;
  #state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly inner: BlobService,
    private readonly index: ChunkIndex,
    params: ChunkingParams,
    private readonly opts: CallOptions | undefined,
  ) {
    this.#cutter = new ChunkCutter(params);
  }

  async write(data: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#whole.update(data);
    await this.#cutter.push(data, (chunk) => this.#cut(chunk));
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closed';
    const digest = this.#whole.digest();
    if (!this.#cutter.cut) {
      await this.#storeWhole(this.#cutter.rest());
      return digest;
    }
    await this.#cutter.finish((chunk) => this.#cut(chunk));
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

  async #cut(view: Uint8Array): Promise<void> {
    const chunk = view.slice(); // a copy: the buffer is reused while the chunk is written
    const digest = blake3(chunk);
    this.#chunks.push({ digest, size: chunk.byteLength });
    while (this.#writes.size >= CHUNK_WRITES_IN_FLIGHT) await Promise.race(this.#writes);
    this.#throwIfFailed();
    const write = this.#storeChunk(chunk, digest)
      .catch((err: unknown) => {
        this.#failure ??= err;
      })
      .finally(() => this.#writes.delete(write));
    this.#writes.add(write);
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
