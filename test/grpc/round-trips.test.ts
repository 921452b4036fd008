// Reading through gRPC without paying a round trip per piece: a whole blob is one Read however the peer chunks it,
// and a NAR render keeps many small-blob Reads in flight, which is what matters once the peer is 20 ms away.
import { createCipheriv } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, expect, it } from 'vitest';
import { startDelayProxy, type DelayProxy } from '../../bench/delay-proxy.js';
import {
  ChunkedBlobService,
  GrpcBlobService,
  GrpcConnection,
  GrpcDirectoryService,
  MemoryBlobService,
  MemoryChunkIndex,
  grpcEndpointFromUrl,
  type B3Digest,
  type BlobService,
  type CallOptions,
  type ReadOptions,
} from '../../src/castore/index.js';
import { writeNar, type NarEvent } from '../../src/nar/index.js';
import { ingestNar, planNar } from '../../src/store/index.js';
import { memoryStore, startLoopback, type Loopback } from './loopback.js';

/** Counts openRead calls, and how many of their streams were open at once. */
class CountingBlobService implements BlobService {
  reads = 0;
  open = 0;
  maxOpen = 0;
  constructor(private readonly through: BlobService) {}
  has(digest: B3Digest, opts?: CallOptions) {
    return this.through.has(digest, opts);
  }
  flush(opts?: CallOptions) {
    return this.through.flush(opts);
  }
  chunks(digest: B3Digest, opts?: CallOptions) {
    return this.through.chunks(digest, opts);
  }
  async openRead(digest: B3Digest, opts?: ReadOptions): Promise<AsyncIterable<Uint8Array> | null> {
    this.reads++;
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    const contents = await this.through.openRead(digest, opts).catch((err: unknown) => {
      this.open--;
      throw err;
    });
    if (!contents) {
      this.open--;
      return null;
    }
    const done = () => this.open--;
    return (async function* () {
      try {
        yield* contents;
      } finally {
        done();
      }
    })();
  }
  openWrite(opts?: CallOptions) {
    return this.through.openWrite(opts);
  }
}

const pseudoRandom = (size: number, seed: number) => createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(size));

let loopback: Loopback | undefined;
let proxy: DelayProxy | undefined;
let connection: GrpcConnection | undefined;
afterEach(async () => {
  connection?.close();
  await proxy?.close();
  await loopback?.close();
  connection = proxy = loopback = undefined;
});

it('reads a blob the peer stores in chunks with one Read call', async () => {
  const served = new CountingBlobService(new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex()));
  loopback = await startLoopback('tcp', { ...memoryStore(), blobs: served });
  const data = pseudoRandom(4 * 1024 * 1024, 1);
  const writer = served.openWrite();
  await writer.write(data);
  const digest = await writer.close();
  expect((await served.chunks(digest))?.length).toBeGreaterThan(8);

  const pieces: Uint8Array[] = [];
  for await (const piece of (await loopback.blobs.openRead(digest)) ?? []) pieces.push(piece);
  expect(Buffer.concat(pieces).equals(data)).toBe(true);
  expect(served.reads).toBe(1);
});

it('keeps more than 64 small-blob Reads in flight while rendering a NAR from a peer 20 ms away', async () => {
  loopback = await startLoopback('tcp');
  async function* tree(): AsyncGenerator<NarEvent> {
    yield { type: 'directory', name: null };
    for (let i = 0; i < 400; i++) {
      yield {
        type: 'file',
        name: Buffer.from(`f${String(i).padStart(3, '0')}`),
        executable: false,
        size: 2048,
        contents: Readable.from([pseudoRandom(2048, i)]),
      };
    }
    yield { type: 'end' };
  }
  const { node, narSize } = await ingestNar(Readable.from(writeNar(tree())), loopback.store);
  const port = Number(new URL(loopback.url).port);
  proxy = await startDelayProxy({ host: '127.0.0.1', port }, 20);
  connection = new GrpcConnection(await grpcEndpointFromUrl(new URL(`grpc+http://127.0.0.1:${proxy.port}`)));
  const blobs = new CountingBlobService(new GrpcBlobService(connection));
  const plan = await planNar(node, { blobs, directories: new GrpcDirectoryService(connection) });
  let bytes = 0;
  for await (const chunk of plan.stream()) bytes += chunk.byteLength;
  expect(bytes).toBe(narSize);
  expect(blobs.reads).toBe(400);
  // One at a time this NAR costs 400 round trips (8 s); 32 in flight, 13 of them.
  expect(blobs.maxOpen).toBeGreaterThan(64);
}, 30_000);
