// The store path Nix computes for a content-addressed path (libstore/store-api.cc makeStorePath,
// makeTextPath, makeFixedOutputPath), so a CA claim can be checked without trusting a signature.
import { createHash } from 'node:crypto';
import type { ContentAddress } from './content-address.js';
import type { NixHash } from './hash.js';
import { STORE_DIR, StorePath, sortStorePaths } from './store-path.js';
import { STORE_PATH_DIGEST_LENGTH } from './store-path-digest.js';

/**
 * The path `ca` gives a store object named `name` with these references (`self` among them marks a
 * self-reference), or null when Nix could not have made such a path: text paths cannot refer to
 * themselves, and only `fixed:r:sha256` paths may have references at all.
 */
export function contentAddressedPath(
  name: string,
  ca: ContentAddress,
  references: readonly StorePath[],
  self: StorePath,
  storeDir: string = STORE_DIR,
): StorePath | null {
  const others = references.filter((ref) => !ref.equals(self));
  const selfReference = others.length !== references.length;
  if (ca.method === 'text') {
    if (selfReference) return null;
    return makeStorePath(typeWithReferences('text', others, false, storeDir), ca.hash, name, storeDir);
  }
  if (ca.method === 'nar' && ca.hash.algo === 'sha256') {
    return makeStorePath(typeWithReferences('source', others, selfReference, storeDir), ca.hash, name, storeDir);
  }
  if (references.length > 0) return null;
  const inner = `fixed:out:${ca.method === 'nar' ? 'r:' : ''}${ca.hash.algo}:${ca.hash.toHex()}:`;
  const innerHash = createHash('sha256').update(inner).digest('hex');
  return makeStorePathFromHex('output:out', `sha256:${innerHash}`, name, storeDir);
}

function typeWithReferences(type: string, references: readonly StorePath[], selfReference: boolean, storeDir: string): string {
  const refs = sortStorePaths(references).map((ref) => `:${ref.toAbsolute(storeDir)}`);
  return `${type}${refs.join('')}${selfReference ? ':self' : ''}`;
}

function makeStorePath(type: string, hash: NixHash, name: string, storeDir: string): StorePath {
  return makeStorePathFromHex(type, `${hash.algo}:${hash.toHex()}`, name, storeDir);
}

function makeStorePathFromHex(type: string, base16Hash: string, name: string, storeDir: string): StorePath {
  const full = createHash('sha256').update(`${type}:${base16Hash}:${storeDir}:${name}`).digest();
  // sha256 folded to 20 bytes by XOR (libutil/hash.cc compressHash).
  const folded = new Uint8Array(STORE_PATH_DIGEST_LENGTH);
  full.forEach((byte, i) => {
    const at = i % STORE_PATH_DIGEST_LENGTH;
    folded[at] = (folded[at] ?? 0) ^ byte;
  });
  return StorePath.fromParts(folded, name);
}
