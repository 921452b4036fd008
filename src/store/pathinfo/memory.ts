// PathInfoService held in a Map: for tests and `memory://`.
import type { StorePathDigest } from '../../nix/index.js';
import { Buffer } from 'node:buffer';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService, RecentPathInfos, RegisteredPathInfo } from './service.js';
import { overwriting } from './overwrite.js';

export class MemoryPathInfoService implements PathInfoService, RecentPathInfos {
  /** A Map keeps insertion order, and replacing a value keeps its place: the order paths were first registered. */
  readonly #infos = new Map<string, RegisteredPathInfo>();

  constructor(private readonly now: () => number = Date.now) {}

  async get(digest: StorePathDigest): Promise<PathInfo | null> {
    return this.#infos.get(Buffer.from(digest).toString('hex'))?.info ?? null;
  }

  async put(info: PathInfo): Promise<void> {
    const key = Buffer.from(info.storePath.digest).toString('hex');
    const held = this.#infos.get(key);
    this.#infos.set(key, { info: overwriting(held?.info ?? null, info), registeredAt: held?.registeredAt ?? new Date(this.now()) });
  }

  async *list(): AsyncIterable<PathInfo> {
    yield* [...this.#infos.values()].map((registered) => registered.info);
  }

  async recent(limit: number): Promise<RegisteredPathInfo[]> {
    return [...this.#infos.values()].reverse().slice(0, limit);
  }
}
