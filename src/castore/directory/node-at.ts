// A node below a store path's root, found by walking the Directory graph one name at a time.
import type { Node } from '../node.js';
import { compareBytes, PathComponent } from '../path-component.js';
import type { DirectoryService } from './service.js';

/**
 * The node at `sub` (slash-separated names; empty parts are ignored) below `root`, or null when there is
 * none. Symlinks are not followed. A name that cannot exist (`..`, NUL, …) throws NB_ERR_INVALID_NAME.
 */
export async function nodeAt(directories: DirectoryService, root: Node, sub: string): Promise<Node | null> {
  let node = root;
  for (const part of sub.split('/').filter((p) => p !== '')) {
    if (node.kind !== 'directory') return null;
    const name = PathComponent.parse(Buffer.from(part, 'utf8'));
    const directory = await directories.get(node.digest);
    const entry = directory?.entries.find((e) => compareBytes(e.name.bytes, name.bytes) === 0);
    if (!entry) return null;
    node = entry.node;
  }
  return node;
}
