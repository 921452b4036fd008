// Pulling one store path from an upstream cache into our store: the narinfo's signature is checked before
// anything is downloaded, the NAR is ingested while it streams, and the PathInfo is written only once the
// NarHash and NarSize we computed match the signed ones.
import type { CallOptions } from '../../../castore/index.js';
import { NarBridgeError } from '../../../errors.js';
import { fingerprintPath, type NarInfo } from '../../../nix/index.js';
import type { Castore } from '../../../castore/index.js';
import { decompress } from '../../compression/decompress.js';
import { ingestNar } from '../../nar/ingest.js';
import type { PathInfo } from '../../path-info.js';
import type { BinaryCacheClient } from './client.js';

/** Throws NB_ERR_FORBIDDEN unless the narinfo is signed by one of the cache's trusted keys. */
export function checkUpstreamSignature(narInfo: NarInfo, client: BinaryCacheClient): void {
  const fingerprint = fingerprintPath(narInfo.storePath, narInfo.narHash, narInfo.narSize, narInfo.references);
  const keys = client.cache.trustedKeys;
  if (narInfo.sigs.some((sig) => keys.some((key) => key.verify(fingerprint, sig)))) return;
  const names = keys.map((key) => key.name).join(', ');
  throw new NarBridgeError('NB_ERR_FORBIDDEN', `${narInfo.storePath.basename} from ${client.cache.baseUrl} is not signed by a trusted key (${names})`);
}

export interface PullOptions extends CallOptions {
  /** Called with the size of each piece of the (compressed) NAR file as it arrives. */
  readonly onBytes?: (bytes: number) => void;
}

/** Downloads and ingests the NAR a verified narinfo names; returns the PathInfo to store. */
export async function pullNar(narInfo: NarInfo, client: BinaryCacheClient, castore: Castore, opts: PullOptions = {}): Promise<PathInfo> {
  const { onBytes, ...call } = opts;
  const file = client.narFile(narInfo, call);
  const counted = onBytes ? countBytes(file, onBytes) : file;
  const { node, narHash, narSize } = await ingestNar(decompress(counted, { brotli: narInfo.compression === 'br' }), castore, call);
  if (!narHash.equals(narInfo.narHash) || narSize !== narInfo.narSize) {
    throw new NarBridgeError(
      'NB_ERR_HASH_MISMATCH',
      `${narInfo.storePath.basename} from ${client.cache.baseUrl}: the NAR does not match its signed NarHash/NarSize`,
    );
  }
  return {
    storePath: narInfo.storePath,
    node,
    references: narInfo.references,
    narHash,
    narSize,
    signatures: narInfo.sigs,
    ...(narInfo.deriver ? { deriver: narInfo.deriver } : {}),
    ...(narInfo.ca ? { ca: narInfo.ca } : {}),
  };
}

async function* countBytes(source: AsyncIterable<Uint8Array>, onBytes: (bytes: number) => void): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const piece of source) {
    onBytes(piece.byteLength);
    yield piece;
  }
}
