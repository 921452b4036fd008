// Tiered services: near (memory) in front of far; far stopped, far lying, and only missing chunks crossing over.
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { describe, expect, test, vi } from 'vitest';
import {
  ChunkedBlobService,
  chunkingParams,
  MemoryBlobService,
  MemoryChunkIndex,
  MemoryDirectoryService,
  NearBlobCache,
  openDatabase,
  PackBlobService,
  TieredBlobService,
  TieredDirectoryService,
  type B3Digest,
  type BlobService,
  type BlobWriter,
  type CallOptions,
  type ChunkMeta,
  type DirectoryService,
  type ReadOptions,
  type TierObserver,
} from '../../src/castore/index.js';
import { PackReader } from '../../src/castore/blob/pack/pack-reader.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar, MemoryPathInfoService, planNar, TieredPathInfoService, type PathInfoService, type Store } from '../../src/store/index.js';
import { collectBytes } from '../nar/nar-bytes.js';
import { TESTDATA } from './golden.js';
import { INFO } from '../grpc/path-info-fixture.js';
import { memoryStore, startLoopback } from '../grpc/loopback.js';

const NAR = new Uint8Array(readFileSync(join(TESTDATA, 'nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar')));
const SMALL = chunkingParams(1024);

class Counts implements TierObserver {
  readonly served_: Record<string, number> = {};
  fetchedBytes = 0;
  served(service: string, tier: string, reads = 1): void {
    this.served_[`${service}:${tier}`] = (this.served_[`${service}:${tier}`] ?? 0) + reads;
  }
  fetched(bytes: number): void {
    this.fetchedBytes += bytes;
  }
}

/** A far that is gone: every call fails, as a stopped gRPC peer's would. */
class StoppedBlobService implements BlobService {
  #fail(): never {
    throw new Error('far is stopped');
  }
  async has(): Promise<boolean> {
    this.#fail();
  }
  async chunks(): Promise<readonly ChunkMeta[] | null> {
    this.#fail();
  }
  async openRead(): Promise<AsyncIterable<Uint8Array> | null> {
    this.#fail();
  }
  openWrite(): BlobWriter {
    this.#fail();
  }
  async flush(): Promise<void> {} // a gRPC client commits nothing of its own
}

/** A far that flips one bit of every blob it sends. */
class CorruptingBlobService implements BlobService {
  constructor(private readonly inner: BlobService) {}
  has(d: B3Digest, o?: CallOptions) {
    return this.inner.has(d, o);
  }
  chunks(d: B3Digest, o?: CallOptions) {
    return this.inner.chunks(d, o);
  }
  openWrite(o?: CallOptions) {
    return this.inner.openWrite(o);
  }
  flush(o?: CallOptions) {
    return this.inner.flush(o);
  }
  async openRead(d: B3Digest, o?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    const source = await this.inner.openRead(d, o);
    if (!source) return null;
    return (async function* () {
      let first = true;
      for await (const piece of source) {
        const copy = Uint8Array.from(piece);
        if (first && copy.length > 0) copy[0] = (copy[0] ?? 0) ^ 1;
        first = false;
        yield copy;
      }
    })();
  }
}

async function farStore(): Promise<Store & { info: typeof INFO }> {
  const far = {
    blobs: new MemoryBlobService(),
    directories: new MemoryDirectoryService(),
    pathInfos: new MemoryPathInfoService(),
    narUploads: undefined as never,
  };
  const { node, narHash, narSize } = await ingestNar(
    (async function* () {
      yield NAR;
    })(),
    far,
  );
  const info = { ...INFO, node, narHash, narSize };
  await far.pathInfos.put(info);
  return { ...far, info };
}

describe('tiered store', () => {
  test('the first read comes from far and fills near; with far stopped the second is served entirely from near', async () => {
    const far = await farStore();
    const near = { blobs: new MemoryBlobService(), directories: new MemoryDirectoryService(), pathInfos: new MemoryPathInfoService() };
    const counts = new Counts();
    const tiered = (blobs: BlobService, dirs: DirectoryService, infos: PathInfoService) => ({
      blobs: new TieredBlobService(near.blobs, blobs, counts),
      directories: new TieredDirectoryService(near.directories, dirs, counts),
      pathInfos: new TieredPathInfoService(near.pathInfos, infos, counts),
    });
    const first = tiered(far.blobs, far.directories, far.pathInfos);
    const info = await first.pathInfos.get(far.info.storePath.digest);
    expect(Buffer.from(await collectBytes((await planNar(info!.node, first)).stream())).equals(NAR)).toBe(true);
    expect(counts.served_['path_infos:far']).toBe(1);
    expect(counts.served_['blobs:far']).toBeGreaterThan(0);
    const fromFar = counts.fetchedBytes;
    expect(fromFar).toBeGreaterThan(0);

    const stopped = new StoppedBlobService();
    const broken = new MemoryDirectoryService(); // empty: anything asked of it would be a miss
    const second = tiered(stopped, new TieredDirectoryService(broken, broken), new MemoryPathInfoService());
    const again = await second.pathInfos.get(far.info.storePath.digest);
    expect(Buffer.from(await collectBytes((await planNar(again!.node, second)).stream())).equals(NAR)).toBe(true);
    expect(counts.fetchedBytes).toBe(fromFar);
    const hits = Object.entries(counts.served_)
      .filter(([k]) => k.endsWith(':near'))
      .reduce((n, [, v]) => n + v, 0);
    const misses = Object.entries(counts.served_)
      .filter(([k]) => k.endsWith(':far'))
      .reduce((n, [, v]) => n + v, 0);
    console.info(`tiers: ${hits} near hits, ${misses} far reads, ${fromFar} bytes from far (NAR ${NAR.length} bytes)`);
  });

  test('a far that returns corrupted bytes is detected, not stored and not served', async () => {
    const far = await farStore();
    const near = new MemoryBlobService();
    const blobs = new TieredBlobService(near, new CorruptingBlobService(far.blobs));
    const node = far.info.node;
    const plan = await planNar(node, { blobs, directories: far.directories });
    await expect(collectBytes(plan.stream())).rejects.toMatchObject({ code: 'NB_ERR_UPSTREAM' });
    // Nothing of the bad read was kept near.
    for await (const directory of far.directories.getRecursive(node.kind === 'directory' ? node.digest : (undefined as never))) {
      for (const { node: child } of directory.entries) if (child.kind === 'file') expect(await near.has(child.digest)).toBe(false);
    }
  });

  test('only the chunks near lacks cross over from far', async () => {
    const near = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const far = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const counts = new Counts();
    const tiered = new TieredBlobService(near, far, counts);
    const a = createCipheriv('aes-128-ctr', Buffer.alloc(16, 1), Buffer.alloc(16)).update(Buffer.alloc(200_000));
    const b = Buffer.from(a);
    b.writeUInt8(b.readUInt8(100_000) ^ 1, 100_000);
    const put = async (data: Uint8Array) => {
      const w = far.openWrite();
      await w.write(data);
      return w.close();
    };
    const [da, db] = [await put(a), await put(b)];
    expect(Buffer.from(await collectBytes((await tiered.openRead(da))!)).equals(a)).toBe(true);
    expect(counts.fetchedBytes).toBe(a.length);
    expect(Buffer.from(await collectBytes((await tiered.openRead(db))!)).equals(b)).toBe(true);
    expect(counts.fetchedBytes - a.length).toBeLessThan(SMALL.maxSize * 2);
    expect(await near.has(db)).toBe(true);
  });

  test('a chunk near held when the read was planned but dropped before its turn (a cache evicting) comes from far', async () => {
    const held = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const far = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 2), Buffer.alloc(16)).update(Buffer.alloc(100_000));
    const w = far.openWrite();
    await w.write(data);
    const digest = await w.close();
    for (const chunk of (await far.chunks(digest)) ?? []) {
      const cw = held.openWrite();
      for await (const piece of (await far.openRead(chunk.digest))!) await cw.write(piece);
      await cw.close();
    }
    // Near says it has every chunk, then has none of them when asked to read: evicted in between.
    const evicting: BlobService = {
      has: (d, o) => held.has(d, o),
      chunks: async () => null,
      openRead: async () => null,
      openWrite: (o) => held.openWrite(o),
      flush: (o) => held.flush(o),
    };
    const counts = new Counts();
    const tiered = new TieredBlobService(evicting, far, counts);
    expect(Buffer.from(await collectBytes((await tiered.openRead(digest))!)).equals(data)).toBe(true);
    expect(counts.fetchedBytes).toBe(data.length);
  });
});

/** A far with readMany (as pack objects in S3 have): counts its calls, and can flip a bit of what it sends. */
class BatchingBlobService extends CorruptingBlobService {
  readManyCalls = 0;
  openReadCalls = 0;
  constructor(
    private readonly store: BlobService,
    private readonly corrupt = false,
  ) {
    super(store);
  }
  override async openRead(d: B3Digest, o?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    this.openReadCalls++;
    return this.store.openRead(d, o);
  }
  async readMany(blobs: readonly ChunkMeta[], o?: CallOptions): Promise<Array<Uint8Array | null>> {
    this.readManyCalls++;
    return Promise.all(
      blobs.map(async (blob, i) => {
        const source = await this.store.openRead(blob.digest, o);
        if (!source) return null;
        const bytes = Uint8Array.from(await collectBytes(source));
        if (this.corrupt && i === 1) bytes[0] = (bytes[0] ?? 0) ^ 1;
        return bytes;
      }),
    );
  }
}

describe('filling near from a far with readMany', () => {
  const put = async (service: BlobService, data: Uint8Array) => {
    const w = service.openWrite();
    await w.write(data);
    return w.close();
  };
  const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, 3), Buffer.alloc(16)).update(Buffer.alloc(300_000));

  test("asks for a blob's chunks in one call rather than one call each", async () => {
    const store = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const digest = await put(store, data);
    const chunks = (await store.chunks(digest)) ?? [];
    expect(chunks.length).toBeGreaterThan(10);
    const far = new BatchingBlobService(store);
    const near = new MemoryBlobService();
    const tiered = new TieredBlobService(near, far);
    expect(Buffer.from(await collectBytes((await tiered.openRead(digest))!)).equals(data)).toBe(true);
    expect(far.readManyCalls).toBe(1);
    expect(far.openReadCalls).toBe(0);
    expect(await near.has(digest)).toBe(true);
  });

  test('a chunk a batch got wrong fails the read and nothing is kept near', async () => {
    const store = new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL);
    const digest = await put(store, data);
    const near = new MemoryBlobService();
    const tiered = new TieredBlobService(near, new BatchingBlobService(store, true));
    await expect(collectBytes((await tiered.openRead(digest))!)).rejects.toMatchObject({ code: 'NB_ERR_UPSTREAM' });
    expect(await near.has(digest)).toBe(false);
  });
});

describe('readMany through tiers', () => {
  test('what near holds comes from one near readMany; the rest is filled from far; a blob neither has fails the batch', async () => {
    const bytes = (n: number) => createCipheriv('aes-128-ctr', Buffer.alloc(16, n), Buffer.alloc(16)).update(Buffer.alloc(5000 + n));
    const put = async (service: BlobService, data: Uint8Array) => {
      const w = service.openWrite();
      await w.write(data);
      return w.close();
    };
    const nearStore = new MemoryBlobService();
    const farStore = new MemoryBlobService();
    const [a, b, gone] = [bytes(1), bytes(2), bytes(3)];
    const aDigest = await put(nearStore, a);
    const bDigest = await put(farStore, b);
    const goneDigest = await put(new MemoryBlobService(), gone);
    const near = new BatchingBlobService(nearStore);
    const counts = new Counts();
    const tiered = new TieredBlobService(near, farStore, counts);
    const asked = [
      { digest: aDigest, size: a.length },
      { digest: bDigest, size: b.length },
      { digest: aDigest, size: a.length },
    ];
    const [gotA, gotB, gotAAgain] = await tiered.readMany(asked);
    expect(Buffer.from(gotA!).equals(a) && Buffer.from(gotAAgain!).equals(a)).toBe(true);
    expect(Buffer.from(gotB!).equals(b)).toBe(true);
    expect(near.readManyCalls).toBe(1);
    expect(counts.served_).toMatchObject({ 'blobs:near': 2, 'blobs:far': 1 });
    expect(await nearStore.has(bDigest)).toBe(true); // filled: the next read stays near
    await tiered.readMany(asked);
    expect(near.readManyCalls).toBe(2);
    expect(counts.served_['blobs:far']).toBe(1);
    await expect(tiered.readMany([...asked, { digest: goneDigest, size: gone.length }])).rejects.toMatchObject({ code: 'NB_ERR_UPSTREAM' });
  });

  test('blobs filled from far are kept near in the order asked, whatever order far answered in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tiered-order-'));
    const db = openDatabase(join(dir, 'meta.sqlite'));
    try {
      const near = new PackBlobService(db, join(dir, 'packs'));
      const farStore = new MemoryBlobService();
      const blobs: ChunkMeta[] = [];
      for (let n = 0; n < 8; n++) {
        const data = createCipheriv('aes-128-ctr', Buffer.alloc(16, n + 10), Buffer.alloc(16)).update(Buffer.alloc(3000));
        const w = farStore.openWrite();
        await w.write(data);
        blobs.push({ digest: await w.close(), size: data.length });
      }
      // The first asked answers last.
      const slow = new (class extends CorruptingBlobService {
        override async openRead(d: B3Digest, o?: ReadOptions) {
          await new Promise((resolve) => setTimeout(resolve, 5 * (blobs.length - blobs.findIndex((b) => b.digest.equals(d)))));
          return farStore.openRead(d, o);
        }
      })(farStore);
      await new TieredBlobService(near, slow).readMany(blobs);
      await near.flush();
      const offsets = near.index.places(blobs.map((b) => b.digest)).map((place) => place?.offset ?? -1);
      expect(offsets.every((offset, i) => i === 0 || offset > (offsets[i - 1] ?? Infinity))).toBe(true);
      await near.close();
    } finally {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** `service` with every method call counted in `calls` (a far's backend, to see whether a read reached it). */
function counted<T extends object>(service: T, calls: { n: number }): T {
  return new Proxy(service, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.n++;
        return value.apply(target, args);
      };
    },
  });
}

describe('a repeated pull through tiers over gRPC', () => {
  const FILES = 2000;
  const nears = {
    "the store's own packs (--composition)": (dir: string) => {
      const db = openDatabase(join(dir, 'meta.sqlite'));
      const packs = new PackBlobService(db, join(dir, 'packs'));
      const close = async () => {
        await packs.close();
        db.close();
      };
      return { blobs: packs, writes: 'near' as const, close };
    },
    'a bounded cache (--cache-max-size)': (dir: string) => {
      const cache = new NearBlobCache(join(dir, 'near-cache'), 256 * 1024 * 1024);
      return { blobs: cache, writes: 'far' as const, close: () => cache.close() };
    },
  };
  test.each(Object.keys(nears) as Array<keyof typeof nears>)(
    '%s as near: asks nothing of far, and reads the small files from near in a few large pack reads',
    async (kind) => {
      const calls = { n: 0 };
      const backends = memoryStore();
      const far = await startLoopback('tcp', {
        ...backends,
        blobs: counted(backends.blobs, calls),
        directories: counted(backends.directories, calls),
        pathInfos: counted(backends.pathInfos, calls),
      });
      const dir = await mkdtemp(join(tmpdir(), 'tiered-repeat-'));
      const near = nears[kind](dir);
      try {
        // Files of 1-16 KiB (~17 MB): a render reads them in 1 MiB readMany batches, many in flight at once.
        async function* tree(): AsyncGenerator<NarEvent> {
          yield { type: 'directory', name: null };
          for (let i = 0; i < FILES; i++) {
            const size = 1024 + ((i * 7919) % (15 * 1024 + 1));
            const contents = createCipheriv('aes-128-ctr', Buffer.alloc(16, i % 256), Buffer.alloc(16, i >> 8)).update(Buffer.alloc(size));
            yield { type: 'file', name: Buffer.from(`f${String(i).padStart(4, '0')}`), executable: false, size, contents: Readable.from([contents]) };
          }
          yield { type: 'end' };
        }
        const { node, narHash, narSize } = await ingestNar(Readable.from(writeNar(tree())), backends);
        await backends.pathInfos.put({ ...INFO, node, narHash, narSize });
        const tiered = {
          blobs: new TieredBlobService(near.blobs, far.blobs, undefined, { writes: near.writes }),
          directories: new TieredDirectoryService(new MemoryDirectoryService(), far.directories),
          pathInfos: new TieredPathInfoService(new MemoryPathInfoService(), far.pathInfos),
        };
        const pull = async () => {
          const info = await tiered.pathInfos.get(INFO.storePath.digest);
          return Buffer.from(await collectBytes((await planNar(info!.node, tiered)).stream()));
        };
        const first = await pull();
        expect(first.byteLength).toBe(narSize);
        expect(calls.n).toBeGreaterThan(FILES);

        calls.n = 0;
        const nearBatches = vi.spyOn(near.blobs, 'readMany');
        const packReads = vi.spyOn(PackReader.prototype, 'read');
        expect((await pull()).equals(first)).toBe(true);
        expect(calls.n).toBe(0);
        // Each batch was filled side by side in near: a few reads each (filled a record at a time, the batches in flight
        // interleaved and a repeat took a read for every one or two files).
        expect(nearBatches.mock.calls.length).toBeGreaterThan(10);
        expect(packReads.mock.calls.length).toBeLessThan(FILES / 20);
      } finally {
        vi.restoreAllMocks();
        await near.close();
        await far.close();
        await rm(dir, { recursive: true, force: true });
      }
    },
    30_000,
  );
});
