// ChunkedBlobService and FastCDC: conformance, chunk boundary cases, verified chunk reads, and dedup of similar blobs.
import { createCipheriv } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3, LocalBlobService, MemoryBlobService, type B3Digest, type BlobService } from '../../src/castore/index.js';
import { ChunkedBlobService } from '../../src/castore/blob/chunked.js';
import { LocalChunkIndex, MemoryChunkIndex } from '../../src/castore/blob/chunk-index.js';
import { chunkingParams, chunkLength, DEFAULT_AVG_CHUNK_BYTES } from '../../src/castore/blob/fastcdc.js';
import { describeBlobService, filesUnder, patternBytes, readAll } from './blob-service-suite.js';

/** Deterministic incompressible bytes (AES-CTR keystream): FastCDC finds no cut points in a plain LCG pattern. */
function randomBytes(length: number, seed: number): Buffer {
  const key = Buffer.alloc(16, seed);
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Small chunks, so the shared suite's blobs (up to a few MiB) are cut into many. */
const SMALL = chunkingParams(1024);

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-chunked-'));
  dirs.push(dir);
  return dir;
}

describeBlobService('chunked over memory', async () => ({ service: new ChunkedBlobService(new MemoryBlobService(), new MemoryChunkIndex(), SMALL) }));

describeBlobService('chunked over local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nar-bridge-chunked-'));
  return {
    service: new ChunkedBlobService(new LocalBlobService(join(dir, 'blobs')), new LocalChunkIndex(join(dir, 'chunks')), SMALL),
    tempFiles: async () => [...(await filesUnder(join(dir, 'blobs', 'tmp'))), ...(await filesUnder(join(dir, 'chunks', 'tmp')))],
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

async function store(blobs: BlobService, data: Uint8Array, pieceBytes = 65_536): Promise<B3Digest> {
  const writer = blobs.openWrite();
  for (let at = 0; at < data.byteLength; at += pieceBytes) await writer.write(data.subarray(at, at + pieceBytes));
  return writer.close();
}

function chunkedMemory() {
  const inner = new MemoryBlobService();
  return { inner, blobs: new ChunkedBlobService(inner, new MemoryChunkIndex(), SMALL) };
}

describe('ChunkedBlobService boundaries', () => {
  it('keeps the empty blob and a blob of exactly one maximum chunk whole', async () => {
    const { blobs } = chunkedMemory();
    for (const size of [0, 1, SMALL.maxSize]) {
      const data = patternBytes(size, size + 7);
      const digest = await store(blobs, data, 100);
      expect(await blobs.chunks(digest), `size ${size}`).toEqual([]);
      expect(Buffer.from((await readAll(await blobs.openRead(digest)))!).equals(data)).toBe(true);
    }
  });

  it('cuts one byte more than a maximum chunk into chunks whose last one is short, each readable as a blob', async () => {
    const { inner, blobs } = chunkedMemory();
    const data = randomBytes(SMALL.maxSize + 1, 3);
    const digest = await store(blobs, data, 333);
    const chunks = (await blobs.chunks(digest))!;
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.reduce((n, c) => n + c.size, 0)).toBe(data.length);
    expect(chunks.at(-1)!.size).toBeLessThan(SMALL.maxSize);
    let at = 0;
    for (const chunk of chunks) {
      const bytes = (await readAll(await blobs.openRead(chunk.digest)))!;
      expect(blake3(bytes).equals(chunk.digest)).toBe(true);
      expect(Buffer.from(bytes).equals(data.subarray(at, at + chunk.size))).toBe(true);
      expect(await inner.has(chunk.digest)).toBe(true);
      at += chunk.size;
    }
    expect(await inner.has(digest)).toBe(false); // the blob itself is only its chunk list
    expect((await blobs.chunks(digest))?.reduce((sum, chunk) => sum + chunk.size, 0)).toBe(data.length);
  });

  it('reads from every chunk boundary, one byte either side, and past the end', async () => {
    const { blobs } = chunkedMemory();
    const data = randomBytes(20_000, 5);
    const digest = await store(blobs, data);
    const chunks = (await blobs.chunks(digest))!;
    const offsets = [0, data.length - 1, data.length, data.length + 5];
    let start = 0;
    for (const chunk of chunks) {
      offsets.push(start, start + 1, Math.max(0, start - 1));
      start += chunk.size;
    }
    for (const offset of offsets) {
      const got = (await readAll(await blobs.openRead(digest, { offset })))!;
      expect(Buffer.from(got).equals(data.subarray(offset)), `offset ${offset}`).toBe(true);
    }
  });

  it('detects a chunk file changed on disk, rather than serving it', async () => {
    const dir = await tempDir();
    const blobs = new ChunkedBlobService(new LocalBlobService(join(dir, 'blobs')), new LocalChunkIndex(join(dir, 'chunks')), SMALL);
    const digest = await store(blobs, randomBytes(50_000, 9));
    const victim = (await blobs.chunks(digest))![3]!;
    const file = join(dir, 'blobs', victim.digest.toHex().slice(0, 2), victim.digest.toHex());
    const bytes = await readFile(file);
    bytes.writeUInt8(bytes.readUInt8(10) ^ 1, 10);
    await writeFile(file, bytes);
    await expect(readAll(await blobs.openRead(digest))).rejects.toMatchObject({ code: 'NB_ERR_STORAGE' });
  });
});

describe('FastCDC', () => {
  it('cuts chunks between min and max, near the average, and finds the same boundaries after an insertion', () => {
    const params = chunkingParams(DEFAULT_AVG_CHUNK_BYTES);
    const data = randomBytes(16 * 1024 * 1024, 11);
    const cuts = (bytes: Uint8Array) => {
      const ends: number[] = [];
      for (let at = 0; at < bytes.length; ) {
        const length = chunkLength(bytes, at, bytes.length, params);
        if (at + length < bytes.length) expect(length).toBeGreaterThanOrEqual(params.minSize);
        expect(length).toBeLessThanOrEqual(params.maxSize);
        at += length;
        ends.push(at);
      }
      return ends;
    };
    const started = performance.now();
    const ends = cuts(data);
    const mbPerS = data.length / 1e6 / ((performance.now() - started) / 1000);
    const average = data.length / ends.length;
    expect(average).toBeGreaterThan(DEFAULT_AVG_CHUNK_BYTES * 0.75);
    expect(average).toBeLessThan(DEFAULT_AVG_CHUNK_BYTES * 1.5);
    const shifted = new Set(cuts(Buffer.concat([Buffer.from('x'), data])).map((end) => end - 1));
    const kept = ends.filter((end) => shifted.has(end)).length;
    expect(kept / ends.length).toBeGreaterThan(0.95);
    console.info(
      `FastCDC: ${mbPerS.toFixed(0)} MB/s, ${ends.length} chunks, average ${(average / 1024).toFixed(1)} KiB, ${kept}/${ends.length} boundaries kept after a 1-byte insertion`,
    );
  });

  it('refuses an average chunk size that is not a power of two', () => {
    expect(() => chunkingParams(100_000)).toThrow(expect.objectContaining({ code: 'NB_ERR_CONFIG' }));
  });
});

describe('deduplication', () => {
  it('two 16 MiB blobs differing in a few bytes store little more than one copy', async () => {
    const dir = await tempDir();
    const blobs = new ChunkedBlobService(new LocalBlobService(join(dir, 'blobs')), new LocalChunkIndex(join(dir, 'chunks')));
    const first = randomBytes(16 * 1024 * 1024, 21);
    const second = Buffer.from(first);
    for (const at of [1_000_000, 7_777_777, 15_000_000]) second.writeUInt8(second.readUInt8(at) ^ 0xff, at);
    const a = await store(blobs, first, 1024 * 1024);
    const b = await store(blobs, second, 1024 * 1024);
    expect(a.equals(b)).toBe(false);
    const storedBytes = await directoryBytes(join(dir, 'blobs'));
    const ratio = (first.length + second.length) / storedBytes;
    console.info(`dedup: 2 × 16 MiB stored as ${storedBytes} bytes of chunks (ratio ${ratio.toFixed(2)})`);
    expect(storedBytes).toBeLessThan(first.length * 1.1);
    expect(Buffer.from((await readAll(await blobs.openRead(b)))!).equals(second)).toBe(true);
  });
});

async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}
