// A seeded PRNG for property tests: one seed replays a whole run (NB_PROPERTY_SEED), so a failure is reproducible.
import { randomInt } from 'node:crypto';

export class Prng {
  #state: number;

  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }

  /** The seed to use: NB_PROPERTY_SEED when replaying a failure, otherwise a fresh one per run. */
  static seedFromEnv(env: NodeJS.ProcessEnv): number {
    const replay = env.NB_PROPERTY_SEED;
    return replay === undefined ? randomInt(2 ** 31) : Number(replay);
  }

  /** mulberry32: small, fast and plenty random for test inputs (not for anything secret). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.below(items.length)];
    if (item === undefined) throw new Error('pick from an empty list');
    return item;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.below(256);
    return out;
  }
}
