// GrpcBlobService: a BlobService backed by a remote tvix BlobService. Everything a peer sends is verified.
import { NarBridgeError } from '../../errors.js';
import { B3Digest, Blake3Hasher } from '../digest.js';
import type { ClientStreamCall, GrpcConnection } from '../grpc/connection.js';
import { BLOB_METHODS, type BlobChunk, type PutBlobResponse } from '../grpc/services.js';
import { isNotFound } from '../grpc/status.js';
import { uint64ToNumber } from '../grpc/uint64.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { sliceBytes } from './slice-bytes.js';
import { verifiedRead } from './verified-read.js';

/** Blobs up to this size (when the caller knows it) are read with one plain Read, no Stat first. */
const WHOLE_READ_BYTES = 1024 * 1024;
/** Chunk Reads in flight ahead of the one being consumed. */
const CHUNK_READS_AHEAD = 4;
/** Upload message size: well under grpc's default 4 MiB limit of peers we do not configure. */
const PUT_CHUNK_BYTES = 1024 * 1024;

export class GrpcBlobService implements BlobService {
  constructor(private readonly connection: GrpcConnection) {}

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    return (await this.chunks(digest, opts)) !== null;
  }

  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    try {
      const answer = await this.connection.unary(BLOB_METHODS.stat, { digest: digest.bytes, sendChunks: true }, opts);
      return (answer.chunks ?? []).map((chunk) => {
        try {
          return { digest: B3Digest.parse(chunk.digest ?? new Uint8Array(0)), size: uint64ToNumber(chunk.size, 'chunk size') };
        } catch (err) {
          throw new NarBridgeError('NB_ERR_UPSTREAM', `${BLOB_METHODS.stat.path}: peer sent a bad chunk list`, { cause: err });
        }
      });
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  /**
   * tvix's advice: Stat with send_chunks, then read the chunks; a blob stored whole is one plain Read.
   * That plain Read is sent together with the Stat (and cancelled if chunks or a miss come back), so a
   * whole blob costs one round trip, not two; it is started before returning, so callers can keep
   * several in flight.
   */
  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    // A small blob of known size is one Read: chunk lists only pay off for large blobs.
    if (opts?.size !== undefined && opts.size <= WHOLE_READ_BYTES && !opts.offset) return this.#verifiedRead(digest, opts.size, opts);
    const wholeRead = new AbortController();
    const signal = opts?.signal ? AbortSignal.any([opts.signal, wholeRead.signal]) : wholeRead.signal;
    const whole = this.#verifiedRead(digest, null, { signal });
    const chunks = await this.chunks(digest, opts).catch((err: unknown) => {
      wholeRead.abort();
      throw err;
    });
    const offset = opts?.offset ?? 0;
    if (chunks !== null && chunks.length === 0) return sliceBytes(whole, offset); // skipped bytes are read: a whole blob is verified end to end
    wholeRead.abort();
    if (chunks === null) return null;
    if (offset > 0) return this.#readFrom(chunks, offset, opts);
    const first = chunks[0];
    const firstRead = first ? this.#verifiedRead(first.digest, first.size, opts) : null;
    return this.#readChunks(digest, chunks, firstRead, opts);
  }

  async *#readChunks(
    digest: B3Digest,
    chunks: readonly ChunkMeta[],
    firstRead: AsyncIterable<Uint8Array> | null,
    opts: CallOptions | undefined,
  ): AsyncGenerator<Uint8Array, void, undefined> {
    // Each chunk is verified on its own; the whole must still be the blob we asked for. CHUNK_READS_AHEAD
    // Reads are started ahead of the one being consumed, so chunk after chunk costs no round trip each.
    const whole = new Blake3Hasher();
    // Reads started but never consumed (the caller stopped early) are cancelled through this signal.
    const ahead = new AbortController();
    const signal = opts?.signal ? AbortSignal.any([opts.signal, ahead.signal]) : ahead.signal;
    const reads = chunks.map((chunk, i) => () => (i === 0 && firstRead ? firstRead : this.#verifiedRead(chunk.digest, chunk.size, { signal })));
    const started = reads.slice(0, CHUNK_READS_AHEAD).map((start) => start());
    try {
      for (let i = 0; i < reads.length; i++) {
        const next = reads[i + CHUNK_READS_AHEAD];
        if (next) started.push(next());
        const read = started[i];
        if (!read) break;
        for await (const piece of read) {
          whole.update(piece);
          yield piece;
        }
      }
    } finally {
      ahead.abort();
    }
    if (!whole.digest().equals(digest)) throw peerLied(digest, 'its chunks do not add up to it');
  }

  /**
   * A read from `offset` fetches only the chunks from the one holding it on. Each is verified, but the
   * whole-blob check needs every chunk, so it is left to whoever reads from the start.
   */
  async *#readFrom(chunks: readonly ChunkMeta[], offset: number, opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    let start = 0;
    for (const chunk of chunks) {
      if (start + chunk.size > offset) {
        yield* sliceBytes(this.#verifiedRead(chunk.digest, chunk.size, opts), Math.max(0, offset - start));
      }
      start += chunk.size;
    }
  }

  /**
   * The bytes of one blob, checked against its blake3 digest (and length, when known). A blake3 digest can
   * only be checked at the end, so the last message is held back until it is: a consumer never sees the
   * stream end cleanly on bytes the peer forged.
   */
  #verifiedRead(digest: B3Digest, expectedSize: number | null, opts: CallOptions | undefined): AsyncIterable<Uint8Array> {
    const messages = this.connection.serverStream(BLOB_METHODS.read, { digest: digest.bytes }, opts);
    return verifiedRead(dataOf(messages, digest), digest, expectedSize, (what) => peerLied(digest, what));
  }

  /** The server commits a Put before answering it (tvix semantics: a returned digest is stored). */
  async flush(): Promise<void> {}

  openWrite(opts?: CallOptions): BlobWriter {
    return new GrpcBlobWriter(this.connection, opts);
  }
}

/** The bytes of a Read stream; a blob that went missing mid-call is a missing object, not a lie. */
async function* dataOf(messages: AsyncIterable<BlobChunk>, digest: B3Digest): AsyncGenerator<Uint8Array, void, undefined> {
  try {
    for await (const message of messages) if (message.data) yield message.data;
  } catch (err) {
    if (isNotFound(err)) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `blob ${digest.toHex()} vanished from the peer`);
    throw err;
  }
}

function peerLied(digest: B3Digest, what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `peer sent ${what} for blob ${digest.toHex()}`);
}

class GrpcBlobWriter implements BlobWriter {
  readonly #hasher = new Blake3Hasher();
  /** Opened on the first write, so an aborted or empty writer costs no call until close. */
  #call: ClientStreamCall<BlobChunk, PutBlobResponse> | undefined;
  #state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly connection: GrpcConnection,
    private readonly opts: CallOptions | undefined,
  ) {}

  async write(chunk: Uint8Array): Promise<void> {
    this.#checkOpen();
    this.#hasher.update(chunk);
    const call = this.#open();
    for (let offset = 0; offset < chunk.byteLength; offset += PUT_CHUNK_BYTES) {
      // A copy: grpc-js serialises later, and the caller may reuse its buffer once this settles.
      await call.write({ data: chunk.slice(offset, offset + PUT_CHUNK_BYTES) });
    }
  }

  async close(): Promise<B3Digest> {
    this.#checkOpen();
    this.#state = 'closed';
    const answer = await this.#open().finish();
    const expected = this.#hasher.digest();
    let digest: B3Digest;
    try {
      digest = B3Digest.parse(answer.digest ?? new Uint8Array(0));
    } catch (err) {
      throw new NarBridgeError('NB_ERR_UPSTREAM', `${BLOB_METHODS.put.path}: peer answered with a bad digest`, { cause: err });
    }
    if (!digest.equals(expected)) throw peerLied(expected, `digest ${digest.toHex()} on upload`);
    return digest;
  }

  async abort(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'aborted';
    this.#call?.cancel(); // the peer drops a cancelled Put: nothing partial is stored
  }

  #open(): ClientStreamCall<BlobChunk, PutBlobResponse> {
    this.#call ??= this.connection.clientStream(BLOB_METHODS.put, this.opts);
    return this.#call;
  }

  #checkOpen(): void {
    if (this.#state !== 'open') throw new Error(`blob writer already ${this.#state}`);
    this.opts?.signal?.throwIfAborted();
  }
}
