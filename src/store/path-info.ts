// PathInfo: what a store path is, in castore terms — its root node plus the Nix metadata a narinfo carries.
import type { Node } from '../castore/index.js';
import type { ContentAddress, NixHash, Signature, StorePath } from '../nix/index.js';

export interface PathInfo {
  readonly storePath: StorePath;
  /** The store path's contents; its name is the store path basename on the gRPC wire, empty here. */
  readonly node: Node;
  readonly references: readonly StorePath[];
  /** sha256 of the NAR serialisation of `node`. */
  readonly narHash: NixHash;
  readonly narSize: number;
  readonly signatures: readonly Signature[];
  readonly deriver?: StorePath;
  readonly ca?: ContentAddress;
}
