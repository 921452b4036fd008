// NAR render: castore graph → the exact NAR bytes, streamed. The Directory closure is fetched up front
// (one recursive get), which also yields NarSize before the first byte is sent.
import type { BlobService, CallOptions, Directory, Node } from '../castore/index.js';
import { NarBridgeError } from '../errors.js';
import { writeNar, type NarEvent } from '../nar/index.js';
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
    stream: () => writeNar(narEvents(root, null, directories, castore.blobs, opts)),
  };
}

async function* narEvents(
  node: Node,
  name: Uint8Array | null,
  directories: ReadonlyMap<string, Directory>,
  blobs: BlobService,
  opts: CallOptions,
): AsyncGenerator<NarEvent, void, undefined> {
  switch (node.kind) {
    case 'file':
      yield { type: 'file', name, executable: node.executable, size: node.size, contents: readBlob(blobs, node, opts) };
      return;
    case 'symlink':
      yield { type: 'symlink', name, target: node.target.bytes };
      return;
    case 'directory':
      yield { type: 'directory', name };
      for (const entry of lookup(directories, node.digest).entries) {
        yield* narEvents(entry.node, entry.name.bytes, directories, blobs, opts);
      }
      yield { type: 'end' };
  }
}

async function* readBlob(blobs: BlobService, node: Extract<Node, { kind: 'file' }>, opts: CallOptions) {
  const contents = await blobs.openRead(node.digest, opts);
  if (!contents) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `blob ${node.digest.toHex()} is missing`);
  yield* contents;
}
