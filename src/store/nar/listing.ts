// The NAR listing Nix writes beside a NAR (`<hash>.ls`, `?write-nar-listing=true`), computed from the castore
// graph alone: narOffset comes from the layout walk (layout.ts), so no byte of the NAR is rendered.
import type { CallOptions, DirectoryService, Node } from '../../castore/index.js';
import { loadDirectoryClosure } from '../../castore/index.js';
import { narLayout } from './layout.js';

const utf8 = new TextDecoder('utf-8');

/**
 * JSON text in Nix 2.8's shape (nar-accessor.cc `listNar`): `{"version":1,"root":{…}}`, `narOffset` for
 * regular files, `executable` only when true, entries in NAR (bytewise) order. Written as text rather than
 * through objects so an entry named `__proto__` or `1` keeps its place and value, and as a flat list of parts
 * joined once, so each node costs the same however deep it is. Names that are not UTF-8 come out with U+FFFD,
 * where Nix would write the raw bytes.
 */
export async function narListing(root: Node, directories: DirectoryService, opts: CallOptions = {}): Promise<string> {
  const closure = await loadDirectoryClosure(root, directories, opts);
  const parts = ['{"version":1,"root":'];
  /** Per open directory: whether an entry was written yet (the next one needs a comma). */
  const written: boolean[] = [];
  for (const placed of narLayout(root, closure)) {
    if (placed.kind === 'end') {
      parts.push('}}');
      written.pop();
      continue;
    }
    if (placed.name) {
      parts.push(`${written[written.length - 1] ? ',' : ''}${JSON.stringify(utf8.decode(placed.name))}:`);
      written[written.length - 1] = true;
    }
    if (placed.kind === 'directory') {
      parts.push('{"type":"directory","entries":{');
      written.push(false);
    } else if (placed.kind === 'symlink') {
      parts.push(`{"type":"symlink","target":${JSON.stringify(utf8.decode(placed.node.target.bytes))}}`);
    } else {
      const executable = placed.node.executable ? ',"executable":true' : '';
      parts.push(`{"type":"regular","size":${placed.node.size}${executable},"narOffset":${placed.contentsOffset}}`);
    }
  }
  parts.push('}');
  return parts.join('');
}
