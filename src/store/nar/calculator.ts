// NarSize and NAR digest of a castore node (tvix CalculateNAR), rendered through planNar; sha256 results remembered.
// The one place a NAR is rendered only to be hashed.
import { createHash } from 'node:crypto';
import { encodeRootNode, type CallOptions, type Node } from '../../castore/index.js';
import type { Castore } from '../../castore/index.js';
import type { HashAlgo } from '../../nix/index.js';
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
    const { narSize, digest } = await this.#render(node, 'sha256', opts);
    const facts: NarFacts = { narSize, narSha256: digest };
    this.remember(node, facts);
    return facts;
  }

  /** The raw digest of the NAR under `algo` (a `fixed:r:` content address may name any); sha256 is remembered. */
  async digest(node: Node, algo: HashAlgo, opts: CallOptions = {}): Promise<Uint8Array> {
    if (algo === 'sha256') return (await this.calculate(node, opts)).narSha256;
    return (await this.#render(node, algo, opts)).digest;
  }

  async #render(node: Node, algo: HashAlgo, opts: CallOptions): Promise<{ narSize: number; digest: Uint8Array }> {
    const plan = await planNar(node, this.castore, opts);
    const hash = createHash(algo);
    for await (const chunk of plan.stream()) hash.update(chunk);
    return { narSize: plan.narSize, digest: hash.digest() };
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
