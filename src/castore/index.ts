// The content-addressed store: model, canonical wire encoding, and the Blob and Directory services.
export { B3Digest, Blake3Hasher, blake3, HashedBytes } from './digest.js';
export { PathComponent, MAX_NAME_LENGTH } from './path-component.js';
export { SymlinkTarget } from './symlink-target.js';
export type { DirectoryEntry, Node } from './node.js';
export { Directory, DirectoryBuilder } from './directory.js';
export {
  MAX_ROOT_NODE_BYTES,
  decodeDirectory,
  decodeRootNode,
  directoryFromProto,
  directoryToProto,
  encodeDirectory,
  encodeRootNode,
  nodeFromProto,
  nodeToProto,
} from './wire.js';
export * from './blob/index.js';
export * from './directory/index.js';
export * from './grpc/index.js';
export * from './service-url.js';
export type { CallOptions } from './call-options.js';
export type { Castore } from './castore.js';
export { requireStoredRoot } from './stored-root.js';
export { asWriter, SqliteFenceBoard, WriteFence, type Fence, type FenceBoard } from './write-fence.js';
export { PostgresWriteFence } from './postgres-fence.js';
export { isProcessAlive } from './process-alive.js';
export { sameNode } from './same-node.js';
export { migrate, openDatabase, readRow, readRows, readTuple, readTuples, writeTransaction, type Database, type Row } from './sqlite.js';
export {
  PostgresDatabase,
  POSTGRES_SCHEMES,
  bytesColumn,
  optionalBytesColumn,
  integerColumn,
  isTransientPostgresError,
  postgresPoolConfig,
  type PostgresSession,
  unlockAndRelease,
  type Queryable,
} from './postgres.js';
export { redactUrlPassword } from './service-url-error.js';
