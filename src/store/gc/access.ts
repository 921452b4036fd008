// When each path was last asked for, for retention by age and LRU size: noted in memory per narinfo lookup and
// written in one transaction every few seconds, not one write per request.
import type { GcTables, PathKey } from './tables.js';
import { pathKey } from './tables.js';

/** Accesses are written this often; a crash forgets at most this much, which only makes a path look older. */
const FLUSH_EVERY_MS = 5000;

export class AccessRecorder {
  #pending = new Map<PathKey, number>();
  readonly #timer: NodeJS.Timeout;

  constructor(
    private readonly tables: GcTables,
    private readonly now: () => number = Date.now,
  ) {
    this.#timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  /** `digest`: the 20-byte store path digest looked up. */
  accessed(digest: Uint8Array): void {
    this.#pending.set(pathKey(digest), this.now());
  }

  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    this.tables.recordAccess(batch);
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
