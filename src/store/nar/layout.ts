// NarSize from the castore graph alone: the NAR framing is fixed, so a tree's NAR length is arithmetic.
import type { B3Digest, Directory, Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';

/** Length of one NAR string token: u64 length prefix plus the bytes padded to 8. */
const str = (len: number): number => 8 + Math.ceil(len / 8) * 8;

/** Total length of a sequence of fixed NAR tokens. */
const tokens = (...words: string[]): number => words.reduce((sum, word) => sum + str(word.length), 0);

export const MAGIC = tokens('nix-archive-1');
const FILE_BASE = tokens('(', 'type', 'regular', 'contents', ')');
const EXECUTABLE = tokens('executable', '');
const SYMLINK_BASE = tokens('(', 'type', 'symlink', 'target', ')');
const DIRECTORY_BASE = tokens('(', 'type', 'directory', ')');
const ENTRY_BASE = tokens('entry', '(', 'name', 'node', ')');

/** From the start of a file node to its first content byte: the tokens before `contents`, then the u64 length. */
export const fileContentsOffset = (executable: boolean): number =>
  tokens('(', 'type', 'regular', 'contents') + (executable ? EXECUTABLE : 0) + 8;
/** From the start of a directory node to its first `entry`. */
export const DIRECTORY_HEAD = tokens('(', 'type', 'directory');
/** From the start of an `entry` to its child node. */
export const entryNodeOffset = (nameLength: number): number => tokens('entry', '(', 'name') + str(nameLength) + tokens('node');
/** Framing an entry adds around its child node. */
export const entrySize = (nameLength: number, child: number): number => ENTRY_BASE + str(nameLength) + child;

export function narSize(root: Node, directories: ReadonlyMap<string, Directory>): number {
  return MAGIC + nodeSize(root, directories);
}

export function nodeSize(node: Node, directories: ReadonlyMap<string, Directory>): number {
  switch (node.kind) {
    case 'file':
      return FILE_BASE + (node.executable ? EXECUTABLE : 0) + str(node.size);
    case 'symlink':
      return SYMLINK_BASE + str(node.target.bytes.byteLength);
    case 'directory': {
      const directory = lookup(directories, node.digest);
      let size = DIRECTORY_BASE;
      for (const entry of directory.entries) {
        size += entrySize(entry.name.bytes.byteLength, nodeSize(entry.node, directories));
      }
      return size;
    }
  }
}

/** A file's contents inside the NAR: where they start, and the blob holding them. */
export interface FileSpan {
  readonly digest: B3Digest;
  readonly size: number;
  readonly offset: number;
}

/** Every file of the tree in NAR order (depth first, entries by name), with its contents' NAR offset. */
export function fileSpans(root: Node, directories: ReadonlyMap<string, Directory>): FileSpan[] {
  const files: FileSpan[] = [];
  const CLOSE = tokens(')');
  /** Returns where `node`, starting at `offset`, ends. */
  const walk = (node: Node, offset: number): number => {
    switch (node.kind) {
      case 'file':
        files.push({ digest: node.digest, size: node.size, offset: offset + fileContentsOffset(node.executable) });
        return offset + FILE_BASE + (node.executable ? EXECUTABLE : 0) + str(node.size);
      case 'symlink':
        return offset + SYMLINK_BASE + str(node.target.bytes.byteLength);
      case 'directory': {
        let end = offset + DIRECTORY_HEAD;
        for (const entry of lookup(directories, node.digest).entries) {
          end = walk(entry.node, end + entryNodeOffset(entry.name.bytes.byteLength)) + CLOSE;
        }
        return end + CLOSE;
      }
    }
  };
  walk(root, MAGIC);
  return files;
}

export function lookup(directories: ReadonlyMap<string, Directory>, digest: B3Digest): Directory {
  const directory = directories.get(digest.toHex());
  if (!directory) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `directory ${digest.toHex()} is missing`);
  return directory;
}
