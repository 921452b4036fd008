// NAR ingest: parse a NAR stream into blobs and Directory messages; return the root node, NarHash and NarSize.
import { DirectoryBuilder, PathComponent, SymlinkTarget, type CallOptions, type DirectoryPutter, type Node } from '../../castore/index.js';
import { readNar, type NarLimits } from '../../nar/index.js';
import { NixHash } from '../../nix/index.js';
import { BlobUploadQueue, SMALL_BLOB_BYTES } from './blob-upload-queue.js';
import type { Castore } from '../../castore/index.js';
import { StreamDigest } from './measure.js';

interface IngestResult {
  readonly node: Node;
  readonly narHash: NixHash;
  readonly narSize: number;
}

interface IngestOptions extends CallOptions {
  readonly limits?: NarLimits;
}

interface OpenDirectory {
  readonly name: PathComponent | null;
  readonly builder: DirectoryBuilder;
}

/**
 * Directories are handed to the putter as they close (leaves first); the putter makes them durable
 * only at `close()`, after every blob was written, so an aborted ingest leaves no Directory behind.
 */
export async function ingestNar(source: AsyncIterable<Uint8Array>, castore: Castore, opts: IngestOptions = {}): Promise<IngestResult> {
  // A failed ingest aborts what it started at once: a remote putter's open Put call (a peer would otherwise hold
  // it, and the half graph, until the connection closes) and blob writes still in flight.
  const failed = new AbortController();
  const scoped = { ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, failed.signal]) : failed.signal };
  // One locality per ingest: its files land together in NAR order, not interleaved with a concurrent upload's.
  const blobs = new BlobUploadQueue(castore.blobs, { ...scoped, locality: {} });
  try {
    return await ingestInto(source, castore, blobs, scoped);
  } catch (err) {
    failed.abort(err);
    throw err;
  } finally {
    await blobs.settle();
  }
}

async function ingestInto(source: AsyncIterable<Uint8Array>, castore: Castore, blobs: BlobUploadQueue, opts: IngestOptions): Promise<IngestResult> {
  const nar = new StreamDigest();
  const open: OpenDirectory[] = [];
  let putter: DirectoryPutter | undefined;
  let root: Node | undefined;

  const place = (name: Uint8Array | null, node: Node): void => {
    const parent = open.at(-1);
    if (parent && name) parent.builder.add(PathComponent.parse(name), node);
    else root = node;
  };

  for await (const event of readNar(nar.tap(source), opts.limits)) {
    switch (event.type) {
      case 'directory':
        open.push({ name: event.name ? PathComponent.parse(event.name) : null, builder: new DirectoryBuilder() });
        break;
      case 'end': {
        const done = open.pop();
        if (!done) throw new Error('NAR reader emitted an unbalanced end');
        const directory = done.builder.build();
        putter ??= castore.directories.putter(opts);
        await putter.put(directory);
        place(done.name?.bytes ?? null, { kind: 'directory', digest: directory.digest(), size: directory.size });
        break;
      }
      case 'file': {
        const digest = event.size <= SMALL_BLOB_BYTES ? await blobs.addSmall(event.contents, event.size) : await blobs.addLarge(event.contents);
        place(event.name, { kind: 'file', digest, size: event.size, executable: event.executable });
        break;
      }
      case 'symlink':
        place(event.name, { kind: 'symlink', target: SymlinkTarget.parse(event.target) });
        break;
    }
  }
  if (!root) throw new Error('NAR reader ended without a root node');
  await blobs.drain();
  // The commit point for blobs: a Directory (and later the PathInfo) is only written once what it names is durable.
  await castore.blobs.flush(blobs.opts);
  if (putter) await putter.close();
  return { node: root, narHash: NixHash.fromDigest('sha256', nar.sha256), narSize: nar.size };
}
