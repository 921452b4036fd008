// BuildLogIndex held in a Map: for tests and `memory://`.
import type { B3Digest } from '../castore/index.js';
import type { StorePath } from '../nix/index.js';
import type { BuildLogIndex } from './build-logs.js';

export class MemoryBuildLogIndex implements BuildLogIndex {
  readonly #logs = new Map<string, B3Digest>();

  async get(drv: StorePath): Promise<B3Digest | null> {
    return this.#logs.get(drv.basename) ?? null;
  }

  async put(drv: StorePath, log: B3Digest): Promise<void> {
    this.#logs.set(drv.basename, log);
  }
}
