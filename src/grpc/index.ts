// The tvix gRPC adapter: servers for BlobService, DirectoryService and PathInfoService over a Store.
export { startGrpcServer, type GrpcListener, type GrpcServerOptions, type GrpcServerTls } from './server.js';
export type { GrpcLog } from './handlers.js';
export { READ_CHUNK_BYTES } from './blob-service.js';
