// The text Nix signs for a store path (libstore/path-info.cc, fingerprint). Deriver, CA, URL,
// Compression and File* are not in it, so a server may rewrite them without re-signing.
import { invalidDigest } from './parse-errors.js';
import type { NixHash } from './hash.js';
import { STORE_DIR, type StorePath, sortStorePaths } from './store-path.js';

/** `1;<path>;sha256:<nix-base32>;<narSize>;<sorted, comma-joined reference paths>` (trailing ';' kept). */
export function fingerprintPath(
  storePath: StorePath,
  narHash: NixHash,
  narSize: number,
  references: readonly StorePath[],
  storeDir: string = STORE_DIR,
): string {
  // Nix refuses to fingerprint other algorithms, so no Nix could check such a signature.
  if (narHash.algo !== 'sha256') {
    throw invalidDigest(`only a sha256 NarHash can be signed, got ${narHash.algo}`);
  }
  const refs = sortStorePaths(references).map((ref) => ref.toAbsolute(storeDir));
  return `1;${storePath.toAbsolute(storeDir)};${narHash.toString()};${narSize};${refs.join(',')}`;
}
