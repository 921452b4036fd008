// Small blobs as one buffer each: what a readMany answers for a blob it does not read together with its neighbours.
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { BlobService } from './service.js';

/** The bytes of `source` in one buffer (the piece itself when there is only one). */
export async function collectBytes(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for await (const piece of source) pieces.push(piece);
  return pieces.length === 1 && pieces[0] ? pieces[0] : Buffer.concat(pieces);
}

/** The whole blob, or null when `blobs` does not have it. */
export async function readWhole(blobs: Pick<BlobService, 'openRead'>, digest: B3Digest, opts?: CallOptions): Promise<Uint8Array | null> {
  const contents = await blobs.openRead(digest, opts);
  return contents && collectBytes(contents);
}
