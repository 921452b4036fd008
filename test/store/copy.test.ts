// copyPath between in-memory services: objects first and the PathInfo last, objects the target has skipped, a
// source blob with other bytes than its digest fails the path with its name and leaves the target without its PathInfo.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type B3Digest, type BlobService, type ReadOptions } from '../../src/castore/index.js';
import { copyPath, ingestNar, MemoryPathInfoService, type CopyEnd, type PathInfo } from '../../src/store/index.js';
import { INFO } from '../grpc/path-info-fixture.js';
import { TESTDATA } from './golden.js';

const NAR = new Uint8Array(readFileSync(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar')));

function emptyEnd(): CopyEnd {
  return { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService(), pathInfos: new MemoryPathInfoService() };
}

async function sourceWithPath(): Promise<{ end: CopyEnd; info: PathInfo }> {
  const end = emptyEnd();
  const { node, narHash, narSize } = await ingestNar(
    (async function* () {
      yield NAR;
    })(),
    end,
  );
  const info = { ...INFO, node, narHash, narSize };
  await end.pathInfos.put(info);
  return { end, info };
}

/** Sends other bytes for one blob, as a damaged disk would. */
function corrupting(inner: BlobService, victim: B3Digest): BlobService {
  return {
    has: (d, o) => inner.has(d, o),
    chunks: (d, o) => inner.chunks(d, o),
    openWrite: (o) => inner.openWrite(o),
    flush: (o) => inner.flush(o),
    openRead: async (d: B3Digest, o?: ReadOptions) => {
      const source = await inner.openRead(d, o);
      if (!source || !d.equals(victim)) return source;
      return (async function* () {
        for await (const piece of source) yield Uint8Array.from(piece, (b, i) => (i === 0 ? b ^ 1 : b));
      })();
    },
  };
}

test('a path arrives whole (a second copy moves nothing); a damaged source blob fails it by name, with no PathInfo', async () => {
  const { end: from, info } = await sourceWithPath();
  const to = emptyEnd();
  const first = await copyPath(info, from, to);
  expect(first.blobs).toBeGreaterThan(0);
  expect(first.directories).toBeGreaterThan(0);
  expect(await to.pathInfos.get(info.storePath.digest)).toMatchObject({ narSize: info.narSize });
  expect(await copyPath(info, from, to)).toEqual({ blobs: 0, blobBytes: 0, directories: 0 });

  const files: B3Digest[] = [];
  if (info.node.kind !== 'directory') throw new Error('expected a directory');
  for await (const d of from.directories.getRecursive(info.node.digest)) for (const { node } of d.entries) if (node.kind === 'file') files.push(node.digest);
  const victim = files[0];
  if (!victim) throw new Error('no file');
  const damaged = { ...from, blobs: corrupting(from.blobs, victim) };
  const fresh = emptyEnd();
  await expect(copyPath(info, damaged, fresh)).rejects.toMatchObject({
    code: 'NB_ERR_HASH_MISMATCH',
    message: expect.stringContaining(`${info.storePath.toAbsolute()}: blob ${victim.toHex()} is damaged in the source`),
  });
  expect(await fresh.pathInfos.get(info.storePath.digest)).toBeNull();
});
