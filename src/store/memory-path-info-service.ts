// PathInfoService held in a Map: for tests and `memory://`.
import { Buffer } from 'node:buffer';
import type { PathInfo } from './path-info.js';
import type { PathInfoService } from './path-info-service.js';

export class MemoryPathInfoService implements PathInfoService {
  readonly #infos = new Map<string, PathInfo>();

  async get(digest: Uint8Array): Promise<PathInfo | null> {
    return this.#infos.get(Buffer.from(digest).toString('hex')) ?? null;
  }

  async put(info: PathInfo): Promise<void> {
    this.#infos.set(Buffer.from(info.storePath.digest).toString('hex'), info);
  }

  async *list(): AsyncIterable<PathInfo> {
    yield* [...this.#infos.values()];
  }
}
