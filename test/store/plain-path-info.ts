// A PathInfo as plain values, so two of them compare with toEqual field by field.
import type { PathInfo } from '../../src/store/index.js';

export const plainPathInfo = (info: PathInfo | null) =>
  info && {
    storePath: info.storePath.basename,
    node: info.node.kind === 'symlink' ? info.node.target.toString() : { ...info.node, digest: info.node.digest.toHex() },
    references: info.references.map(String),
    narHash: info.narHash.toString(),
    narSize: info.narSize,
    signatures: info.signatures.map(String),
    deriver: info.deriver?.basename,
    ca: info.ca && `${info.ca.method}:${info.ca.hash.toString()}`,
  };
