// The NAR listing Nix writes beside a NAR (`<hash>.ls`, `?write-nar-listing=true`), computed from the castore
// graph alone: narOffset is framing arithmetic (nar-size.ts), so no byte of the NAR is rendered.
import type { CallOptions, Directory, DirectoryService, Node } from '../../castore/index.js';
import { loadDirectoryClosure } from '../../castore/index.js';
import { DIRECTORY_HEAD, MAGIC, entryNodeOffset, entrySize, fileContentsOffset, lookup, nodeSize } from './layout.js';

const utf8 = new TextDecoder('utf-8');

/**
 * JSON text in Nix 2.8's shape (nar-accessor.cc `listNar`): `{"version":1,"root":{…}}`, `narOffset` for
 * regular files, `executable` only when true, entries in NAR (bytewise) order. Written as text rather than
 * through objects so an entry named `__proto__` or `1` keeps its place and value. Names that are not UTF-8
 * come out with U+FFFD, where Nix would write the raw bytes.
 */
export async function narListing(root: Node, directories: DirectoryService, opts: CallOptions = {}): Promise<string> {
  const closure = await loadDirectoryClosure(root, directories, opts);
  return `{"version":1,"root":${listNode(root, MAGIC, closure)}}`;
}

/** `offset` is where `node` starts in the NAR. */
function listNode(node: Node, offset: number, closure: ReadonlyMap<string, Directory>): string {
  switch (node.kind) {
    case 'file': {
      const executable = node.executable ? ',"executable":true' : '';
      return `{"type":"regular","size":${node.size}${executable},"narOffset":${offset + fileContentsOffset(node.executable)}}`;
    }
    case 'symlink':
      return `{"type":"symlink","target":${JSON.stringify(utf8.decode(node.target.bytes))}}`;
    case 'directory': {
      const entries: string[] = [];
      let entryOffset = offset + DIRECTORY_HEAD;
      for (const { name, node: child } of lookup(closure, node.digest).entries) {
        const nameLength = name.bytes.byteLength;
        entries.push(`${JSON.stringify(utf8.decode(name.bytes))}:${listNode(child, entryOffset + entryNodeOffset(nameLength), closure)}`);
        entryOffset += entrySize(nameLength, nodeSize(child, closure));
      }
      return `{"type":"directory","entries":{${entries.join(',')}}}`;
    }
  }
}
