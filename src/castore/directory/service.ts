// DirectoryService: Directory messages keyed by digest; read root→leaves, written leaves→root.
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';

export interface DirectoryService {
  /** The Directory with this digest, or null if absent. */
  get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null>;
  /**
   * `root` first, then breadth-first, each digest once. Throws NB_ERR_MISSING_OBJECT if the root or any
   * Directory below it is absent.
   */
  getRecursive(root: B3Digest, opts?: CallOptions): AsyncIterable<Directory>;
  putter(opts?: CallOptions): DirectoryPutter;
}

export interface DirectoryPutter {
  /**
   * Leaves first: every child directory node must name a Directory put earlier here or already stored,
   * with a matching size, else NB_ERR_GRAPH_INCOMPLETE.
   */
  put(directory: Directory): Promise<void>;
  /** Digest of the last Directory put (the root); all of it is durable once this resolves. */
  close(): Promise<B3Digest>;
}
