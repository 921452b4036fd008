// NixHash: a digest tagged with its algorithm, parsed from every spelling Nix accepts and written as Nix writes it.
import { decodeBase64, encodeBase64 } from './base64.js';
import { decodeNixBase32, encodeNixBase32, nixBase32Length } from './nixbase32.js';
import { invalidDigest } from './parse-errors.js';

const HASH_ALGOS = ['md5', 'sha1', 'sha256', 'sha512'] as const;
export type HashAlgo = (typeof HASH_ALGOS)[number];

/** Digest length in bytes. */
const DIGEST_LENGTH: Readonly<Record<HashAlgo, number>> = { md5: 16, sha1: 20, sha256: 32, sha512: 64 };

function parseHashAlgo(text: string): HashAlgo {
  const algo = HASH_ALGOS.find((known) => known === text);
  if (algo === undefined) throw invalidDigest(`unknown hash algorithm (expected one of ${HASH_ALGOS.join(', ')})`);
  return algo;
}

export class NixHash {
  private constructor(
    readonly algo: HashAlgo,
    readonly digest: Uint8Array,
  ) {}

  /**
   * Accepts `algo:<digest>` with the digest in nix-base32, base16 or base64, and SRI `algo-<base64>`.
   * As in Nix (libutil/hash.cc), the length alone picks the encoding: for each algorithm the three
   * lengths differ, so no string is ambiguous.
   */
  static parse(text: string): NixHash {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      const algo = parseHashAlgo(text.slice(0, colon));
      return NixHash.fromDigest(algo, decodeDigest(algo, text.slice(colon + 1)));
    }
    const dash = text.indexOf('-');
    if (dash >= 0) {
      const algo = parseHashAlgo(text.slice(0, dash));
      const digest = decodeBase64(text.slice(dash + 1));
      if (digest === null) throw invalidDigest(`SRI ${algo} hash is not valid base64`);
      return NixHash.fromDigest(algo, digest);
    }
    throw invalidDigest('hash must be "<algo>:<digest>" or SRI "<algo>-<base64>"');
  }

  static fromDigest(algo: HashAlgo, digest: Uint8Array): NixHash {
    if (digest.length !== DIGEST_LENGTH[algo]) {
      throw invalidDigest(`${algo} digest must be ${DIGEST_LENGTH[algo]} bytes, got ${digest.length}`);
    }
    // new Uint8Array copies: Buffer.prototype.slice would share the caller's memory.
    return new NixHash(algo, new Uint8Array(digest));
  }

  /** `algo:<nix-base32>`, the form Nix writes in narinfo files and signs in fingerprints. */
  toString(): string {
    return `${this.algo}:${encodeNixBase32(this.digest)}`;
  }

  toSri(): string {
    return `${this.algo}-${encodeBase64(this.digest)}`;
  }

  toHex(): string {
    return Buffer.from(this.digest).toString('hex');
  }

  equals(other: NixHash): boolean {
    return this.algo === other.algo && Buffer.compare(this.digest, other.digest) === 0;
  }
}

const HEX = /^[0-9a-fA-F]*$/;

function decodeDigest(algo: HashAlgo, encoded: string): Uint8Array {
  const length = DIGEST_LENGTH[algo];
  if (encoded.length === length * 2) {
    if (!HEX.test(encoded)) throw invalidDigest(`${algo} hash is not valid base16`);
    return new Uint8Array(Buffer.from(encoded, 'hex'));
  }
  if (encoded.length === nixBase32Length(length)) return decodeNixBase32(encoded);
  if (encoded.length === 4 * Math.ceil(length / 3)) {
    const digest = decodeBase64(encoded);
    if (digest === null) throw invalidDigest(`${algo} hash is not valid base64`);
    return digest;
  }
  throw invalidDigest(`${algo} hash has the wrong length (${encoded.length} characters)`);
}
