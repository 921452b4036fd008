// B3Digest, the 32-byte blake3 identifier of every blob and Directory, and the hashing that makes one.
import { Blake3Hasher as NativeBlake3Hasher, blake3 as nativeBlake3 } from '@napi-rs/blake-hash';
import { NarBridgeError } from '../errors.js';

/** blake3's default output length; every castore digest is exactly this long. */
export const B3_DIGEST_LENGTH = 32;

const HEX_DIGEST = /^[0-9a-f]{64}$/i;

export class B3Digest {
  #hex: string | undefined;

  private constructor(readonly bytes: Uint8Array) {}

  /** Copies `bytes`; throws NB_ERR_INVALID_DIGEST unless it is exactly 32 bytes. */
  static parse(bytes: Uint8Array): B3Digest {
    if (bytes.length !== B3_DIGEST_LENGTH) {
      throw new NarBridgeError('NB_ERR_INVALID_DIGEST', `blake3 digest must be ${B3_DIGEST_LENGTH} bytes, got ${bytes.length}`);
    }
    return new B3Digest(Uint8Array.from(bytes));
  }

  static fromHex(hex: string): B3Digest {
    if (!HEX_DIGEST.test(hex)) throw new NarBridgeError('NB_ERR_INVALID_DIGEST', 'blake3 digest must be 64 hex digits');
    return new B3Digest(Uint8Array.from(Buffer.from(hex, 'hex')));
  }

  /** Lowercase hex; also the key used by maps and on-disk paths. */
  toHex(): string {
    this.#hex ??= Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('hex');
    return this.#hex;
  }

  toString(): string {
    return this.toHex();
  }

  equals(other: B3Digest): boolean {
    return Buffer.compare(this.bytes, other.bytes) === 0;
  }
}

export function blake3(data: Uint8Array): B3Digest {
  return B3Digest.parse(nativeBlake3(asBuffer(data)));
}

/** Proves a HashedBytes was made by `HashedBytes.of`: the constructor refuses anything else, even at run time. */
const HASHING = Symbol('hashing');

/**
 * Bytes with their blake3 digest, made only by hashing them, so a store handed one may keep the bytes under that
 * digest without hashing them again. The holder must not change the bytes afterwards.
 */
export class HashedBytes {
  private constructor(
    proof: symbol,
    readonly bytes: Uint8Array,
    readonly digest: B3Digest,
  ) {
    if (proof !== HASHING) throw new NarBridgeError('NB_ERR_INVALID_DIGEST', 'HashedBytes are made only by hashing the bytes');
  }

  static of(bytes: Uint8Array): HashedBytes {
    return new HashedBytes(HASHING, bytes, blake3(bytes));
  }
}

/** The native binding is typed for Buffer; a view over the same memory costs no copy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Incremental blake3 over a stream of chunks (the native hasher copies nothing and keeps no chunk). */
export class Blake3Hasher {
  readonly #native = new NativeBlake3Hasher();

  update(chunk: Uint8Array): this {
    this.#native.update(asBuffer(chunk));
    return this;
  }

  digest(): B3Digest {
    return B3Digest.parse(this.#native.digestBuffer());
  }
}
