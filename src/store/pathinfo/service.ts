// The PathInfoService interface: store-path digest (20 bytes) → PathInfo.
import type { StorePathDigest } from '../../nix/index.js';
import type { CallOptions } from '../../castore/index.js';
import type { PathInfo } from '../path-info.js';

export interface PathInfoService {
  /** `digest` is the 20-byte store path hash; null when absent. */
  get(digest: StorePathDigest, opts?: CallOptions): Promise<PathInfo | null>;
  /**
   * Backends replace any PathInfo for the same store path (keeping, for the same contents, the signatures of keys the
   * put has none from: overwrite.ts), and trust their caller: the doors write through
   * GuardedPathInfoService, which checks the PathInfo against its objects and keeps stored paths immutable.
   */
  put(info: PathInfo, opts?: CallOptions): Promise<void>;
  list(opts?: CallOptions): AsyncIterable<PathInfo>;
}

/** A PathInfo and when this service first stored it (null: stored before registration times were kept). */
export interface RegisteredPathInfo {
  readonly info: PathInfo;
  readonly registeredAt: Date | null;
}

/** Backends that remember when each path arrived (memory, SQLite), for a "recently pushed" listing. */
export interface RecentPathInfos {
  /** The `limit` most recently registered paths, newest first; a re-put (more signatures) keeps its first time. */
  recent(limit: number, opts?: CallOptions): Promise<RegisteredPathInfo[]>;
}
