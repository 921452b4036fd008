// Runs work for one store path after every earlier piece of work for that path has settled; other paths run freely.
// What read-then-write wrappers use so two writes of one path cannot interleave (within this process).
import type { StorePathDigest } from '../../nix/index.js';

export class PerPathQueue {
  readonly #tails = new Map<string, Promise<void>>();

  async run<T>(digest: StorePathDigest, work: () => Promise<T>): Promise<T> {
    const key = Buffer.from(digest).toString('hex');
    const before = this.#tails.get(key) ?? Promise.resolve();
    const turn = before.then(work);
    const settled = turn.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, settled);
    try {
      return await turn;
    } finally {
      if (this.#tails.get(key) === settled) this.#tails.delete(key);
    }
  }
}
