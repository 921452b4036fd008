// getRecursive for backends that fetch Directories by digest: root first, breadth-first, each once.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';

function missing(digest: B3Digest, root: B3Digest): NarBridgeError {
  const what = digest.equals(root) ? 'root directory' : 'directory';
  return new NarBridgeError('NB_ERR_MISSING_OBJECT', `${what} ${digest.toHex()} not found`);
}

/** Queues the children of `directory` not seen yet. */
function enqueueChildren(directory: Directory, seen: Set<string>, queue: B3Digest[]): void {
  for (const { node } of directory.entries) {
    if (node.kind !== 'directory' || seen.has(node.digest.toHex())) continue;
    seen.add(node.digest.toHex());
    queue.push(node.digest);
  }
}

/** One `get` per Directory, each only when the consumer asks for it. */
export async function* traverseDirectories(
  root: B3Digest,
  get: (digest: B3Digest, opts?: CallOptions) => Promise<Directory | null>,
  opts?: CallOptions,
): AsyncGenerator<Directory> {
  const seen = new Set<string>([root.toHex()]);
  const queue: B3Digest[] = [root];
  for (let i = 0, next = queue[0]; next; next = queue[++i]) {
    opts?.signal?.throwIfAborted();
    const directory = await get(next, opts);
    if (!directory) throw missing(next, root);
    yield directory;
    enqueueChildren(directory, seen, queue);
  }
}

/**
 * The same walk and order with one `getMany` per `batchSize` Directories of a level (a breadth-first queue is its
 * levels in turn), for backends where a round trip costs more than the rows it returns. `getMany` answers each
 * digest it was given, in order, null for one it lacks.
 */
export async function* traverseDirectoryLevels(
  root: B3Digest,
  getMany: (digests: readonly B3Digest[], opts?: CallOptions) => Promise<ReadonlyArray<Directory | null>>,
  batchSize: number,
  opts?: CallOptions,
): AsyncGenerator<Directory> {
  const seen = new Set<string>([root.toHex()]);
  for (let level: B3Digest[] = [root]; level.length > 0; ) {
    const next: B3Digest[] = [];
    for (let start = 0; start < level.length; start += batchSize) {
      opts?.signal?.throwIfAborted();
      const digests = level.slice(start, start + batchSize);
      const directories = await getMany(digests, opts);
      for (const [i, digest] of digests.entries()) {
        const directory = directories[i];
        if (!directory) throw missing(digest, root);
        yield directory;
        enqueueChildren(directory, seen, next);
      }
    }
    level = next;
  }
}
