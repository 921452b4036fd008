// NAR render: castore graph → the exact NAR bytes, streamed. The Directory closure is fetched up front
// (one recursive get), which also yields NarSize before the first byte is sent.
import type { CallOptions, Directory, Node } from '../castore/index.js';
import { writeNar, type NarEvent } from '../nar/index.js';
import { BlobReadahead, type BlobRef } from './blob-readahead.js';
import type { Castore } from './castore.js';
import { loadDirectoryClosure } from './directory-closure.js';
import { lookup, narSize } from './nar-size.js';

export interface NarPlan {
  readonly narSize: number;
  /** The NAR bytes; a blob that is missing or of the wrong length fails the stream midway. */
  stream(): AsyncGenerator<Uint8Array, void, undefined>;
}

export async function planNar(root: Node, castore: Castore, opts: CallOptions = {}): Promise<NarPlan> {
  const directories = await loadDirectoryClosure(root, castore.directories, opts);
  return {
    narSize: narSize(root, directories),
    stream: () => writeNar(narEvents(root, null, directories, new BlobReadahead(castore.blobs, filesOf(root, directories), opts))),
  };
}

async function* narEvents(
  node: Node,
  name: Uint8Array | null,
  directories: ReadonlyMap<string, Directory>,
  blobs: BlobReadahead,
): AsyncGenerator<NarEvent, void, undefined> {
  switch (node.kind) {
    case 'file':
      yield { type: 'file', name, executable: node.executable, size: node.size, contents: blobs.next() };
      return;
    case 'symlink':
      yield { type: 'symlink', name, target: node.target.bytes };
      return;
    case 'directory':
      yield { type: 'directory', name };
      for (const entry of lookup(directories, node.digest).entries) {
        yield* narEvents(entry.node, entry.name.bytes, directories, blobs);
      }
      yield { type: 'end' };
  }
}

/** The file blobs in the order the NAR lists them (depth first, entries in name order). */
function filesOf(root: Node, directories: ReadonlyMap<string, Directory>): BlobRef[] {
  const files: BlobRef[] = [];
  const walk = (node: Node): void => {
    if (node.kind === 'file') files.push(node);
    else if (node.kind === 'directory') for (const entry of lookup(directories, node.digest).entries) walk(entry.node);
  };
  walk(root);
  return files;
}
