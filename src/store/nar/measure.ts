// Pass-through stream stage that hashes and counts the bytes flowing by (NarHash/NarSize, FileHash/FileSize).
import { createHash, type Hash } from 'node:crypto';

export class StreamDigest {
  #hash: Hash = createHash('sha256');
  #size = 0;
  #digest: Uint8Array | undefined;

  #hashing = true;

  /** Wraps `source`; the digest is final once the returned iterable is exhausted. */
  async *tap(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    for await (const chunk of source) {
      if (this.#hashing) this.#hash.update(chunk);
      this.#size += chunk.byteLength;
      yield chunk;
    }
    if (this.#hashing) this.#digest = this.#hash.digest();
  }

  /** From now on only count bytes: the caller gets the digest elsewhere (an uncompressed upload's is the NAR's). */
  countOnly(): void {
    this.#hashing = false;
  }

  get size(): number {
    return this.#size;
  }

  /** The raw sha256; throws if the stream was not read to its end. */
  get sha256(): Uint8Array {
    if (!this.#digest) throw new Error('StreamDigest read before its stream ended');
    return this.#digest;
  }
}
