// Buffers for streaming reads, taken back once the bytes lent out of them were sent. A stream of a large NAR reads
// a buffer every half MiB; freed to the garbage collector, they pile up (memory outside the JS heap, released only
// when their small wrappers are collected) to tens of MiB per stream before a collection. Whoever sends a chunk
// hands it back (releaseReadBuffer) once the bytes left the process; a chunk never handed back is simply collected,
// so a consumer that keeps, transforms or drops chunks needs to do nothing.

/** A buffer taken from the pool, pinned by its reader and by every view lent out of it. */
export interface ReadLease {
  readonly buffer: Buffer;
}

interface Lease extends ReadLease {
  /** The reader's pin and one per view lent and not yet handed back. */
  pins: number;
  /** The views lent and not yet handed back: only these very objects count when handed back. */
  readonly lent: Uint8Array[];
}

/**
 * Where a pooled buffer keeps its lease: on its ArrayBuffer, set once when allocated, so a chunk finds it without a
 * lookup table (a WeakMap from views or buffers to leases made 16 streams that never hand chunks back cost 2.5-3x
 * the CPU, all of it in the garbage collector; a property on every view lent, 1.5x).
 */
const LEASE = Symbol('read buffer lease');

type Leased = ArrayBufferLike & { [LEASE]?: Lease };

export class ReadBufferPool {
  readonly #free: Lease[] = [];
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
    if (length > this.bufferBytes || length < this.bufferBytes / 2) return { buffer: Buffer.allocUnsafe(length) };
    const reused = this.#free.pop();
    if (reused) {
      reused.pins = 1;
      return reused;
    }
    const lease: Lease = { buffer: Buffer.allocUnsafeSlow(this.bufferBytes), pins: 1, lent: [] };
    (lease.buffer.buffer as Leased)[LEASE] = lease;
    return lease;
  }

  /**
   * Marks `view` as lent: the buffer is not reused before `view` is handed back. A view of other memory (a record read
   * again elsewhere after a repack moved it) is not the lease's to pin: pinned, it could never be handed back.
   */
  lend<T extends Uint8Array>(lease: ReadLease, view: T): T {
    const pooled = (lease.buffer.buffer as Leased)[LEASE];
    if (pooled !== lease || view.buffer !== lease.buffer.buffer) return view;
    pooled.pins++;
    pooled.lent.push(view);
    return view;
  }

  /** The reader is done with the lease (including a read that failed: only once that read settled). */
  drop(lease: ReadLease): void {
    const pooled = (lease.buffer.buffer as Leased)[LEASE];
    if (pooled === lease) this.#unpin(pooled);
  }

  /**
   * `chunk`'s bytes were sent and it will not be touched again. Only the very view lent counts (a view derived from it
   * does not), and each only once, so a buffer is never reused while any of its views is still on its way.
   */
  release(chunk: Uint8Array): void {
    const lease = (chunk.buffer as Leased)[LEASE];
    const at = lease ? lease.lent.indexOf(chunk) : -1;
    if (!lease || at < 0) return;
    lease.lent.splice(at, 1);
    this.#returned++;
    this.#unpin(lease);
  }

  #unpin(lease: Lease): void {
    if (--lease.pins === 0 && this.#free.length < this.maxFree) this.#free.push(lease);
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
