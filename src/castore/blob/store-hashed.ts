// Storing bytes already hashed: a backend that takes the digest along (putHashed) does not hash them again.
import { NarBridgeError } from '../../errors.js';
import type { HashedBytes } from '../digest.js';
import type { BlobService, WriteOptions } from './service.js';

/** Stores `blob` in `blobs` (nothing when it is there already); through a writer when `blobs` has no putHashed. */
export async function storeHashed(blobs: BlobService, blob: HashedBytes, opts?: WriteOptions): Promise<void> {
  const { bytes, digest } = blob;
  if (blobs.putHashed) return blobs.putHashed(blob, opts);
  if (await blobs.has(digest, opts)) return;
  const writer = blobs.openWrite(opts);
  await writer.write(bytes);
  const stored = await writer.close();
  if (!stored.equals(digest)) throw new NarBridgeError('NB_ERR_STORAGE', `blob service stored ${stored.toHex()} for ${digest.toHex()}`);
}
