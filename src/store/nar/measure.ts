// Pass-through stream stage that hashes and counts the bytes flowing by (NarHash/NarSize, FileHash/FileSize).
import { OffThreadHasher } from '../../castore/index.js';

export class StreamDigest {
  /** sha256 runs beside the stage's consumer (the NAR parser and the blob writers), not between its reads. */
  #hash = new OffThreadHasher('sha256');
  #size = 0;
  #digest: Uint8Array | undefined;

  #hashing = true;

  /** Wraps `source`; the digest is final once the returned iterable is exhausted. */
  async *tap(source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> {
    try {
      for await (const chunk of source) {
        if (this.#hashing) await this.#hash.update(chunk);
        this.#size += chunk.byteLength;
        yield chunk;
      }
      if (this.#hashing) this.#digest = await this.#hash.digest();
    } finally {
      if (!this.#digest) this.#hash.abort();
    }
  }

  /** From now on only count bytes: the caller gets the digest elsewhere (an uncompressed upload's is the NAR's). */
  countOnly(): void {
    this.#hashing = false;
    this.#hash.abort();
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
