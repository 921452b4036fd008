// TieredBlobService: a near service (fast, local) in front of a far one (remote, untrusted). Reads try near first;
// a near miss streams from far, chunk by chunk, verified, and fills near on the way, so the next read stays near.
import { NarBridgeError } from '../../errors.js';
import type { B3Digest } from '../digest.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { verifiedRead } from './verified-read.js';

export type Tier = 'near' | 'far';

/** A piece of a blob to copy: a chunk of known size, or the whole blob (size unknown until read). */
interface Piece {
  readonly digest: B3Digest;
  readonly size: number | null;
}

/** Where metrics hook in: which tier answered a read, and how many blob bytes came from far. */
export interface TierObserver {
  /** `service` is the tiered service's own label ('blobs', 'directories', or one a layer above names). */
  served(service: string, tier: Tier | 'none'): void;
  fetched(bytes: number): void;
}

export class TieredBlobService implements BlobService {
  constructor(
    private readonly near: BlobService,
    private readonly far: BlobService,
    private readonly observer?: TierObserver,
  ) {}

  async has(digest: B3Digest, opts?: CallOptions): Promise<boolean> {
    return (await this.near.has(digest, opts)) || this.far.has(digest, opts);
  }

  async chunks(digest: B3Digest, opts?: CallOptions): Promise<readonly ChunkMeta[] | null> {
    return (await this.near.chunks(digest, opts)) ?? this.far.chunks(digest, opts);
  }

  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    const held = await this.near.openRead(digest, opts);
    if (held) {
      this.observer?.served('blobs', 'near');
      return held;
    }
    const chunks = await this.far.chunks(digest, opts);
    if (chunks === null) {
      this.observer?.served('blobs', 'none');
      return null;
    }
    this.observer?.served('blobs', 'far');
    // A ranged read of a blob near lacks is passed through: filling near needs every byte from the start.
    if ((opts?.offset ?? 0) > 0) return this.far.openRead(digest, opts);
    return this.#fill(digest, chunks.length > 0 ? chunks : [{ digest, size: null }], opts);
  }

  /**
   * Streams the blob into the caller and into near at once. Chunks near already holds are read there; only the
   * others cross the wire, each verified. Near's writer yields the digest of the whole: the last piece is held
   * back until it matches, so a far whose chunk list lies is caught before the stream ends cleanly.
   */
  async *#fill(digest: B3Digest, chunks: readonly Piece[], opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    const writer = this.near.openWrite(opts);
    const call = opts?.signal ? { signal: opts.signal } : {};
    let held: Uint8Array | undefined;
    let done = false;
    try {
      for (const chunk of chunks) {
        const size = chunk.size;
        const local = size === null ? null : await this.near.openRead(chunk.digest, call);
        const remote = local ? null : await this.far.openRead(chunk.digest, call);
        const source = local ?? remote;
        if (!source) throw farError(digest, `chunk ${chunk.digest.toHex()} vanished`);
        const checked = remote ? verifiedRead(remote, chunk.digest, size, (what) => farError(digest, `sent ${what}`)) : source;
        for await (const piece of checked) {
          if (remote) this.observer?.fetched(piece.byteLength);
          await writer.write(piece);
          if (held) yield held;
          held = piece;
        }
      }
      const stored = await writer.close();
      done = true;
      if (!stored.equals(digest)) throw farError(digest, 'sent chunks that do not add up to the blob');
      if (held) yield held;
    } finally {
      if (!done) await writer.abort();
    }
  }

  /** Writes go near, but a far tier may have taken writes of its own (through another door): commit both. */
  async flush(opts?: CallOptions): Promise<void> {
    await Promise.all([this.near.flush(opts), this.far.flush(opts)]);
  }

  /** Writes go near: far is a source to read from, possibly shared and read-only. */
  openWrite(opts?: CallOptions): BlobWriter {
    return this.near.openWrite(opts);
  }
}

function farError(digest: B3Digest, what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `far tier blob ${digest.toHex()}: ${what}`);
}
