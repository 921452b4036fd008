// Public surface of src/nix: Nix's text and hash formats, store paths, keys and signatures.
export { encodeNixBase32, decodeNixBase32 } from './nixbase32.js';
export { type HashAlgo, NixHash } from './hash.js';
export { STORE_DIR, StorePath, parseStorePathHashPart, sortStorePaths } from './store-path.js';
export { storePathDigest, type StorePathDigest } from './store-path-digest.js';
export { Signature } from './signature.js';
export { PublicKey, SigningKey, generateSigningKey } from './keys.js';
export { fingerprintPath } from './fingerprint.js';
export {
  type ContentAddress,
  formatContentAddress,
  parseContentAddress,
} from './content-address.js';
export { contentAddressedPath } from './content-addressed-path.js';
export { type NarInfo, formatNarInfo, parseNarInfo } from './narinfo.js';
export { DrvOutputId, type Realisation, fingerprintRealisation, formatRealisation, makeRealisation, parseRealisation } from './realisation.js';
