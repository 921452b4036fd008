// MemoryDirectoryService: Directories in a Map, for tests and throwaway servers.
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';
import { ValidatingPutter } from './putter.js';
import type { DirectoryPutter, DirectoryService } from './service.js';
import { traverseDirectories } from './traverse.js';

export class MemoryDirectoryService implements DirectoryService {
  readonly #directories = new Map<string, Directory>();

  async get(digest: B3Digest, opts?: CallOptions): Promise<Directory | null> {
    opts?.signal?.throwIfAborted();
    return this.#directories.get(digest.toHex()) ?? null;
  }

  getRecursive(root: B3Digest, opts?: CallOptions): AsyncIterable<Directory> {
    return traverseDirectories(root, (d, o) => this.get(d, o), opts);
  }

  putter(opts?: CallOptions): DirectoryPutter {
    return new ValidatingPutter(
      {
        storedSize: async (digest) => this.#directories.get(digest.toHex())?.size ?? null,
        write: async (batch) => {
          for (const { digest, directory } of batch) this.#directories.set(digest.toHex(), directory);
        },
      },
      opts,
    );
  }
}
