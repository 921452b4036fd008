// When each path was last asked for, for retention by age and LRU size: noted in memory per narinfo lookup and
// written in one transaction every few seconds, not one write per request.
import type { GcTables, PathKey } from './tables.js';
import { pathKey } from './tables.js';

/** Accesses are written this often; a crash forgets at most this much, which only makes a path look older. */
const FLUSH_EVERY_MS = 5000;

export class AccessRecorder {
  #pending = new Map<PathKey, number>();
  readonly #timer: NodeJS.Timeout;

  /** `failed` hears of a batch that could not be written (a full disk, say); its times are kept for the next try. */
  constructor(
    private readonly tables: GcTables,
    private readonly failed: (err: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.#timer = setInterval(() => this.flush(), FLUSH_EVERY_MS);
    this.#timer.unref();
  }

  /** `digest`: the 20-byte store path digest looked up. */
  accessed(digest: Uint8Array): void {
    this.#pending.set(pathKey(digest), this.now());
  }

  /** Access times are a hint for retention, never a reason to fail a request or a shutdown. */
  flush(): void {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      this.tables.recordAccess(batch);
    } catch (err) {
      for (const [key, at] of batch) if (!this.#pending.has(key)) this.#pending.set(key, at);
      this.failed(err);
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.flush();
  }
}
