// Coalesces small writes into output chunks of a bounded size, passing large chunks through uncopied.

import { narStringLength, paddingLength, setU64 } from './tokens.js';

/**
 * Target size of a coalesced output chunk, in bytes: a directory of small files then costs a socket write per
 * 128 KiB rather than several per file, while a response never holds more than this in our buffer.
 */
const OUTPUT_CHUNK_SIZE = 128 * 1024;

/**
 * Content chunks at least this big go out as they are (a copy would cost more than the extra write saves);
 * smaller ones are copied into the current output chunk.
 */
const PASS_THROUGH_MIN = 16 * 1024;

const NONE: readonly Uint8Array[] = [];

/** Collects bytes; `takeReady()` hands back the chunks that are complete, in order. */
export class OutputChunks {
  private readonly buffer = new Uint8Array(OUTPUT_CHUNK_SIZE);
  private readonly view = new DataView(this.buffer.buffer);
  private length = 0;
  private ready: Uint8Array[] = [];

  /** Appends raw bytes: a framed token, or file contents (which pass through uncopied when large). */
  append(bytes: Uint8Array): void {
    if (bytes.length >= PASS_THROUGH_MIN) {
      this.flush();
      this.ready.push(bytes);
      return;
    }
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  u64(n: number): void {
    this.reserve(8);
    setU64(this.view, this.length, n);
    this.length += 8;
  }

  padding(dataLength: number): void {
    const n = paddingLength(dataLength);
    this.reserve(n);
    // The buffer is reused after each flush, so old bytes must be overwritten.
    this.buffer.fill(0, this.length, this.length + n);
    this.length += n;
  }

  /** A whole NAR string: length, data, padding. */
  string(data: Uint8Array): void {
    this.reserve(narStringLength(data.length));
    this.u64(data.length);
    this.append(data);
    this.padding(data.length);
  }

  /** Completes the current chunk, even if it is small. */
  flush(): void {
    if (this.length === 0) return;
    // A copy, so the buffer can be reused while the consumer holds the chunk.
    this.ready.push(this.buffer.slice(0, this.length));
    this.length = 0;
  }

  takeReady(): readonly Uint8Array[] {
    if (this.ready.length === 0) return NONE;
    const chunks = this.ready;
    this.ready = [];
    return chunks;
  }

  /** Flushes unless `n` more bytes fit (anything larger than a chunk goes through `append`'s pass-through). */
  private reserve(n: number): void {
    if (this.length + n > OUTPUT_CHUNK_SIZE) this.flush();
  }
}
