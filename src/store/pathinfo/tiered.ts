// TieredPathInfoService: near in front of far; a PathInfo found far is copied near. The castore objects it names
// are fetched by the tiered blob and directory services when first read, each verified by digest there.
import type { StorePathDigest } from '../../nix/index.js';
import type { CallOptions, TierObserver } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';
import type { PathInfoService } from './service.js';

export class TieredPathInfoService implements PathInfoService {
  constructor(
    private readonly near: PathInfoService,
    private readonly far: PathInfoService,
    private readonly observer?: TierObserver,
  ) {}

  async get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null> {
    const held = await this.near.get(digest, opts);
    if (held) {
      this.observer?.served('path_infos', 'near');
      return held;
    }
    const found = await this.far.get(digest, opts);
    this.observer?.served('path_infos', found ? 'far' : 'none');
    if (found) await this.near.put(found, opts);
    return found;
  }

  /** Writes go near: far is a source to read from, possibly shared and read-only. */
  put(info: PathInfo, opts?: CallOptions): Promise<void> {
    return this.near.put(info, opts);
  }

  list(opts?: CallOptions): AsyncIterable<PathInfo> {
    return this.near.list(opts);
  }
}
