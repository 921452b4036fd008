// WriteFence: what keeps a garbage collection from deleting an object a writer is about to make reachable.
//
// A writer finds an object already stored ("already have it": a deduplicated blob, chunk or Directory) and only later
// writes what refers to it (a Directory, an upload record, a PathInfo). If a GC decided in between that the object
// was unreachable, the new reference would point at nothing. So every write that may end in a new reference (a NAR
// ingest with its upload record, a PathInfo put with its presence re-check) runs inside `shared()`, and a GC's mark
// and sweep run inside `exclusive()`: the sweep sees every reference a finished writer made, and a writer starting
// after it sees the deletions (its presence checks fail cleanly instead of committing a dangling reference).
// Waiting for the fence is bounded on the GC side (it gives up and tries at its next interval), so a slow upload
// delays a GC, never the other way round for longer than the GC's wait.
import { AsyncLocalStorage } from 'node:async_hooks';

export class WriteFence {
  #shared = 0;
  #exclusive = false;
  #exclusiveWaiting = 0;
  #wakers: Array<() => void> = [];
  /** Set inside shared(): a nested write (a PathInfo put inside a pull-through) must not wait behind a waiting GC. */
  readonly #inside = new AsyncLocalStorage<true>();

  /** Runs `body` as a writer: concurrently with other writers, never during a GC's mark and sweep. */
  async shared<T>(body: () => Promise<T>): Promise<T> {
    if (this.#inside.getStore()) return body();
    while (this.#exclusive || this.#exclusiveWaiting > 0) await this.#changed();
    this.#shared++;
    try {
      return await this.#inside.run(true, body);
    } finally {
      this.#shared--;
      this.#wake();
    }
  }

  /**
   * Runs `body` alone, once the writers in flight are done; new writers wait from the moment this is called. Null,
   * without running `body`, if the writers did not finish within `timeoutMs`.
   */
  async exclusive<T>(body: () => Promise<T>, timeoutMs: number): Promise<{ value: T } | null> {
    this.#exclusiveWaiting++;
    const deadline = Date.now() + timeoutMs;
    try {
      while (this.#exclusive || this.#shared > 0) {
        const left = deadline - Date.now();
        if (left <= 0) return null;
        await Promise.race([this.#changed(), new Promise((resolve) => setTimeout(resolve, left).unref())]);
      }
    } finally {
      this.#exclusiveWaiting--;
      this.#wake(); // writers held back by this wait re-check (they go ahead if it gave up)
    }
    this.#exclusive = true;
    try {
      return { value: await body() };
    } finally {
      this.#exclusive = false;
      this.#wake();
    }
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }

  #wake(): void {
    const wakers = this.#wakers;
    this.#wakers = [];
    for (const wake of wakers) wake();
  }
}

/** `body` as a writer behind `fence`, or just `body` where nothing collects garbage. */
export function asWriter<T>(fence: WriteFence | undefined, body: () => Promise<T>): Promise<T> {
  return fence ? fence.shared(body) : body();
}
