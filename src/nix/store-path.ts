// StorePath: the 20-byte digest and name of a store path, in its basename and absolute spellings.
import { decodeNixBase32, encodeNixBase32, nixBase32Length } from './nixbase32.js';
import { invalidDigest, malformed, withErrorCode } from './parse-errors.js';
import { STORE_PATH_DIGEST_LENGTH, storePathDigest, type StorePathDigest } from './store-path-digest.js';

export const STORE_DIR = '/nix/store';

const HASH_PART_LENGTH = nixBase32Length(STORE_PATH_DIGEST_LENGTH);
/** Nix's own limit (libstore/path.cc checkName). */
const MAX_NAME_LENGTH = 211;
const NAME_CHARS = /[^A-Za-z0-9+\-._?=]/;

export function parseStorePathHashPart(hashPart: string): StorePathDigest {
  if (hashPart.length !== HASH_PART_LENGTH) {
    throw invalidDigest(`store path hash must be ${HASH_PART_LENGTH} characters`);
  }
  return storePathDigest(decodeNixBase32(hashPart));
}

export class StorePath {
  // Computed once: sorting and formatting ask for it repeatedly.
  readonly #hashPart: string;

  private constructor(
    readonly digest: StorePathDigest,
    readonly name: string,
  ) {
    this.#hashPart = encodeNixBase32(digest);
  }

  /** `<32 nix-base32 chars>-<name>`. */
  static parseBasename(basename: string): StorePath {
    if (basename.length < HASH_PART_LENGTH + 2 || basename.charAt(HASH_PART_LENGTH) !== '-') {
      throw malformed('store path must be "<32-character hash>-<name>"');
    }
    const digest = withErrorCode('NB_ERR_NARINFO_MALFORMED', 'store path hash', () => parseStorePathHashPart(basename.slice(0, HASH_PART_LENGTH)));
    return StorePath.fromParts(digest, basename.slice(HASH_PART_LENGTH + 1));
  }

  /** `<storeDir>/<basename>` and nothing after it. */
  static parseAbsolute(path: string, storeDir: string = STORE_DIR): StorePath {
    const prefix = `${storeDir}/`;
    if (!path.startsWith(prefix)) throw malformed(`store path is not in ${storeDir}`);
    return StorePath.parseBasename(path.slice(prefix.length));
  }

  static fromParts(digest: Uint8Array, name: string): StorePath {
    const copy = storePathDigest(new Uint8Array(digest)); // a copy, even of a Buffer
    const problem = storePathNameProblem(name);
    if (problem !== null) throw malformed(`invalid store path name: ${problem}`);
    return new StorePath(copy, name);
  }

  get hashPart(): string {
    return this.#hashPart;
  }

  get basename(): string {
    return `${this.#hashPart}-${this.name}`;
  }

  toAbsolute(storeDir: string = STORE_DIR): string {
    return `${storeDir}/${this.basename}`;
  }

  equals(other: StorePath): boolean {
    return this.name === other.name && Buffer.compare(this.digest, other.digest) === 0;
  }
}

/**
 * Sorted by basename, the order of Nix's StorePathSet (a std::set comparing basenames byte-wise).
 * Nix writes narinfo References and signs fingerprints in this order. Basenames are ASCII, so
 * JavaScript's code-unit comparison is the byte comparison.
 */
export function sortStorePaths(paths: readonly StorePath[]): StorePath[] {
  return paths.slice().sort((a, b) => (a.basename < b.basename ? -1 : a.basename > b.basename ? 1 : 0));
}

/** Why `name` cannot be the name part of a store path (Nix's checkName), or null if it can. */
export function storePathNameProblem(name: string): string | null {
  if (name.length === 0) return 'empty';
  if (name.length > MAX_NAME_LENGTH) return `longer than ${MAX_NAME_LENGTH} characters`;
  if (name.startsWith('.')) return 'starts with "."';
  const bad = NAME_CHARS.exec(name);
  if (bad !== null) return `illegal character ${JSON.stringify(bad[0])}`;
  return null;
}
