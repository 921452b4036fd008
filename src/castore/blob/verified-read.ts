// Reading a blob whose bytes we do not take on trust (a chunk file, a far tier): checked against its digest.
import type { NarBridgeError } from '../../errors.js';
import { Blake3Hasher, type B3Digest } from '../digest.js';

/**
 * `source`, checked against `digest` (and `expectedSize`, when known). blake3 can only be checked at the end, so
 * the last piece is held back until it is: a consumer never sees the stream end cleanly on bad bytes.
 */
export async function* verifiedRead(
  source: AsyncIterable<Uint8Array>,
  digest: B3Digest,
  expectedSize: number | null,
  mismatch: (what: string) => NarBridgeError,
): AsyncGenerator<Uint8Array, void, undefined> {
  const hasher = new Blake3Hasher();
  let size = 0;
  let held: Uint8Array | undefined;
  for await (const piece of source) {
    if (piece.byteLength === 0) continue;
    hasher.update(piece);
    size += piece.byteLength;
    if (expectedSize !== null && size > expectedSize) throw mismatch('more bytes than its size');
    if (held) yield held;
    held = piece;
  }
  if (expectedSize !== null && size !== expectedSize) throw mismatch('fewer bytes than its size');
  if (!hasher.digest().equals(digest)) throw mismatch('bytes that do not hash to its digest');
  if (held) yield held;
}
