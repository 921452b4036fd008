// GrpcBlobService: a BlobService backed by a remote tvix BlobService. Everything a peer sends is verified.
import { setMaxListeners } from 'node:events';
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

/**
 * Bytes of chunk Reads kept in flight ahead of the one being consumed, for a read from an offset: a chunk is
 * ~128 KiB, so chunk after chunk would otherwise cost a round trip each (6 MB/s at 20 ms RTT).
 */
const CHUNK_READ_AHEAD_BYTES = 8 * 1024 * 1024;
/** Upload message size: well under grpc's default 4 MiB limit of peers we do not configure. */
const PUT_CHUNK_BYTES = 1024 * 1024;

export class GrpcBlobService implements BlobService {
  constructor(private readonly connection: GrpcConnection) {}

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    try {
      await this.connection.unary(BLOB_METHODS.stat, { digest: digest.bytes }, opts);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
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
   * A whole blob is one Read, however the peer stores it: one call and one stream, against one call per ~128 KiB
   * chunk (a 1 GiB blob is 8,192 chunks, and per-call cost dominated). It is started before returning, so callers
   * keep several in flight. With the size known it is not even awaited (an absent blob then fails the read);
   * without, its first answer tells a miss (null) from a blob. Only a read from an offset asks for the chunk list,
   * to skip what it does not need.
   */
  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    const offset = opts?.offset ?? 0;
    if (offset > 0) {
      const chunks = await this.chunks(digest, opts);
      if (chunks === null) return null;
      if (chunks.length > 0) return this.#readFrom(chunks, offset, opts);
      return sliceBytes(this.#verifiedRead(digest, null, this.#read(digest, opts)), offset);
    }
    if (opts?.size !== undefined) return this.#verifiedRead(digest, opts.size, this.#read(digest, opts));
    const messages = await started(this.#read(digest, opts));
    return messages && this.#verifiedRead(digest, null, messages);
  }

  /**
   * A read from `offset` fetches only the chunks from the one holding it on, CHUNK_READ_AHEAD_BYTES of them in
   * flight. Each is verified, but the whole-blob check needs every chunk, so it is left to whoever reads from the start.
   */
  async *#readFrom(chunks: readonly ChunkMeta[], offset: number, opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    const wanted: Array<{ chunk: ChunkMeta; skip: number }> = [];
    let start = 0;
    for (const chunk of chunks) {
      if (start + chunk.size > offset) wanted.push({ chunk, skip: Math.max(0, offset - start) });
      start += chunk.size;
    }
    // Reads started but never consumed (the caller stopped early) are cancelled through this signal.
    const ahead = new AbortController();
    const signal = opts?.signal ? AbortSignal.any([opts.signal, ahead.signal]) : ahead.signal;
    setMaxListeners(0, signal); // one listener per read in flight, by design
    const reads: Array<AsyncIterable<Uint8Array>> = [];
    let startedBytes = 0;
    let consumedBytes = 0;
    try {
      for (let i = 0; i < wanted.length; i++) {
        while (reads.length < wanted.length && (reads.length <= i || startedBytes - consumedBytes < CHUNK_READ_AHEAD_BYTES)) {
          const next = wanted[reads.length];
          if (!next) break;
          reads.push(sliceBytes(this.#verifiedRead(next.chunk.digest, next.chunk.size, this.#read(next.chunk.digest, { signal })), next.skip));
          startedBytes += next.chunk.size;
        }
        const read = reads[i];
        if (!read) break;
        yield* read;
        consumedBytes += wanted[i]?.chunk.size ?? 0;
      }
    } finally {
      ahead.abort();
    }
  }

  /** A Read call, started now. */
  #read(digest: B3Digest, opts: CallOptions | undefined): AsyncIterable<BlobChunk> {
    return this.connection.serverStream(BLOB_METHODS.read, { digest: digest.bytes }, opts);
  }

  /**
   * The bytes of one blob, checked against its blake3 digest (and length, when known). A blake3 digest can
   * only be checked at the end, so the last message is held back until it is: a consumer never sees the
   * stream end cleanly on bytes the peer forged.
   */
  #verifiedRead(digest: B3Digest, expectedSize: number | null, messages: AsyncIterable<BlobChunk>): AsyncIterable<Uint8Array> {
    return verifiedRead(dataOf(messages, digest), digest, expectedSize, (what) => peerLied(digest, what));
  }

  /** The server commits a Put before answering it (tvix semantics: a returned digest is stored). */
  async flush(): Promise<void> {}

  openWrite(opts?: CallOptions): BlobWriter {
    return new GrpcBlobWriter(this.connection, opts);
  }
}

/** `messages` once its first message (or its end) is in; null if the peer answered NOT_FOUND instead. */
async function started(messages: AsyncIterable<BlobChunk>): Promise<AsyncIterable<BlobChunk> | null> {
  const iterator = messages[Symbol.asyncIterator]();
  let first: IteratorResult<BlobChunk>;
  try {
    first = await iterator.next();
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  return (async function* () {
    try {
      if (first.done) return;
      yield first.value;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    } finally {
      await iterator.return?.(); // a consumer leaving early cancels the call
    }
  })();
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
