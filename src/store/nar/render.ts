// NAR render: castore graph → the exact NAR bytes, streamed. The Directory closure is fetched up front
// (one recursive get, shared with renders of the same tree in progress), which also yields NarSize before the first
// byte is sent.
import type { CallOptions, Directory, Node } from '../../castore/index.js';
import { NarBridgeError } from '../../errors.js';
import { writeNar, type NarOutputEvent } from '../../nar/index.js';
import { BlobReadahead, processReadahead, type ReadaheadBudget } from './readahead.js';
import type { Castore } from '../../castore/index.js';
import { sliceBytes } from '../../castore/index.js';
import { sharedTree } from './closures.js';
import { lookup, type FileSpan } from './layout.js';

/** Inclusive byte range of a NAR, already checked against its size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface NarPlan {
  readonly narSize: number;
  /** The NAR bytes; a blob that is missing or of the wrong length fails the stream midway. */
  stream(): AsyncGenerator<Uint8Array, void, undefined>;
  /**
   * Bytes `range.start..range.end` only. Files wholly before the range are never read (their place is
   * held by zeros that are cut away), and the one the range starts in is read from that offset on.
   */
  streamRange(range: ByteRange): AsyncGenerator<Uint8Array, void, undefined>;
}

/** Each file's contents in NAR order: chunks already in memory, or to stream. */
interface FileContents {
  next(): readonly Uint8Array[] | AsyncIterable<Uint8Array>;
}

/** `budget`: what the stream's read-ahead is taken from (every stream of the process shares one unless told). */
export async function planNar(root: Node, castore: Castore, opts: CallOptions = {}, budget: ReadaheadBudget = processReadahead): Promise<NarPlan> {
  const { directories, narSize, files } = await sharedTree(root, castore.directories, opts);
  return {
    narSize,
    stream: async function* () {
      const contents = new BlobReadahead(castore.blobs, files, opts, budget);
      try {
        yield* writeNar(narEvents(root, null, directories, contents));
      } finally {
        contents.close();
      }
    },
    streamRange: (range) =>
      sliceBytes(writeNar(narEvents(root, null, directories, new RangeContents(castore, files, range, opts))), range.start, range.end - range.start + 1),
  };
}

/** File contents for a ranged render: zeros before the range, real bytes from where it starts. */
class RangeContents implements FileContents {
  #index = 0;

  constructor(
    private readonly castore: Castore,
    private readonly files: readonly FileSpan[],
    private readonly range: ByteRange,
    private readonly opts: CallOptions,
  ) {}

  async *next(): AsyncGenerator<Uint8Array, void, undefined> {
    const file = this.files[this.#index++];
    if (!file) throw new Error('RangeContents asked for more files than the tree has');
    const skip = Math.min(file.size, Math.max(0, this.range.start - file.offset));
    yield* zeros(skip);
    if (skip === file.size) return;
    const contents = await this.castore.blobs.openRead(file.digest, { ...this.opts, offset: skip });
    if (!contents) throw new NarBridgeError('NB_ERR_MISSING_OBJECT', `blob ${file.digest.toHex()} is missing`);
    yield* contents;
  }
}

const ZEROS = new Uint8Array(1024 * 1024);

function* zeros(count: number): Generator<Uint8Array, void, undefined> {
  for (let left = count; left > 0; left -= ZEROS.byteLength) yield ZEROS.subarray(0, Math.min(left, ZEROS.byteLength));
}

/** Synchronous: the tree is in memory, and contents not read yet are what the writer awaits. */
function* narEvents(
  node: Node,
  name: Uint8Array | null,
  directories: ReadonlyMap<string, Directory>,
  blobs: FileContents,
): Generator<NarOutputEvent, void, undefined> {
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
