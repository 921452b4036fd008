// PackBlobService: the conformance suite, plus what packs promise — locality, one fsync per flush, crash recovery,
// checksums caught on read.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { blake3, HashedBytes, openDatabase, streamReadBuffers, type Database } from '../../../src/castore/index.js';
import { chunkingParams } from '../../../src/castore/blob/fastcdc.js';
import { PackBlobService } from '../../../src/castore/blob/pack/pack-blob-service.js';
import { PACK_HEADER_BYTES, RECORD_HEADER_BYTES } from '../../../src/castore/blob/pack/format.js';
import { describeBlobService, patternBytes, readAll } from '../blob-service-suite.js';

const SMALL = chunkingParams(1024);
const dirs: string[] = [];
const dbs: Database[] = [];
afterEach(async () => {
  for (const db of dbs.splice(0)) db.close();
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-packs-'));
  dirs.push(dir);
  return dir;
}

function open(dir: string, options: ConstructorParameters<typeof PackBlobService>[2] = {}): PackBlobService {
  const db = openDatabase(join(dir, 'meta.sqlite'));
  dbs.push(db);
  return new PackBlobService(db, join(dir, 'packs'), options);
}

async function put(blobs: PackBlobService, data: Uint8Array) {
  const writer = blobs.openWrite();
  if (data.byteLength > 0) await writer.write(data);
  return writer.close();
}

describeBlobService('packs, default chunking', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-packs-'));
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const service = new PackBlobService(db, join(dir, 'packs'));
  return {
    service,
    cleanup: async () => {
      await service.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describeBlobService('packs, small chunks and packs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-packs-'));
  const db = openDatabase(join(dir, 'meta.sqlite'));
  const service = new PackBlobService(db, join(dir, 'packs'), { chunking: SMALL, packTargetBytes: 256 * 1024 });
  return {
    service,
    cleanup: async () => {
      await service.close();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('PackBlobService', () => {
  it('lays what one writer stores out in write order, and reads neighbours with readMany', async () => {
    const dir = await tempDir();
    const blobs = open(dir);
    const data = Array.from({ length: 50 }, (_, i) => patternBytes(100 + i * 37, i + 1));
    const digests = [];
    for (const d of data) digests.push(await put(blobs, d));
    await blobs.flush();
    const places = digests.map((d) => blobs.index.record(d));
    for (let i = 1; i < places.length; i++) {
      expect(places[i]?.offset).toBe((places[i - 1]?.offset ?? 0) + RECORD_HEADER_BYTES + (places[i - 1]?.size ?? 0));
    }
    const many = await blobs.readMany([...digests.map((digest, i) => ({ digest, size: data[i]!.length })), { digest: blake3(new Uint8Array([9])), size: 1 }]);
    expect(many.slice(0, -1).map((b) => Buffer.from(b!).toString('hex'))).toEqual(data.map((d) => Buffer.from(d).toString('hex')));
    expect(many.at(-1)).toBeNull();
  });

  it('readMany answers every slot: repeated, absent, chunked, not yet flushed and flushed blobs, in the order asked', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { chunking: SMALL });
    const small = Array.from({ length: 40 }, (_, i) => patternBytes(50 + i * 13, i + 1));
    const flushed = [];
    for (const d of small.slice(0, 30)) flushed.push(await put(blobs, d));
    const large = patternBytes(20_000, 77);
    const chunked = await put(blobs, large);
    await blobs.flush();
    const unflushed = [];
    for (const d of small.slice(30)) unflushed.push(await put(blobs, d));
    const absent = blake3(new Uint8Array([9]));
    const asked = [
      { digest: flushed[3]!, bytes: small[3]! },
      { digest: unflushed[2]!, bytes: small[32]! },
      { digest: absent, bytes: null },
      { digest: chunked, bytes: large },
      ...flushed.map((digest, i) => ({ digest, bytes: small[i]! })),
      { digest: flushed[3]!, bytes: small[3]! },
      ...unflushed.map((digest, i) => ({ digest, bytes: small[30 + i]! })),
      { digest: absent, bytes: null },
    ];
    const reads = vi.spyOn(blobs.reader, 'read');
    const many = await blobs.readMany(asked.map(({ digest, bytes }) => ({ digest, size: bytes?.length ?? 1 })));
    expect(many.map((b) => (b ? Buffer.from(b).toString('hex') : null))).toEqual(asked.map(({ bytes }) => (bytes ? Buffer.from(bytes).toString('hex') : null)));
    // Each record once, neighbours together: a handful of reads, not one per slot.
    expect(reads.mock.calls.length).toBeLessThan(12);
  });

  it('makes nothing durable before flush, and everything flushed survives a crash that cut off the rest', async () => {
    const dir = await tempDir();
    const first = open(dir);
    const kept = await put(first, patternBytes(5000, 1));
    const big = patternBytes(3 * 1024 * 1024, 2);
    const keptBig = await put(first, big);
    await first.flush();
    const lost = await put(first, patternBytes(7000, 3));
    expect(await first.has(lost)).toBe(true); // readable in this process before flush
    // A crash: the process is gone without flushing (we simulate it by opening again as if the pid were dead).
    const packDir = join(dir, 'packs');
    const [pack] = await readdir(packDir);
    const before = (await stat(join(packDir, pack!))).size;
    await new Promise((resolve) => setTimeout(resolve, 50)); // the unflushed record reaches the file
    const second = open(dir); // same pid: its packs count as left behind by a previous life
    expect(await second.has(kept)).toBe(true);
    expect(await second.has(keptBig)).toBe(true);
    expect(await second.has(lost)).toBe(false);
    expect((await stat(join(packDir, pack!))).size).toBeLessThanOrEqual(before);
    expect(Buffer.from((await readAll(await second.openRead(keptBig)))!).equals(Buffer.from(big))).toBe(true);
    // and it keeps taking writes, into a new pack
    const again = await put(second, patternBytes(7000, 3));
    await second.flush();
    expect(again.equals(lost)).toBe(true);
    expect((await readdir(packDir)).length).toBe(2);
  });

  it('a clean close commits what was waiting for its automatic flush (a tier fill, say), so a restart still has it', async () => {
    const dir = await tempDir();
    const first = open(dir);
    const waiting = await put(first, patternBytes(5000, 4));
    await first.close();
    const second = open(dir);
    expect(await second.has(waiting)).toBe(true);
    expect(Buffer.from((await readAll(await second.openRead(waiting)))!).equals(Buffer.from(patternBytes(5000, 4)))).toBe(true);
  });

  it('cuts off a torn tail left past the committed length', async () => {
    const dir = await tempDir();
    const first = open(dir);
    const kept = await put(first, patternBytes(5000, 1));
    await first.flush();
    const [pack] = await readdir(join(dir, 'packs'));
    const path = join(dir, 'packs', pack!);
    const committed = (await stat(path)).size;
    await writeFile(path, Buffer.concat([await readFile(path), Buffer.from('half a record')]));
    const second = open(dir);
    expect((await stat(path)).size).toBe(committed);
    expect(await second.size(kept)).toBe(5000);
  });

  it('drops a pack a crash left before its first flush', async () => {
    const dir = await tempDir();
    const first = open(dir);
    await put(first, patternBytes(5000, 1));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await readdir(join(dir, 'packs'))).toHaveLength(1);
    open(dir);
    expect(await readdir(join(dir, 'packs'))).toHaveLength(0);
    expect(PACK_HEADER_BYTES).toBe(16);
  });

  it('catches a flipped byte on read instead of serving it', async () => {
    const dir = await tempDir();
    const blobs = open(dir);
    const data = patternBytes(5000, 4);
    const digest = await put(blobs, data);
    await blobs.flush();
    const place = blobs.index.record(digest)!;
    const [pack] = await readdir(join(dir, 'packs'));
    const path = join(dir, 'packs', pack!);
    const bytes = await readFile(path);
    bytes.writeUInt8(bytes.readUInt8(place.offset + RECORD_HEADER_BYTES + 100) ^ 0x40, place.offset + RECORD_HEADER_BYTES + 100);
    await writeFile(path, bytes);
    await expect(readAll(await blobs.openRead(digest))).rejects.toThrow(/damaged: payload checksum mismatch/);
    await expect(blobs.readMany([{ digest, size: data.length }])).rejects.toThrow(/damaged/);
  });

  it('rolls over to a new pack at the target size, and reads across packs', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { chunking: SMALL, packTargetBytes: 64 * 1024 });
    const data = randomBytes(300 * 1024); // incompressible and unique: no chunk is stored twice
    const digest = await put(blobs, data);
    await blobs.flush();
    expect((await readdir(join(dir, 'packs'))).length).toBeGreaterThan(3);
    expect(Buffer.from((await readAll(await blobs.openRead(digest)))!).equals(Buffer.from(data))).toBe(true);
    expect(blobs.stats().packs).toBeGreaterThan(3);
  });

  it("places a chunked blob's chunks as the stream gets to them, not all at once, from any offset", async () => {
    const blobs = open(await tempDir(), { chunking: SMALL });
    const data = patternBytes(600 * 1024, 9); // ~150 chunks of up to 4 KiB: several lookup windows
    const digest = await put(blobs, data);
    await blobs.flush();
    const chunkCount = (await blobs.chunks(digest))!.length;
    expect(chunkCount).toBeGreaterThan(128);
    const lookups = vi.spyOn(blobs.index, 'places');
    const reader = (await blobs.openRead(digest))![Symbol.asyncIterator]();
    await reader.next();
    const askedAtStart = lookups.mock.calls.reduce((sum, [digests]) => sum + digests.length, 0);
    await reader.return?.();
    // A 1 GiB blob has 8,192 chunks: a stream holding all their records cost ~3 MB of heap.
    expect(askedAtStart).toBeLessThanOrEqual(128);
    for (const offset of [0, 1, 150 * 1024 + 7, 400 * 1024, data.length - 1]) {
      expect(Buffer.from((await readAll(await blobs.openRead(digest, { offset })))!).equals(Buffer.from(data.subarray(offset)))).toBe(true);
    }
    expect(Math.max(...lookups.mock.calls.map(([digests]) => digests.length))).toBeLessThanOrEqual(64);
    lookups.mockRestore();
  });

  it('a chunk missing far into a chunked blob fails the stream when it gets there, by name', async () => {
    const blobs = open(await tempDir(), { chunking: SMALL });
    const data = patternBytes(600 * 1024, 10);
    const digest = await put(blobs, data);
    await blobs.flush();
    const chunks = (await blobs.chunks(digest))!;
    const lost = chunks[chunks.length - 2]!.digest;
    blobs.deleteObjects([lost]);
    await expect(readAll(await blobs.openRead(digest))).rejects.toThrow(`chunk ${lost.toHex()} is missing`);
  });

  it('streams through pooled buffers: chunks handed back are read into again, chunks kept stay intact', async () => {
    const blobs = open(await tempDir());
    const data = randomBytes(6 * 1024 * 1024);
    const digest = await put(blobs, data);
    await blobs.flush();
    const allocations = vi.spyOn(Buffer, 'allocUnsafe');
    const returnedBefore = streamReadBuffers.returned;
    const copies: Buffer[] = [];
    let pooledChunks = 0;
    for await (const chunk of (await blobs.openRead(digest))!) {
      copies.push(Buffer.from(chunk));
      if (chunk.buffer.byteLength === streamReadBuffers.bufferBytes) pooledChunks++;
      streamReadBuffers.release(chunk);
    }
    const pooledAllocations = allocations.mock.calls.filter(([size]) => size === streamReadBuffers.bufferBytes).length;
    allocations.mockRestore();
    expect(Buffer.concat(copies).equals(data)).toBe(true);
    // Every chunk of a pooled read comes back; reads under half a buffer (how many depends on where the chunk
    // boundaries fall) are not pooled, but most of a large blob's reads are.
    expect(streamReadBuffers.returned - returnedBefore).toBe(pooledChunks);
    expect(pooledChunks).toBeGreaterThan(copies.length / 2);
    // A dozen reads of up to 512 KiB: the one being consumed and the one ahead, reused from then on.
    expect(pooledAllocations).toBeLessThanOrEqual(2);
    // A consumer that keeps its chunks: none of their buffers may be read into again.
    const kept: Uint8Array[] = [];
    for await (const chunk of (await blobs.openRead(digest))!) kept.push(chunk);
    expect(Buffer.concat(kept).equals(data)).toBe(true);
  });

  it('a truncated pack (lost bytes) fails reads of what it lost, cleanly', async () => {
    const dir = await tempDir();
    const blobs = open(dir);
    const digest = await put(blobs, patternBytes(5000, 5));
    await blobs.flush();
    await blobs.close();
    const [pack] = await readdir(join(dir, 'packs'));
    await truncate(join(dir, 'packs', pack!), PACK_HEADER_BYTES + 100);
    const reopened = open(dir);
    await expect(readAll(await reopened.openRead(digest))).rejects.toThrow(/damaged/);
  });

  // Regression: a writer that picked a pack just before another one rolled over appended into the retired pack after
  // its last flush had sealed it, so the record was never written out and reading it hung.
  it('keeps every record readable and durable when concurrent writers roll packs over under flushes', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { chunking: SMALL, packTargetBytes: 32 * 1024 });
    const data = Array.from({ length: 60 }, (_, i) => randomBytes(500 + ((i * 997) % 12_000)));
    const flushes: Array<Promise<void>> = [];
    const digests = await Promise.all(
      data.map(async (d, i) => {
        const digest = await put(blobs, d);
        if (i % 7 === 0) flushes.push(blobs.flush());
        return digest;
      }),
    );
    await Promise.all(flushes);
    await blobs.flush();
    const read = await Promise.race([
      Promise.all(digests.map(async (d) => readAll(await blobs.openRead(d)))),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    expect(read?.map((b) => Buffer.from(b!).toString('hex'))).toEqual(data.map((d) => d.toString('hex')));
    await blobs.close();
    const reopened = open(dir);
    for (const [i, d] of digests.entries()) expect(Buffer.from((await readAll(await reopened.openRead(d)))!).equals(data[i]!)).toBe(true);
  });

  // Regression: a pack retired while a flush was fsyncing it was sealed by that flush, losing the records appended
  // to it meanwhile: their write-out never happened and reading them hung.
  it('does not seal a pack that was retired while a flush was syncing it', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { packTargetBytes: 64 * 1024 });
    await put(blobs, randomBytes(1000)); // the pack exists
    const flushing = blobs.flush(); // snapshots, then waits for the fsync
    const during = randomBytes(2000);
    const appendedDuring = await put(blobs, during); // lands in the pack being synced
    await put(blobs, randomBytes(60 * 1024)); // retires it
    await flushing;
    await blobs.flush();
    const read = await Promise.race([readAll(await blobs.openRead(appendedDuring)), new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000))]);
    expect(read && Buffer.from(read).equals(during)).toBe(true);
    const place = blobs.index.record(appendedDuring);
    const pack = blobs.index.packs().find((p) => p.id === place?.pack);
    expect((place?.offset ?? Infinity) + RECORD_HEADER_BYTES + during.length).toBeLessThanOrEqual(pack?.durableBytes ?? 0); // committed only once durable
    await blobs.close();
    expect(Buffer.from((await readAll(await open(dir).openRead(appendedDuring)))!).equals(during)).toBe(true);
  });

  it('keeps each locality (one ingest) together apart from a concurrent one, and reuses its pack once it flushed', async () => {
    const dir = await tempDir();
    const blobs = open(dir);
    const a = {};
    const b = {};
    const write = async (locality: object, data: Uint8Array) => {
      const writer = blobs.openWrite({ locality });
      await writer.write(data);
      return writer.close();
    };
    const dataA = Array.from({ length: 20 }, () => randomBytes(3000));
    const dataB = Array.from({ length: 20 }, () => randomBytes(3000));
    const digestsA = [];
    const digestsB = [];
    for (let i = 0; i < 20; i++) {
      digestsA.push(await write(a, dataA[i]!)); // interleaved, as two uploads arriving at once
      digestsB.push(await write(b, dataB[i]!));
    }
    await blobs.flush({ locality: a });
    await blobs.flush({ locality: b });
    for (const digests of [digestsA, digestsB]) {
      const places = digests.map((d) => blobs.index.record(d)!);
      expect(new Set(places.map((p) => p.pack)).size).toBe(1);
      for (let i = 1; i < places.length; i++) expect(places[i]!.offset).toBe(places[i - 1]!.offset + RECORD_HEADER_BYTES + 3000);
    }
    expect(blobs.index.record(digestsA[0]!)!.pack).not.toBe(blobs.index.record(digestsB[0]!)!.pack);
    const packsBefore = (await readdir(join(dir, 'packs'))).length;
    const c = {};
    const later = await write(c, randomBytes(3000));
    await blobs.flush({ locality: c });
    expect((await readdir(join(dir, 'packs'))).length).toBe(packsBefore); // a released pack took the new group
    expect([blobs.index.record(digestsA[0]!)!.pack, blobs.index.record(digestsB[0]!)!.pack]).toContain(blobs.index.record(later)!.pack);
  });
});

describe('putHashed (bytes hashed once, by the caller)', () => {
  it('stores a blob of at most one chunk as one record under its digest, without a writer', async () => {
    const blobs = open(await tempDir(), { chunking: SMALL });
    const data = patternBytes(3000, 5);
    const writers = vi.spyOn(blobs, 'openWrite');
    const blob = HashedBytes.of(data);
    await blobs.putHashed(blob);
    await blobs.flush();
    expect(writers).not.toHaveBeenCalled();
    expect(blob.digest.equals(blake3(data))).toBe(true);
    expect(await blobs.chunks(blob.digest)).toEqual([]);
    expect(Buffer.from((await readAll(await blobs.openRead(blob.digest)))!).equals(Buffer.from(data))).toBe(true);
    await blobs.close();
  });

  it('cuts a blob larger than a chunk as a writer would', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { chunking: SMALL });
    const data = randomBytes(64 * 1024);
    const blob = HashedBytes.of(data);
    await blobs.putHashed(blob);
    expect(await blobs.chunks(blob.digest)).toEqual(await blobs.chunks(await put(open(await tempDir(), { chunking: SMALL }), data)));
    expect((await blobs.chunks(blob.digest))?.length).toBeGreaterThan(1);
    expect(Buffer.from((await readAll(await blobs.openRead(blob.digest)))!).equals(Buffer.from(data))).toBe(true);
    await blobs.close();
  });

  it('stores a blob put twice once', async () => {
    const dir = await tempDir();
    const blobs = open(dir, { chunking: SMALL });
    for (const data of [patternBytes(3000, 6), randomBytes(64 * 1024)]) {
      await blobs.putHashed(HashedBytes.of(data));
      await blobs.flush();
      const packBytes = async () => (await readdir(join(dir, 'packs'))).length + (await stat(join(dir, 'packs', (await readdir(join(dir, 'packs')))[0]!))).size;
      const once = await packBytes();
      await blobs.putHashed(HashedBytes.of(data));
      await blobs.flush();
      expect(await packBytes()).toBe(once);
    }
    await blobs.close();
  });

  it('has no way to pair bytes with a digest other than hashing them', () => {
    const Forged = HashedBytes as unknown as new (...args: unknown[]) => HashedBytes;
    expect(() => new Forged(Buffer.from('evil'), blake3(Buffer.from('good')))).toThrow();
  });
});
