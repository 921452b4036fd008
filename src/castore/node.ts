// Node: what a Directory entry (or a store path root) points at — a directory, a file or a symlink.
import { NarBridgeError } from '../errors.js';
import type { B3Digest } from './digest.js';
import type { PathComponent } from './path-component.js';
import type { SymlinkTarget } from './symlink-target.js';

export type Node =
  /** `digest` names a Directory; `size` is its total number of descendants (tvix's inode hint). */
  | { readonly kind: 'directory'; readonly digest: B3Digest; readonly size: number }
  /** `digest` names the blob of contents; `size` is its length in bytes. */
  | { readonly kind: 'file'; readonly digest: B3Digest; readonly size: number; readonly executable: boolean }
  | { readonly kind: 'symlink'; readonly target: SymlinkTarget };

export interface DirectoryEntry {
  readonly name: PathComponent;
  readonly node: Node;
}

/**
 * Throws NB_ERR_INVALID_NODE unless every size is a whole number we can represent exactly.
 * Sizes are uint64 on the wire; above 2^53 a JS number would silently round, so those are refused.
 */
export function checkNode(node: Node): Node {
  if (node.kind !== 'symlink' && !(Number.isSafeInteger(node.size) && node.size >= 0)) {
    throw new NarBridgeError('NB_ERR_INVALID_NODE', `${node.kind} size must be a non-negative safe integer`);
  }
  return node;
}
