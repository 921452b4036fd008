// StorePathDigest: the 20 bytes that name a store path, typed apart from other bytes so a blob digest, file hash or
// NarHash can't be passed where a store path's is meant; only storePathDigest() makes one, after checking the length.
import { invalidDigest } from './parse-errors.js';

/** Store path digests are sha256 compressed to 160 bits (libstore/store-api.cc). */
export const STORE_PATH_DIGEST_LENGTH = 20;

declare const STORE_PATH_DIGEST: unique symbol;
export type StorePathDigest = Uint8Array & { readonly [STORE_PATH_DIGEST]: true };

/** `bytes` as a StorePathDigest (not a copy); throws NB_ERR_INVALID_DIGEST unless it is 20 bytes long. */
export function storePathDigest(bytes: Uint8Array): StorePathDigest {
  if (bytes.length !== STORE_PATH_DIGEST_LENGTH) {
    throw invalidDigest(`store path digest must be ${STORE_PATH_DIGEST_LENGTH} bytes, got ${bytes.length}`);
  }
  return bytes as StorePathDigest;
}
