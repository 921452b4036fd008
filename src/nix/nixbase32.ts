// Nix's base32: its own alphabet (no e, o, u, t) and its own bit order, used in store paths and narinfo hashes.
import { invalidDigest } from './parse-errors.js';

const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

/** Characters needed for `byteLength` bytes: ceil(bits / 5), as Nix computes it. */
export function nixBase32Length(byteLength: number): number {
  return Math.ceil((byteLength * 8) / 5);
}

// Nix writes the last 5-bit group first, and group n starts at bit 5n counted from the
// least significant bit of byte 0 (libutil/hash.cc printHash32). Both directions walk the same groups.
export function encodeNixBase32(bytes: Uint8Array): string {
  let out = '';
  for (let n = nixBase32Length(bytes.length) - 1; n >= 0; n--) {
    const bit = n * 5;
    const i = Math.floor(bit / 8);
    const shift = bit % 8;
    const group = ((bytes[i] ?? 0) >> shift) | ((bytes[i + 1] ?? 0) << (8 - shift));
    out += ALPHABET[group & 0x1f];
  }
  return out;
}

export function decodeNixBase32(text: string): Uint8Array {
  const byteLength = Math.floor((text.length * 5) / 8);
  // Lengths no byte count encodes to (1, 3, 6, …) would silently drop characters.
  if (nixBase32Length(byteLength) !== text.length) {
    throw invalidDigest(`invalid nix-base32 length ${text.length}`);
  }
  const bytes = new Uint8Array(byteLength);
  for (let n = 0; n < text.length; n++) {
    const char = text.charAt(text.length - 1 - n);
    const digit = ALPHABET.indexOf(char);
    if (digit < 0) {
      throw invalidDigest(`invalid nix-base32 character ${JSON.stringify(char)}`);
    }
    const bit = n * 5;
    const i = Math.floor(bit / 8);
    const shift = bit % 8;
    bytes[i] = (bytes[i] ?? 0) | ((digit << shift) & 0xff);
    const carry = digit >> (8 - shift);
    if (i + 1 < byteLength) {
      bytes[i + 1] = (bytes[i + 1] ?? 0) | carry;
    } else if (carry !== 0) {
      // Bits past the last byte must be zero, so every digest has exactly one spelling.
      throw invalidDigest('nix-base32 string has non-zero padding bits');
    }
  }
  return bytes;
}
