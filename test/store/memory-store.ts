// A whole Store held in memory, for tests that need one behind a server or a client.
import { MemoryBlobService, MemoryDirectoryService } from '../../src/castore/index.js';
import { composeStore, MemoryNarUploadIndex, MemoryPathInfoService, type GuardedStore, type Store, type StoreComposition } from '../../src/store/index.js';

export function memoryStore(): Store {
  return {
    blobs: new MemoryBlobService(),
    directories: new MemoryDirectoryService(),
    pathInfos: new MemoryPathInfoService(),
    narUploads: new MemoryNarUploadIndex(),
  };
}

/** A memory store composed as `serve` composes its store for the HTTP and gRPC doors. */
export function servedMemoryStore(composition: StoreComposition = {}): GuardedStore {
  return composeStore(memoryStore(), composition);
}
