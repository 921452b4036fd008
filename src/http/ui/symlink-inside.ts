// Which symlinks in a store path's tree the browser view can link: those landing inside the same store path.
import type { StorePath } from '../../nix/index.js';

/**
 * Where a symlink at `at` (a path inside `storePath`) pointing to `target` lands inside that same store path
 * ('' for its root), or null when it leaves it. Relative targets resolve from the link's directory; absolute ones
 * count only when they name this store path.
 */
export function symlinkInside(storePath: StorePath, at: string, target: string): string | null {
  const root = storePath.toAbsolute();
  let parts: string[];
  if (target.startsWith('/')) {
    if (target !== root && !target.startsWith(`${root}/`)) return null;
    parts = target.slice(root.length).split('/');
  } else {
    const dir = at.split('/').filter((p) => p !== '');
    if (dir.length === 0) return null; // the store path itself is the link: relative to the store directory
    parts = [...dir.slice(0, -1), ...target.split('/')];
  }
  const resolved: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part !== '..') resolved.push(part);
    else if (resolved.pop() === undefined) return null;
  }
  return resolved.join('/');
}
