// A whole Store held in memory, for tests that need one behind a server or a client.
import { MemoryBlobService, MemoryDirectoryService } from '../../src/castore/index.js';
import { MemoryNarUploadIndex, MemoryPathInfoService, type Store } from '../../src/store/index.js';

export function memoryStore(): Store {
  return {
    blobs: new MemoryBlobService(),
    directories: new MemoryDirectoryService(),
    pathInfos: new MemoryPathInfoService(),
    narUploads: new MemoryNarUploadIndex(),
  };
}
