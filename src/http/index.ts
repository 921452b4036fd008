export { buildServer, type ServerOptions } from './server.js';
export { HttpMetrics, type StoreStats } from './metrics.js';
