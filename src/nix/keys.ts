// Nix's ed25519 public and secret keys (`nix key generate-secret` files), signing and verifying via node:crypto.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { NarBridgeError } from '../errors.js';
import { checkNamedBytes, formatNamedBytes, type NamedBytesKind, parseNamedBytes } from './named-bytes.js';
import { Signature } from './signature.js';

const KEY_LENGTH = 32;
const PUBLIC_KEY: NamedBytesKind = { what: 'public key', length: KEY_LENGTH, code: 'NB_ERR_CONFIG' };
/** A secret key file holds the 32-byte seed followed by the 32-byte public key. */
const SECRET_KEY: NamedBytesKind = { what: 'secret key', length: 2 * KEY_LENGTH, code: 'NB_ERR_CONFIG' };
const SEED: NamedBytesKind = { what: 'secret key seed', length: KEY_LENGTH, code: 'NB_ERR_CONFIG' };

// node:crypto has no raw ed25519 import, so raw keys are wrapped in fixed DER headers:
// PKCS#8 OneAsymmetricKey around the seed, SubjectPublicKeyInfo around the public key (RFC 8410 §7, §4).
const PKCS8_HEADER = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_HEADER = Buffer.from('302a300506032b6570032100', 'hex');

export class PublicKey {
  readonly #key: KeyObject;

  private constructor(
    readonly name: string,
    readonly bytes: Uint8Array,
  ) {
    this.#key = createPublicKey({ key: Buffer.concat([SPKI_HEADER, bytes]), format: 'der', type: 'spki' });
  }

  /** `name:base64(32 bytes)`, as printed by `nix key convert-secret-to-public`. */
  static parse(text: string): PublicKey {
    const { name, bytes } = parseNamedBytes(PUBLIC_KEY, text.trim());
    return new PublicKey(name, bytes);
  }

  static fromParts(name: string, bytes: Uint8Array): PublicKey {
    const checked = checkNamedBytes(PUBLIC_KEY, name, bytes);
    return new PublicKey(checked.name, checked.bytes);
  }

  /** False for a signature by another key name, like Nix, which looks keys up by name. */
  verify(fingerprint: string, sig: Signature): boolean {
    return sig.keyName === this.name && verify(null, Buffer.from(fingerprint), this.#key, sig.bytes);
  }

  toString(): string {
    return formatNamedBytes(this.name, this.bytes);
  }
}

export class SigningKey {
  // Private fields, so util.inspect and a stray log line never show the seed.
  readonly #seed: Uint8Array;
  readonly #key: KeyObject;
  readonly #publicKey: PublicKey;

  private constructor(
    readonly name: string,
    seed: Uint8Array,
  ) {
    this.#seed = seed;
    this.#key = createPrivateKey({ key: Buffer.concat([PKCS8_HEADER, seed]), format: 'der', type: 'pkcs8' });
    const spki = createPublicKey(this.#key).export({ format: 'der', type: 'spki' });
    this.#publicKey = PublicKey.fromParts(name, spki.subarray(SPKI_HEADER.length));
  }

  /** A Nix secret key file: `name:base64(seed ‖ public key)`; surrounding whitespace is ignored. */
  static parse(text: string): SigningKey {
    const { name, bytes } = parseNamedBytes(SECRET_KEY, text.trim());
    const key = new SigningKey(name, bytes.slice(0, KEY_LENGTH));
    // Nix signs with the seed alone, so a mismatched public half would make every signature
    // verify under a different key than the one this file claims.
    if (Buffer.compare(key.#publicKey.bytes, bytes.subarray(KEY_LENGTH)) !== 0) {
      throw new NarBridgeError('NB_ERR_CONFIG', 'secret key: public half does not match the seed');
    }
    return key;
  }

  /** Wraps a 32-byte ed25519 seed. */
  static fromSeed(name: string, seed: Uint8Array): SigningKey {
    const checked = checkNamedBytes(SEED, name, seed);
    return new SigningKey(checked.name, checked.bytes);
  }

  publicKey(): PublicKey {
    return this.#publicKey;
  }

  sign(fingerprint: string): Signature {
    return Signature.fromParts(this.name, sign(null, Buffer.from(fingerprint), this.#key));
  }

  /** The secret key file contents; treat the result as a secret. */
  toString(): string {
    return formatNamedBytes(this.name, Buffer.concat([this.#seed, this.#publicKey.bytes]));
  }
}

export function generateSigningKey(name: string): SigningKey {
  const pkcs8 = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' });
  return SigningKey.fromSeed(name, pkcs8.subarray(PKCS8_HEADER.length));
}
