// Directory services: the interface and its backends.
export type { DirectoryPutter, DirectoryService } from './service.js';
export { MemoryDirectoryService } from './memory.js';
export { SqliteDirectoryService } from './sqlite.js';
export { PostgresDirectoryService } from './postgres.js';
export { GrpcDirectoryService } from './grpc.js';
export { directoryServiceFromUrl } from './from-url.js';
export { traverseDirectories } from './traverse.js';
export { PUTTER_BATCH_BYTES, ValidatingPutter, type PendingDirectory, type PutterBackend } from './putter.js';
export { TieredDirectoryService } from './tiered.js';
export { loadDirectoryClosure } from './closure.js';
export { nodeAt } from './node-at.js';
export { decodeStoredDirectory } from './stored.js';
