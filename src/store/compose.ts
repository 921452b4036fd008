// composeStore: the one place a served store is assembled from its opened backends (tiers included), so the HTTP
// and gRPC doors are handed the same object and every write meets the same checks. Outermost first:
//   GuardedPathInfoService   verify, upload policy, immutability (every write)
//   CachingPathInfoService   the hot narinfo lookups
//   UpstreamPathInfoService  pull a miss from --upstream caches (verified against their signed narinfo)
//   SigningPathInfoService   our signatures, on put and, once verified, on read
//   the backends             embedded, --*-service-addr, tiers
import type { SigningKey } from '../nix/index.js';
import { CachingPathInfoService, type PathInfoCachePeers } from './pathinfo/caching.js';
import { GuardedPathInfoService, type GuardedStore } from './pathinfo/guarded.js';
import { NarCalculator } from './nar/calculator.js';
import type { PathInfoService } from './pathinfo/service.js';
import { SigningPathInfoService, type SigningLog } from './pathinfo/signing.js';
import type { Store } from './store.js';
import { OPEN_UPLOAD_POLICY, type UploadPolicy } from './pathinfo/policy.js';
import type { BinaryCacheClient } from './pathinfo/nix-http/client.js';
import { UpstreamPathInfoService, type UpstreamSettings } from './pathinfo/nix-http/service.js';

export interface StoreComposition {
  /** Sign what is stored with these; none: serve the uploaders' signatures only. */
  readonly signingKeys?: readonly SigningKey[];
  /** Which new paths may be stored; default: any whose NAR checks out. */
  readonly uploadPolicy?: UploadPolicy;
  readonly upstreams?: readonly BinaryCacheClient[];
  readonly upstreamSettings?: UpstreamSettings;
  readonly log?: SigningLog;
  /** Other processes serving the same store (serve --workers), whose narinfo caches must hear of our puts. */
  readonly cachePeers?: PathInfoCachePeers;
}

export function composeStore(backends: Store, composition: StoreComposition = {}): GuardedStore {
  const { signingKeys = [], uploadPolicy = OPEN_UPLOAD_POLICY, upstreams = [], upstreamSettings, log, cachePeers } = composition;
  // One calculator: a NAR verified for a put is not rendered again to be signed on read.
  const calculator = new NarCalculator(backends);
  let pathInfos: PathInfoService = backends.pathInfos;
  if (signingKeys.length > 0) pathInfos = new SigningPathInfoService(pathInfos, signingKeys, calculator, log);
  if (upstreams.length > 0) pathInfos = new UpstreamPathInfoService(pathInfos, backends, upstreams, upstreamSettings);
  // narinfo lookups are the hottest request a cache gets; see CachingPathInfoService for what it may serve stale.
  const cache = new CachingPathInfoService(pathInfos, cachePeers ? { peers: cachePeers } : {});
  return {
    ...backends,
    pathInfos: new GuardedPathInfoService(cache, backends, calculator, uploadPolicy),
    // A path deleted here must not be served from this process's cache, nor from any other worker's.
    forgetPaths: (digests) => {
      for (const digest of digests) {
        cache.forget(digest);
        void cachePeers?.changed(digest);
      }
    },
  };
}
