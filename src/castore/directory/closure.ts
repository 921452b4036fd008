// The Directory closure of a root node, fetched with one recursive get and keyed by hex digest for lookups.
import type { CallOptions } from '../call-options.js';
import type { Directory } from '../directory.js';
import type { Node } from '../node.js';
import type { DirectoryService } from './service.js';

export async function loadDirectoryClosure(root: Node, directories: DirectoryService, opts: CallOptions = {}): Promise<Map<string, Directory>> {
  const closure = new Map<string, Directory>();
  if (root.kind === 'directory') {
    for await (const directory of directories.getRecursive(root.digest, opts)) {
      closure.set(directory.digest().toHex(), directory);
    }
  }
  return closure;
}
