// Directory services: the interface and its backends.
export type { DirectoryPutter, DirectoryService } from './service.js';
export { MemoryDirectoryService } from './memory.js';
export { SqliteDirectoryService } from './sqlite.js';
export { GrpcDirectoryService } from './grpc.js';
export { DIRECTORY_SCHEMES, directoryServiceFromUrl } from './from-url.js';
export { traverseDirectories } from './traverse.js';
export { PUTTER_BATCH_BYTES, ValidatingPutter, type PendingDirectory, type PutterBackend } from './putter.js';
export { TieredDirectoryService } from './tiered.js';
