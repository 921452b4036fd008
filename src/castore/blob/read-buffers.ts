// Buffers for streaming reads, taken back once the bytes lent out of them were sent. A stream of a large NAR reads
// a buffer every half MiB; freed to the garbage collector, they pile up (memory outside the JS heap, released only
// when their small wrappers are collected) to tens of MiB per stream before a collection. Whoever sends a chunk
// hands it back (releaseReadBuffer) once the bytes left the process; a chunk never handed back is simply collected,
// so a consumer that keeps, transforms or drops chunks needs to do nothing.

/** A buffer taken from the pool, pinned by its reader and by every view lent out of it. */
export interface ReadLease {
  readonly buffer: Buffer;
}

interface Pinned extends ReadLease {
  pins: number;
}

export class ReadBufferPool {
  readonly #free: Buffer[] = [];
  /** Views lent and not yet handed back, each pinning its lease. */
  readonly #lent = new WeakMap<Uint8Array, Pinned>();
  /** Views handed back: gauge for tests. */
  #returned = 0;

  constructor(
    /** Size of each pooled buffer: a read that needs more gets a buffer of its own, not pooled. */
    readonly bufferBytes: number,
    /** Buffers kept while unused: what the pool may hold beyond the reads in flight. */
    readonly maxFree: number,
  ) {}

  /** Views handed back so far. */
  get returned(): number {
    return this.#returned;
  }

  /**
   * A buffer of at least `length` bytes, pinned by the caller until it calls `drop`. Only reads of at least half a
   * pooled buffer get one: a small read (a small file read on its own) whose chunk is copied on and never handed back
   * would otherwise leave a whole pooled buffer to the garbage collector.
   */
  take(length: number): ReadLease {
    const pooled = length <= this.bufferBytes && length >= this.bufferBytes / 2;
    const buffer = pooled ? (this.#free.pop() ?? Buffer.allocUnsafe(this.bufferBytes)) : Buffer.allocUnsafe(length);
    const lease: Pinned = { buffer, pins: 1 };
    return lease;
  }

  /** Marks `view` (bytes of the lease's buffer) as lent: the buffer is not reused before `view` is handed back. */
  lend<T extends Uint8Array>(lease: ReadLease, view: T): T {
    (lease as Pinned).pins++;
    this.#lent.set(view, lease as Pinned);
    return view;
  }

  /** The reader is done with the lease (including a read that failed: only once that read settled). */
  drop(lease: ReadLease): void {
    this.#unpin(lease as Pinned);
  }

  /**
   * `chunk`'s bytes were sent and it will not be touched again. Only the very view lent counts (a view derived from it
   * does not), and each only once, so a buffer is never reused while any of its views is still on its way.
   */
  release(chunk: Uint8Array): void {
    const lease = this.#lent.get(chunk);
    if (!lease) return;
    this.#lent.delete(chunk);
    this.#returned++;
    this.#unpin(lease);
  }

  #unpin(lease: Pinned): void {
    if (--lease.pins > 0) return;
    if (lease.buffer.byteLength === this.bufferBytes && this.#free.length < this.maxFree) this.#free.push(lease.buffer);
  }
}

/**
 * The pool of the process's streaming blob reads: 512 KiB buffers (a pack stream's largest read), up to 32 kept
 * (16 MiB), enough for 16 streams with a read in flight and one being sent each.
 */
export const streamReadBuffers = new ReadBufferPool(512 * 1024, 32);

/** Hands a chunk of a blob stream back once its bytes were sent (see ReadBufferPool.release); any other chunk is ignored. */
export function releaseReadBuffer(chunk: Uint8Array): void {
  streamReadBuffers.release(chunk);
}
