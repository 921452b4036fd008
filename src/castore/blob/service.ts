// BlobService: content-addressed byte blobs keyed by their blake3 digest.
import type { CallOptions } from '../call-options.js';
import type { B3Digest, HashedBytes } from '../digest.js';

export interface ReadOptions extends CallOptions {
  /** Start reading here (bytes): how Range requests avoid reading what they skip. */
  readonly offset?: number;
  /**
   * The blob's length, when the caller knows it (a FileNode's size). Lets a remote backend skip asking for
   * the chunk list of a small blob; with it, an absent blob may surface as NB_ERR_MISSING_OBJECT while
   * reading rather than as null.
   */
  readonly size?: number;
}

export interface WriteOptions extends CallOptions {
  /**
   * Writes made under the same key (any object, e.g. one per NAR ingest) are laid out together, in the order they
   * were made, apart from other concurrent writes, so reading them back is a few large reads. A hint: backends
   * without a layout ignore it.
   */
  readonly locality?: object;
}

export interface BlobService {
  has(digest: B3Digest, opts?: CallOptions): Promise<boolean>;
  /**
   * The blob's bytes in order from `opts.offset` (default 0), or null if absent. Breaking out of the
   * iteration releases the source. An offset past the end yields nothing.
   */
  openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null>;
  openWrite(opts?: WriteOptions): BlobWriter;
  /**
   * Optional: stores bytes the caller has already hashed (a HashedBytes is only made by hashing its bytes), so the
   * backend need not hash them again; does nothing for a blob already stored (so callers need not ask `has` first);
   * like a writer's close(), readable once settled and durable after `flush()`.
   */
  putHashed?(blob: HashedBytes, opts?: WriteOptions): Promise<void>;
  /**
   * How the blob is stored in chunks (tvix `Stat` with `send_chunks`): an empty list when it is stored
   * whole, null when absent. Each chunk is itself a blob readable through `openRead`.
   */
  chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null>;
  /**
   * Makes every blob whose writer has closed so far durable: the commit point. Callers flush before writing
   * anything that refers to those blobs (a Directory, a PathInfo, a Put answer), so nothing durable points at a
   * blob a crash could lose. Backends that are durable at close() do nothing. With `opts.locality`, that group of
   * writes is also over.
   */
  flush(opts?: WriteOptions): Promise<void>;
  /**
   * Optional: the whole contents of several small blobs (`size` bytes each), in order; null for an absent one.
   * A backend that keeps neighbours side by side reads them with a few large reads instead of one each.
   */
  readMany?(blobs: readonly ChunkMeta[], opts?: CallOptions): Promise<Array<Uint8Array | null>>;
}

export interface ChunkMeta {
  readonly digest: B3Digest;
  readonly size: number;
}

export interface BlobWriter {
  /** Settles once the chunk is accepted; await it before writing the next one or reusing the buffer. */
  write(chunk: Uint8Array): Promise<void>;
  /** Digest of every byte written; the blob is readable when this resolves, and durable after the next `flush()`. */
  close(): Promise<B3Digest>;
  /** Discards everything written; leaves no partial blob behind. */
  abort(reason?: unknown): Promise<void>;
}
