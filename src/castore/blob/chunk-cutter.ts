// ChunkCutter: the buffer a chunking writer streams through. Bytes go in as they arrive; a blob of at most one maximum
// chunk is never cut and is kept whole. Past that, FastCDC chunks come out with their blake3s, found on the chunking
// thread (chunk-scanners.ts) while more bytes arrive, and the whole blob's digest comes from the same pass.
import { blake3, B3Digest } from '../digest.js';
import { threadScanner, type ChunkScanner, type ScanSession } from './chunk-scanners.js';
import type { Cut } from './chunk-scan.js';
import type { ChunkingParams } from './fastcdc.js';

/** Receives each chunk cut, in order: a view of the buffer, valid until the returned promise settles. */
export type ChunkSink = (chunk: Uint8Array, digest: B3Digest) => Promise<void>;

/**
 * A scan is asked for once this much more than a maximum chunk is buffered beyond the last cut: large enough that a
 * round trip to the thread (tens of µs) is small beside the scan (~0.5 ms per MiB), small enough to keep it busy.
 */
const SCAN_STEP_BYTES = 1024 * 1024;
/** The shared buffer of a blob being cut, in maximum chunks: room for a scan in flight and the bytes arriving. */
const RING_MAX_CHUNKS = 8;

export class ChunkCutter {
  /**
   * Bytes not yet handed to the sink: `#buffer[#start..#end)`. Until the first cut it is an ordinary buffer grown as
   * needed (most blobs are small); from then on a shared one of fixed size, its unconsumed bytes moved to the front
   * when full, with no scan in flight.
   */
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  /** Cut and not yet sunk, from `#start` on; `#cutTo` is where they end and the next scan starts. */
  #cuts: Cut[] = [];
  #cutTo = 0;
  #session: ScanSession | null = null;
  #scan: Promise<void> | null = null;
  #failure: unknown;

  constructor(
    private readonly params: ChunkingParams,
    private readonly scanner: ChunkScanner = threadScanner,
  ) {}

  /** Whether the blob is cut into chunks (it grew past a maximum chunk): if not, it is the bytes `rest()` returns. */
  get cut(): boolean {
    return this.#session !== null;
  }

  async push(data: Uint8Array, sink: ChunkSink): Promise<void> {
    for (let at = 0; at < data.byteLength; ) {
      if (this.#end === this.#buffer.byteLength) await this.#makeRoom(data.byteLength - at, sink);
      const take = Math.min(data.byteLength - at, this.#buffer.byteLength - this.#end);
      this.#buffer.set(data.subarray(at, at + take), this.#end);
      this.#end += take;
      at += take;
      if (!this.#session && this.#end - this.#start > this.params.maxSize) this.#startCutting();
      this.#kick(SCAN_STEP_BYTES);
    }
    await this.#sinkCuts(sink);
  }

  /** Cuts everything still buffered, and returns the whole blob's digest. */
  async finish(sink: ChunkSink): Promise<B3Digest> {
    if (!this.#session) return blake3(this.rest());
    await this.#settle(sink);
    const { cuts, whole } = await this.#session.scan(this.#shared(), this.#cutTo, this.#end, true, this.params);
    this.#take(cuts);
    await this.#sinkCuts(sink);
    if (!whole) throw new Error('the final scan gave no digest');
    return whole;
  }

  /** The bytes buffered and not cut. */
  rest(): Uint8Array {
    return this.#buffer.subarray(this.#start, this.#end);
  }

  /** Done with the blob, written or given up. */
  release(): void {
    this.#session?.drop();
    this.#session = null;
    this.#buffer = new Uint8Array(0);
    this.#start = this.#end = this.#cutTo = 0;
    this.#cuts = [];
  }

  /** From here on the blob is cut: its bytes move to a shared buffer the chunking thread reads. */
  #startCutting(): void {
    const ring = new Uint8Array(new SharedArrayBuffer(RING_MAX_CHUNKS * this.params.maxSize));
    ring.set(this.rest());
    this.#buffer = ring;
    this.#end -= this.#start;
    this.#start = this.#cutTo = 0;
    this.#session = this.scanner();
  }

  /** Asks for the next scan if none is in flight and at least `step` bytes beyond a maximum chunk wait. */
  #kick(step: number): void {
    const session = this.#session;
    if (!session || this.#scan || this.#end - this.#cutTo <= this.params.maxSize + step - 1) return;
    this.#scan = session.scan(this.#shared(), this.#cutTo, this.#end, false, this.params).then(
      ({ cuts }) => {
        this.#scan = null;
        this.#take(cuts);
        this.#kick(SCAN_STEP_BYTES);
      },
      (err: unknown) => {
        this.#failure ??= err;
      },
    );
  }

  #take(cuts: readonly Cut[]): void {
    for (const cut of cuts) {
      this.#cuts.push(cut);
      this.#cutTo += cut.length;
    }
  }

  /** Hands the chunks cut so far to the sink. */
  async #sinkCuts(sink: ChunkSink): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    for (let cut = this.#cuts.shift(); cut; cut = this.#cuts.shift()) {
      await sink(this.#buffer.subarray(this.#start, this.#start + cut.length), B3Digest.parse(cut.digest));
      this.#start += cut.length;
    }
  }

  /** Waits for the scan in flight and sinks every chunk cut. */
  async #settle(sink: ChunkSink): Promise<void> {
    while (this.#scan) {
      await this.#scan;
      if (this.#failure !== undefined) throw this.#failure;
    }
    await this.#sinkCuts(sink);
  }

  /**
   * Before the first cut, grows the buffer as data arrives, to just past a maximum chunk (allocating more per writer
   * dominated ingesting many small files). Once cutting, frees the consumed front: whatever a scan left uncut (at most
   * a maximum chunk, or what arrived since) moves there, so each byte is moved about once.
   */
  async #makeRoom(wanted: number, sink: ChunkSink): Promise<void> {
    if (!this.#session) {
      const grown = new Uint8Array(Math.min(this.params.maxSize + 1, Math.max(this.#end + wanted, 2 * this.#buffer.byteLength)));
      grown.set(this.rest());
      this.#buffer = grown;
      this.#end -= this.#start;
      this.#start = 0;
      return;
    }
    this.#kick(0);
    await this.#settle(sink);
    this.#buffer.copyWithin(0, this.#start, this.#end);
    this.#end -= this.#start;
    this.#cutTo -= this.#start;
    this.#start = 0;
  }

  #shared(): SharedArrayBuffer {
    const { buffer } = this.#buffer;
    if (!(buffer instanceof SharedArrayBuffer)) throw new Error('a blob is scanned only once it is cut');
    return buffer;
  }
}
