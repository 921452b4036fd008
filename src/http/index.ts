export { buildServer, type ServerOptions } from './server.js';
export { GcMetrics, HttpMetrics, type StoreStats } from './metrics.js';
export type { AccessControl } from './auth.js';
export { AccessTokens, type Scope } from './tokens.js';
export { DEFAULT_HTTP_LIMITS, DEFAULT_MAX_CONCURRENT_UPLOADS, DEFAULT_MAX_NARINFO_BYTES, DEFAULT_UPLOAD_IDLE_TIMEOUT_MS, type HttpLimits } from './limits.js';
export { formatBytes } from './format-bytes.js';
export type { LandingFacts } from './ui/landing.js';
export type { CollectGarbage } from './routes/admin-gc.js';
