// Pull-through from upstream Nix binary caches.
export { BinaryCacheClient, DEFAULT_UPSTREAM_TIMEOUTS, type UpstreamTimeouts } from './client.js';
export { checkUpstreamSignature, pullNar } from './pull.js';
export { DEFAULT_UPSTREAM_PRIORITY, parseUpstreamUrl, type UpstreamCache } from './url.js';
export {
  DEFAULT_UPSTREAM_MISS_TTL_MS,
  UpstreamPathInfoService,
  type UpstreamLog,
  type UpstreamObserver,
  type UpstreamOutcome,
  type UpstreamSettings,
} from './service.js';
