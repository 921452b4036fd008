// Where each node of a castore tree sits in its NAR: the framing is fixed (NAR_FRAMING), so one walk of the
// Directory closure gives NarSize, file offsets and the listing without rendering a byte.
import type { B3Digest, Directory, DirectoryEntry, Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { NAR_FRAMING } from '../../nar/index.js';

/** A node in NAR order (depth first, entries by name): `name` is null for the root; `end` closes a directory. */
type PlacedNode =
  | { readonly kind: 'file'; readonly name: Uint8Array | null; readonly node: Extract<Node, { kind: 'file' }>; readonly contentsOffset: number }
  | { readonly kind: 'symlink'; readonly name: Uint8Array | null; readonly node: Extract<Node, { kind: 'symlink' }> }
  | { readonly kind: 'directory'; readonly name: Uint8Array | null }
  | { readonly kind: 'end' };

/**
 * Every node of the tree under `root`, each once, with its contents' NAR offset for a file; returns the NarSize.
 * Iterative, so a deep tree costs no more per node than a flat one.
 */
export function* narLayout(root: Node, directories: ReadonlyMap<string, Directory>): Generator<PlacedNode, number, undefined> {
  const open: { readonly entries: readonly DirectoryEntry[]; next: number }[] = [];
  let offset = NAR_FRAMING.magic;
  let name: Uint8Array | null = null;
  let node: Node | null = root;
  for (;;) {
    if (node?.kind === 'directory') {
      yield { kind: 'directory', name };
      offset += NAR_FRAMING.directoryHead;
      open.push({ entries: lookup(directories, node.digest).entries, next: 0 });
    } else if (node) {
      if (node.kind === 'file') {
        yield { kind: 'file', name, node, contentsOffset: offset + NAR_FRAMING.fileHead(node.executable) };
        offset += NAR_FRAMING.fileHead(node.executable) + node.size + NAR_FRAMING.fileTail(node.size);
      } else {
        yield { kind: 'symlink', name, node };
        offset += NAR_FRAMING.symlink(node.target.bytes.byteLength);
      }
      if (open.length === 0) return offset;
      offset += NAR_FRAMING.close;
    }
    const parent = open[open.length - 1];
    const entry = parent?.entries[parent.next++];
    if (entry) {
      offset += NAR_FRAMING.entryHead(entry.name.bytes.byteLength);
      name = entry.name.bytes;
      node = entry.node;
      continue;
    }
    open.pop();
    offset += NAR_FRAMING.close;
    yield { kind: 'end' };
    if (open.length === 0) return offset;
    offset += NAR_FRAMING.close;
    node = null;
  }
}

/** A file's contents inside the NAR: where they start, and the blob holding them. */
export interface FileSpan {
  readonly digest: B3Digest;
  readonly size: number;
  readonly offset: number;
}

/** The tree's NarSize and every file's contents span, in NAR order. */
export function narFiles(root: Node, directories: ReadonlyMap<string, Directory>): { readonly narSize: number; readonly files: FileSpan[] } {
  const files: FileSpan[] = [];
  const walk = narLayout(root, directories);
  for (let step = walk.next(); ; step = walk.next()) {
    if (step.done) return { narSize: step.value, files };
    const placed = step.value;
    if (placed.kind === 'file') files.push({ digest: placed.node.digest, size: placed.node.size, offset: placed.contentsOffset });
  }
}

export function lookup(directories: ReadonlyMap<string, Directory>, digest: B3Digest): Directory {
  const directory = directories.get(digest.toHex());
  if (!directory) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `directory ${digest.toHex()} is missing`);
  return directory;
}
