// getRecursive for backends that can fetch one Directory at a time: root first, breadth-first, each once.
import { NarBridgeError } from '../../errors.js';
import type { CallOptions } from '../call-options.js';
import type { B3Digest } from '../digest.js';
import type { Directory } from '../directory.js';

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
    if (!directory) {
      const what = next.equals(root) ? 'root directory' : 'directory';
      throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `${what} ${next.toHex()} not found`);
    }
    yield directory;
    for (const { node } of directory.entries) {
      if (node.kind !== 'directory' || seen.has(node.digest.toHex())) continue;
      seen.add(node.digest.toHex());
      queue.push(node.digest);
    }
  }
}
