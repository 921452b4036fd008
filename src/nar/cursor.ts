// Buffered pull reader over a chunk stream: contiguous lookahead for tokens, views for contents, offsets for errors.

import { NarBridgeError } from '../errors.js';
import { decodeLength, narStringLength } from './tokens.js';

const NO_BYTES = new Uint8Array(0);

export function narMalformed(reason: string, offset: number): NarBridgeError {
  return new NarBridgeError('NB_ERR_NAR_MALFORMED', `${reason} at byte ${offset}`);
}

/**
 * Reads the source only when asked for bytes it has not buffered. Views it returns point into the source's
 * chunks, which the source must not reuse. Token parsing is synchronous over `fill`ed bytes, because an await per
 * token would cost more than the parsing itself. Fills never reach past the token being parsed, so file contents
 * always come from the source chunks, never from a copy.
 */
export class Cursor {
  private readonly chunks: AsyncIterator<Uint8Array>;
  private chunk: Uint8Array = NO_BYTES;
  private pos = 0;
  /** Absolute offset of `chunk[0]`. */
  private chunkStart = 0;
  /** The rest of a source chunk whose head `fill` copied into `chunk`; read before pulling the source again. */
  private queued: Uint8Array = NO_BYTES;
  private exhausted = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.chunks = source[Symbol.asyncIterator]();
  }

  /** Absolute offset of the next unread byte. */
  get offset(): number {
    return this.chunkStart + this.pos;
  }

  /** Bytes readable without awaiting. */
  get buffered(): number {
    return this.chunk.length - this.pos;
  }

  /**
   * Makes `n` bytes readable without awaiting (fewer only at the end of the source, which `take` then reports).
   * Returns nothing when they already are, so the common case costs no promise.
   */
  fill(n: number): Promise<void> | undefined {
    return this.buffered >= n ? undefined : this.gather(n);
  }

  /**
   * Makes the next NAR string readable without awaiting: its length word, plus its data and padding when the
   * length is at most `max` (a longer one is the caller's to reject, with nothing more read).
   */
  fillString(max: number): Promise<void> | undefined {
    if (this.buffered < 8) return this.gatherString(max);
    const length = decodeLength(this.chunk, this.pos);
    return length === null || length > max ? undefined : this.fill(narStringLength(length));
  }

  /** The next `n` already `fill`ed bytes, as a view. */
  take(n: number): Uint8Array {
    this.require(n);
    const view = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return view;
  }

  // The three readers below work in place, because allocating a view per token would dominate parsing time.

  /** The already `fill`ed u64 length word, or null when it exceeds Number.MAX_SAFE_INTEGER. */
  takeLength(): number | null {
    this.require(8);
    const length = decodeLength(this.chunk, this.pos);
    this.pos += 8;
    return length;
  }

  /** Takes `bytes.length` already `fill`ed bytes if they equal `bytes`; takes nothing otherwise. */
  takeIfEqual(bytes: Uint8Array): boolean {
    this.require(bytes.length);
    for (let i = 0; i < bytes.length; i += 1) if (this.chunk[this.pos + i] !== bytes[i]) return false;
    this.pos += bytes.length;
    return true;
  }

  /** Takes `n` already `fill`ed bytes; false if any was not zero. */
  takeZeros(n: number): boolean {
    this.require(n);
    const end = this.pos + n;
    for (; this.pos < end; this.pos += 1) if (this.chunk[this.pos] !== 0) return false;
    return true;
  }

  /** Between 1 and `max` bytes as a view of one source chunk, pulling the source if needed; `max` must be positive. */
  async takeUpTo(max: number): Promise<Uint8Array> {
    if (this.buffered === 0 && !(await this.pull())) throw narMalformed('unexpected end of NAR', this.offset);
    return this.take(Math.min(max, this.buffered));
  }

  async skip(n: number): Promise<void> {
    for (let left = n; left > 0; ) left -= (await this.takeUpTo(left)).length;
  }

  /** True once the source is exhausted and every byte has been taken. */
  async atEnd(): Promise<boolean> {
    return this.buffered === 0 && !(await this.pull());
  }

  /** Lets the source release its resources when parsing stops early. */
  async close(): Promise<void> {
    if (!this.exhausted) {
      this.exhausted = true;
      await this.chunks.return?.();
    }
  }

  /** Reports a truncated input: `n` bytes were `fill`ed, so fewer means the source ended. */
  private require(n: number): void {
    if (this.buffered < n) throw narMalformed('unexpected end of NAR', this.offset + this.buffered);
  }

  private async gatherString(max: number): Promise<void> {
    await this.gather(8);
    if (this.buffered >= 8) await this.fillString(max);
  }

  /** Makes `n` bytes contiguous, copying only when they straddle chunks (fewer at the end of the source). */
  private async gather(n: number): Promise<void> {
    if (this.buffered === 0 && !(await this.pull())) return;
    if (this.buffered >= n) return;
    const start = this.offset;
    const merged = new Uint8Array(n);
    let filled = 0;
    while (filled < n && (this.buffered > 0 || (await this.pull()))) {
      const piece = this.take(Math.min(n - filled, this.buffered));
      merged.set(piece, filled);
      filled += piece.length;
    }
    this.queued = this.chunk.subarray(this.pos);
    this.chunk = merged.subarray(0, filled);
    this.pos = 0;
    this.chunkStart = start;
  }

  /** Moves to the next non-empty chunk; false at the end of the source. */
  private async pull(): Promise<boolean> {
    let next = this.queued;
    this.queued = NO_BYTES;
    while (next.length === 0 && !this.exhausted) {
      const result = await this.chunks.next();
      if (result.done === true) this.exhausted = true;
      // A plain Uint8Array view: Buffer#subarray is several times slower, and we take a view per token.
      else next = new Uint8Array(result.value.buffer, result.value.byteOffset, result.value.length);
    }
    if (next.length === 0) return false;
    this.chunkStart += this.chunk.length;
    this.chunk = next;
    this.pos = 0;
    return true;
  }
}
