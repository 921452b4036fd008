// TieredBlobService: a near service (fast, local) in front of a far one (remote, untrusted). Reads try near first;
// a near miss streams from far, chunk by chunk, verified, and fills near on the way, so the next read stays near.
import { setMaxListeners } from 'node:events';
import { NarBridgeError } from '../../errors.js';
import { HashedBytes, type B3Digest } from '../digest.js';
import type { CallOptions } from '../call-options.js';
import type { BlobService, BlobWriter, ChunkMeta, ReadOptions } from './service.js';
import { collectBytes, readWhole } from './read-whole.js';
import { verifiedRead } from './verified-read.js';
import { storeHashed } from './store-hashed.js';

export type Tier = 'near' | 'far';

/** A piece of a blob to copy: a chunk of known size, or the whole blob (size unknown until read). */
interface Piece {
  readonly digest: B3Digest;
  readonly size: number | null;
}

/** A near read opened when its turn comes (null), or a verified far read already under way. */
interface Source {
  readonly remote: AsyncIterable<Uint8Array> | null;
}

/** Blobs up to this size (when the caller knows it) are copied whole, without asking far for their chunk list. */
const WHOLE_FILL_BYTES = 1024 * 1024;
/** Bytes of far chunk reads in flight ahead of the piece being copied: 400 MB/s at 20 ms RTT, bounded memory. */
const FILL_READ_AHEAD_BYTES = 8 * 1024 * 1024;
/**
 * Chunks of a blob asked of a far with readMany in one call: a far that keeps them side by side (pack objects in S3)
 * answers with one ranged request instead of one per ~128 KiB chunk.
 */
const FILL_BATCH_BYTES = 4 * 1024 * 1024;

/** Where metrics hook in: which tier answered a read, and how many blob bytes came from far. */
export interface TierObserver {
  /**
   * `reads` reads (one unless told) answered by `tier`. `service` is the tiered service's own label ('blobs',
   * 'directories', or one a layer above names).
   */
  served(service: string, tier: Tier | 'none', reads?: number): void;
  fetched(bytes: number): void;
}

export interface TierOptions {
  /**
   * Where writes go: 'near' (the default) when near is a store of its own and far another store to read from;
   * 'far' when near is only a cache of far (NearBlobCache), which may drop anything it holds.
   */
  readonly writes?: Tier;
}

export class TieredBlobService implements BlobService {
  constructor(
    private readonly near: BlobService,
    private readonly far: BlobService,
    private readonly observer?: TierObserver,
    private readonly options: TierOptions = {},
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
    const offset = opts?.offset ?? 0;
    if (opts?.size !== undefined && opts.size <= WHOLE_FILL_BYTES && offset === 0) {
      // A small blob of known size: its chunk list (a round trip) could save little. Absent, it fails the read.
      this.observer?.served('blobs', 'far');
      return this.#fill(digest, [{ digest, size: opts.size }], opts);
    }
    const chunks = await this.far.chunks(digest, opts);
    if (chunks === null) {
      this.observer?.served('blobs', 'none');
      return null;
    }
    this.observer?.served('blobs', 'far');
    // A ranged read of a blob near lacks is passed through: filling near needs every byte from the start.
    if (offset > 0) return this.far.openRead(digest, opts);
    return this.#fill(digest, chunks.length > 0 ? chunks : [{ digest, size: null }], opts);
  }

  /**
   * Small blobs near holds come from one near readMany (a tree of small files is then a few large reads, as direct
   * from a pack store). The others are read from far all at once, each verified, and then kept near in the order
   * asked, all started in one turn, so the files of a tree lie side by side there too: kept as each arrived, a repeated
   * pull read them back with a scattered read each, at half the speed; kept one after another with an await between,
   * the other batches a render has in flight interleaved with them record by record (~1,400 reads for 5,000 files
   * instead of ~50). As openRead of a small blob of known size, one far lacks too fails the batch rather than coming
   * back null: telling them apart would cost a round trip to far for each.
   */
  async readMany(blobs: readonly ChunkMeta[], opts?: CallOptions): Promise<Array<Uint8Array | null>> {
    const results = this.near.readMany
      ? await this.near.readMany(blobs, opts)
      : await Promise.all(blobs.map(({ digest }) => readWhole(this.near, digest, opts)));
    const missing = blobs.flatMap((blob, i) => (results[i] === null ? [{ blob, i }] : []));
    // Counted per batch: a tree of small files is thousands of reads, and a labelled counter is not free.
    if (blobs.length > missing.length) this.observer?.served('blobs', 'near', blobs.length - missing.length);
    if (missing.length === 0) return results;
    const ahead = new AbortController(); // the other far reads stop once one failed
    const signal = opts?.signal ? AbortSignal.any([opts.signal, ahead.signal]) : ahead.signal;
    setMaxListeners(0, signal); // one listener per read in flight, by design
    try {
      const fetched = await Promise.all(missing.map(async ({ blob }) => collectBytes(await this.#farRead(blob.digest, blob, signal))));
      this.observer?.served('blobs', 'far', missing.length);
      this.observer?.fetched(fetched.reduce((sum, bytes) => sum + bytes.byteLength, 0));
      const kept = missing.map(({ i }, k) => {
        const bytes = fetched[k] ?? new Uint8Array(0);
        results[i] = bytes;
        // Not awaited one by one: a pack store appends writes started in one turn in that order, back to back.
        return storeHashed(this.near, HashedBytes.of(bytes), opts);
      });
      await Promise.all(kept);
      return results;
    } finally {
      ahead.abort();
    }
  }

  /**
   * Streams the blob into the caller and into near at once. Chunks near already holds are read there; only the
   * others cross the wire, each verified, FILL_READ_AHEAD_BYTES of them in flight (a chunk is ~128 KiB: one at a time,
   * a remote far would cost a round trip per chunk). Near's writer yields the digest of the whole: the last piece is
   * held back until it matches, so a far whose chunk list lies is caught before the stream ends cleanly.
   */
  async *#fill(digest: B3Digest, chunks: readonly Piece[], opts: CallOptions | undefined): AsyncGenerator<Uint8Array, void, undefined> {
    const writer = this.near.openWrite(opts);
    // Far reads started ahead but never consumed (the caller left, or a piece failed) are cancelled through this.
    const ahead = new AbortController();
    const signal = opts?.signal ? AbortSignal.any([opts.signal, ahead.signal]) : ahead.signal;
    setMaxListeners(0, signal); // one listener per read in flight, by design
    const sources: Array<Promise<Source>> = [];
    let aheadBytes = 0;
    const scheduleUpTo = (current: number) => {
      while (sources.length < chunks.length && (sources.length <= current || aheadBytes < FILL_READ_AHEAD_BYTES)) {
        const batch = this.#nextBatch(chunks, sources.length);
        if (batch.length === 0) break;
        const pending = this.#sources(digest, batch, signal);
        pending.catch(() => undefined); // surfaced when its turn comes
        batch.forEach((chunk, k) => {
          aheadBytes += chunk.size ?? 0;
          const source = pending.then((all) => all[k] ?? { remote: null });
          source.catch(() => undefined); // as above
          sources.push(source);
        });
      }
    };
    let held: Uint8Array | undefined;
    let done = false;
    try {
      for (let i = 0; i < chunks.length; i++) {
        scheduleUpTo(i);
        const source = await sources[i];
        const chunk = chunks[i];
        if (!source || !chunk) break;
        const inNear = source.remote ? null : await this.near.openRead(chunk.digest, { signal });
        // A chunk near held when it was planned may have been evicted since (near is a cache): far has it.
        const remote = inNear === null;
        const contents = inNear ?? source.remote ?? (await this.#farRead(digest, chunk, signal));
        for await (const piece of contents) {
          if (remote) this.observer?.fetched(piece.byteLength);
          await writer.write(piece);
          if (held) yield held;
          held = piece;
        }
        aheadBytes -= chunk.size ?? 0;
      }
      const stored = await writer.close();
      done = true;
      if (!stored.equals(digest)) throw farError(digest, 'sent chunks that do not add up to the blob');
      if (held) yield held;
    } finally {
      ahead.abort();
      if (!done) await writer.abort();
    }
  }

  /** The pieces from `start` to fetch together: chunks of known size up to FILL_BATCH_BYTES when far has readMany, else one. */
  #nextBatch(chunks: readonly Piece[], start: number): Piece[] {
    const batch: Piece[] = [];
    let bytes = 0;
    for (let i = start; i < chunks.length; i++) {
      const chunk = chunks[i];
      if (!chunk) break;
      const batchable = this.far.readMany !== undefined && chunk.size !== null;
      if (batch.length > 0 && (!batchable || bytes + (chunk.size ?? 0) > FILL_BATCH_BYTES)) break;
      batch.push(chunk);
      bytes += chunk.size ?? 0;
      if (!batchable) break;
    }
    return batch;
  }

  /**
   * Where each piece of a batch comes from: near if it holds it (opened when its turn comes), else a far read started
   * now, one readMany for all of the batch's far chunks when there are several. Far is untrusted: each is verified.
   */
  async #sources(digest: B3Digest, batch: readonly Piece[], signal: AbortSignal): Promise<Source[]> {
    const held = await Promise.all(batch.map((chunk) => chunk.size !== null && this.near.has(chunk.digest, { signal })));
    const wanted = batch.flatMap((chunk, k) => (held[k] || chunk.size === null ? [] : [{ digest: chunk.digest, size: chunk.size }]));
    if (wanted.length < 2 || !this.far.readMany) {
      return Promise.all(batch.map(async (chunk, k) => ({ remote: held[k] ? null : await this.#farRead(digest, chunk, signal) })));
    }
    const contents = await this.far.readMany(wanted, { signal });
    let next = 0;
    return batch.map((chunk, k) => {
      if (held[k]) return { remote: null };
      const bytes = contents[next++];
      if (!bytes) throw farError(digest, `chunk ${chunk.digest.toHex()} vanished`);
      return { remote: verifiedRead(single(bytes), chunk.digest, chunk.size, (what) => farError(digest, `sent ${what}`)) };
    });
  }

  /** A verified read of one piece from far. */
  async #farRead(digest: B3Digest, chunk: Piece, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
    const remote = await this.far.openRead(chunk.digest, chunk.size === null ? { signal } : { signal, size: chunk.size });
    if (!remote) throw farError(digest, `chunk ${chunk.digest.toHex()} vanished`);
    return verifiedRead(remote, chunk.digest, chunk.size, (what) => farError(digest, `sent ${what}`));
  }

  /** Writes go near, but a far tier may have taken writes of its own (through another door): commit both. */
  async flush(opts?: CallOptions): Promise<void> {
    await Promise.all([this.near.flush(opts), this.far.flush(opts)]);
  }

  /** Writes go near unless near is only a cache: far is then the store, else a source to read from, maybe read-only. */
  openWrite(opts?: CallOptions): BlobWriter {
    return (this.options.writes === 'far' ? this.far : this.near).openWrite(opts);
  }
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array, void, undefined> {
  yield bytes;
}

function farError(digest: B3Digest, what: string): NarBridgeError {
  return new NarBridgeError('NB_ERR_UPSTREAM', `far tier blob ${digest.toHex()}: ${what}`);
}
