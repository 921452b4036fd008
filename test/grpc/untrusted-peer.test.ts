// Our clients against a peer that lies: served from real wrapper services that corrupt what they return.
import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryBlobService,
  MemoryDirectoryService,
  blake3,
  blobServiceFromUrl,
  type B3Digest,
  type BlobService,
  type CallOptions,
  type Directory,
  type DirectoryService,
} from '../../src/castore/index.js';
import { MemoryNarUploadIndex, MemoryPathInfoService } from '../../src/store/index.js';
import { patternBytes } from '../castore/blob-service-suite.js';
import { putAll, sharedDag } from '../castore/directory-service-suite.js';
import { startLoopback, type Loopback } from './loopback.js';

/** Serves every blob with its last byte flipped. */
class CorruptingBlobService extends MemoryBlobService {
  override async openRead(digest: B3Digest, opts?: CallOptions): Promise<AsyncIterable<Uint8Array> | null> {
    const contents = await super.openRead(digest, opts);
    if (!contents) return null;
    return (async function* () {
      const pieces: Uint8Array[] = [];
      for await (const piece of contents) pieces.push(Uint8Array.from(piece));
      const last = pieces.at(-1);
      if (last) last[last.length - 1] = (last[last.length - 1] ?? 0) ^ 1;
      yield* pieces;
    })();
  }
}

/** Leaves the last Directory out of every recursive walk. */
class TruncatingDirectoryService extends MemoryDirectoryService {
  override async *getRecursive(root: B3Digest, opts?: CallOptions): AsyncGenerator<Directory> {
    const all: Directory[] = [];
    for await (const directory of super.getRecursive(root, opts)) all.push(directory);
    yield* all.slice(0, -1);
  }
}

let loopback: Loopback;
afterEach(() => loopback.close());

async function start(blobs: BlobService, directories: DirectoryService): Promise<Loopback> {
  return startLoopback('tcp', { blobs, directories, pathInfos: new MemoryPathInfoService(), narUploads: new MemoryNarUploadIndex() });
}

describe('gRPC clients check what a peer sends', () => {
  it('a blob whose bytes do not hash to its digest fails before its last bytes are yielded', async () => {
    loopback = await start(new CorruptingBlobService(), new MemoryDirectoryService());
    const data = patternBytes(700_000, 9);
    const writer = loopback.blobs.openWrite();
    await writer.write(data);
    const digest = await writer.close();
    expect(digest.equals(blake3(data))).toBe(true);

    const source = await loopback.blobs.openRead(digest);
    let received = 0;
    const err = await (async () => {
      for await (const piece of source ?? []) received += piece.byteLength;
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NB_ERR_UPSTREAM' });
    expect(received).toBeLessThan(data.length);
  });

  it('a recursive Get that leaves out a directory fails instead of ending cleanly', async () => {
    loopback = await start(new MemoryBlobService(), new TruncatingDirectoryService());
    const { leaf, a, b, root } = sharedDag();
    await putAll(loopback.directories, [leaf, a, b, root]);
    const seen: string[] = [];
    const err = await (async () => {
      for await (const d of loopback.directories.getRecursive(root.digest())) seen.push(d.digest().toHex());
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'NB_ERR_UPSTREAM' });
    expect(seen).toEqual([root, a, b].map((d) => d.digest().toHex()));
  });

  it('a peer that is not there is NB_ERR_UPSTREAM, without its address in the message', async () => {
    loopback = await start(new MemoryBlobService(), new MemoryDirectoryService());
    await loopback.close();
    const client = await blobServiceFromUrl(loopback.url);
    try {
      const err = await client.service.has(blake3(new Uint8Array())).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: 'NB_ERR_UPSTREAM' });
      expect(String(err)).not.toMatch(/127\.0\.0\.1/);
    } finally {
      client.close();
    }
    loopback = await start(new MemoryBlobService(), new MemoryDirectoryService()); // for afterEach
  });
});
