// Pull-through from upstream Nix binary caches.
export { BinaryCacheClient, DEFAULT_UPSTREAM_TIMEOUTS, type UpstreamTimeouts } from './binary-cache-client.js';
export { checkUpstreamSignature, pullNar } from './pull-path.js';
export { DEFAULT_UPSTREAM_PRIORITY, parseUpstreamUrl, type UpstreamCache } from './upstream-url.js';
export {
  DEFAULT_UPSTREAM_MISS_TTL_MS,
  UpstreamPathInfoService,
  type UpstreamLog,
  type UpstreamObserver,
  type UpstreamOutcome,
  type UpstreamSettings,
} from './upstream-path-info-service.js';
