// NarSize and NAR sha256 of a castore node (tvix CalculateNAR), rendered through planNar and remembered.
import { createHash } from 'node:crypto';
import { encodeRootNode, type CallOptions, type Node } from '../../castore/index.js';
import type { Castore } from '../../castore/index.js';
import { planNar } from './render.js';

export interface NarFacts {
  readonly narSize: number;
  /** Raw 32-byte sha256 of the NAR. */
  readonly narSha256: Uint8Array;
}

/** Results kept: ~100 bytes each, so this bounds the cache to about 1 MB; oldest entries go first. */
const CACHED_RESULTS = 10_000;
const NO_NAME = new Uint8Array(0);

export class NarCalculator {
  /** By root node encoding (name-less): content-addressed, so a result never goes stale. */
  readonly #cache = new Map<string, NarFacts>();

  constructor(private readonly castore: Castore) {}

  /** Throws NB_ERR_MISSING_OBJECT if any object under `node` is absent. */
  async calculate(node: Node, opts: CallOptions = {}): Promise<NarFacts> {
    const cached = this.#cache.get(keyOf(node));
    if (cached) return cached;
    const plan = await planNar(node, this.castore, opts);
    const hash = createHash('sha256');
    for await (const chunk of plan.stream()) hash.update(chunk);
    const facts: NarFacts = { narSize: plan.narSize, narSha256: hash.digest() };
    this.remember(node, facts);
    return facts;
  }

  /** Facts computed elsewhere from the NAR's own bytes (an ingest), so a later check need not render it. */
  remember(node: Node, facts: NarFacts): void {
    this.#cache.set(keyOf(node), facts);
    if (this.#cache.size > CACHED_RESULTS) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
  }
}

function keyOf(node: Node): string {
  return Buffer.from(encodeRootNode(NO_NAME, node)).toString('base64');
}
