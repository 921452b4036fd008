// --cache-max-size: hot blobs of --blob-service-addr kept on local disk (near-cache/ in the data dir), bounded,
// least recently read evicted. The blob service stays the store: writes go straight to it, and anything evicted is
// fetched from it again, verified.
import { join } from 'node:path';
import { NearBlobCache, TieredBlobService, type NearCacheObserver, type TierObserver } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import type { StoreOverrides } from './service-overrides.js';

export interface NearCached {
  readonly services: StoreOverrides;
  close(): Promise<void>;
}

/** The cache's directory under the data dir. */
export function nearCacheDir(dataDir: string): string {
  return join(dataDir, 'near-cache');
}

/** `services` with their blobs behind a near cache of `maxBytes`, or unchanged with a null cap. */
export function withNearCache(dataDir: string, maxBytes: number | null, services: StoreOverrides, observer: TierObserver & NearCacheObserver): NearCached {
  if (maxBytes === null) return { services, close: async () => undefined };
  if (!services.blobs) {
    throw new NarBridgeError('NB_ERR_CONFIG', '--cache-max-size caches the blob service of --blob-service-addr; the embedded store is not a cache');
  }
  const cache = new NearBlobCache(nearCacheDir(dataDir), maxBytes, observer);
  return {
    services: { ...services, blobs: new TieredBlobService(cache, services.blobs, observer, { writes: 'far' }) },
    close: () => cache.close(),
  };
}
