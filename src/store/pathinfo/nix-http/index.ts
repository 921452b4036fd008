// Pull-through from upstream Nix binary caches.
export { BinaryCacheClient } from './client.js';
export { parseUpstreamUrl, type UpstreamCache } from './url.js';
export {
  DEFAULT_UPSTREAM_MISS_TTL_MS,
  UpstreamPathInfoService,
  type UpstreamLog,
  type UpstreamObserver,
  type UpstreamOutcome,
  type UpstreamSettings,
} from './service.js';
