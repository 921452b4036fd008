// Blob services: the interface and its backends.
export type { BlobService, BlobWriter, ChunkMeta, ReadOptions, WriteOptions } from './service.js';
export { MemoryBlobService } from './memory.js';
export { LocalBlobService } from './local.js';
export { ChunkedBlobService } from './chunked.js';
export { LocalChunkIndex, MemoryChunkIndex } from './chunk-index.js';
export { chunkingParams, chunkLength, DEFAULT_AVG_CHUNK_BYTES } from './fastcdc.js';
export { GrpcBlobService } from './grpc.js';
export { BLOB_SCHEMES, blobServiceFromUrl } from './from-url.js';
export * from './pack/index.js';
export { sliceBytes } from './slice-bytes.js';
export { storeHashed } from './store-hashed.js';
export * from './s3/index.js';
export { TieredBlobService, type Tier, type TierObserver, type TierOptions } from './tiered.js';
export { NEAR_CACHE_MIN_BYTES, NearBlobCache, type NearCacheObserver } from './near-cache.js';
export { ReadBufferPool, releaseReadBuffer, streamReadBuffers, type ReadLease } from './read-buffers.js';
