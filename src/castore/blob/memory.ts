// MemoryBlobService: blobs in a Map, for tests and throwaway servers.
import { Blake3Hasher, type B3Digest } from '../digest.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';

/** Slice size for openRead, so consumers see a stream like any other backend's. */
const READ_CHUNK_BYTES = 1024 * 1024;

export class MemoryBlobService implements BlobService {
  readonly #blobs = new Map<string, Uint8Array>();

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    opts?.signal?.throwIfAborted();
    return this.#blobs.has(digest.toHex());
  }

  /** Blobs are stored whole here. */
  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return (await this.has(digest, opts)) ? [] : null;
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    opts?.signal?.throwIfAborted();
    const blob = this.#blobs.get(digest.toHex());
    return blob ? slices(blob.subarray(opts?.offset ?? 0), opts?.signal) : null;
  }

  openWrite(opts?: CallOptions): BlobWriter {
    return new MemoryBlobWriter(this.#blobs, opts?.signal);
  }

  /** Nothing here outlives the process: nothing to make durable. */
  async flush(): Promise<void> {}
}

async function* slices(blob: Uint8Array, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < blob.length; offset += READ_CHUNK_BYTES) {
    signal?.throwIfAborted();
    yield blob.subarray(offset, offset + READ_CHUNK_BYTES);
  }
}

class MemoryBlobWriter implements BlobWriter {
  readonly #hasher = new Blake3Hasher();
  #chunks: Uint8Array[] = [];
  #state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly blobs: Map<string, Uint8Array>,
    private readonly signal: AbortSignal | undefined,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#hasher.update(chunk);
    this.#chunks.push(Uint8Array.from(chunk)); // the caller may reuse its buffer once this settles
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closed';
    const digest = this.#hasher.digest();
    if (!this.blobs.has(digest.toHex())) this.blobs.set(digest.toHex(), Buffer.concat(this.#chunks));
    this.#chunks = [];
    return digest;
  }

  async abort(): Promise<void> {
    if (this.#state === 'open') this.#state = 'aborted';
    this.#chunks = [];
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`blob writer already ${this.#state}`);
    if (this.signal?.aborted) {
      this.#state = 'aborted';
      this.#chunks = [];
      this.signal.throwIfAborted();
    }
  }
}
