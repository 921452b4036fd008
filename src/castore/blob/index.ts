// Blob services: the interface and its backends.
export type { BlobService, BlobWriter, CallOptions, ChunkMeta, ReadOptions } from './service.js';
export { MemoryBlobService } from './memory.js';
export { LocalBlobService } from './local.js';
export { GrpcBlobService } from './grpc.js';
export { BLOB_SCHEMES, blobServiceFromUrl } from './from-url.js';
