// What a backend keeps when a PathInfo is put over one it holds. Several processes (serve --workers) merge and sign
// by read-modify-write; the backend applies this inside its write, so a put built from an older read cannot drop a
// signature another process added meanwhile.
import type { PathInfo } from '../path-info.js';
import { sameNode } from '../../castore/index.js';

/**
 * `info`, plus the held signatures of keys `info` has none from, when both describe the same contents; a key's own
 * fresh signature replaces what was stored under its name. Other contents replace the held PathInfo whole.
 */
export function overwriting(held: PathInfo | null, info: PathInfo): PathInfo {
  if (!held || !sameContents(held, info)) return info;
  const names = new Set(info.signatures.map((sig) => sig.keyName));
  const kept = held.signatures.filter((sig) => !names.has(sig.keyName));
  return kept.length === 0 ? info : { ...info, signatures: [...info.signatures, ...kept] };
}

export function sameContents(held: PathInfo, info: PathInfo): boolean {
  return held.narHash.equals(info.narHash) && held.narSize === info.narSize && sameNode(held.node, info.node);
}
