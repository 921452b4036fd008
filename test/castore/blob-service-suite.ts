// describeBlobService: the behaviour every BlobService backend must show, run once per backend.
import { readdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { blake3, type BlobService, type BlobWriter } from '../../src/castore/index.js';

export interface BlobServiceFixture {
  readonly service: BlobService;
  /** Scratch files a backend keeps while writing (e.g. <dir>/tmp); must be empty when no write is open. */
  readonly tempFiles?: () => Promise<string[]>;
  readonly cleanup?: () => Promise<void>;
}

/** The names of the files anywhere below `dir` (temp spaces are folders per process). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

const EMPTY_BLAKE3 = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

/** Deterministic pseudo-random bytes, so large blobs need no fixture files. */
export function patternBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export async function readAll(source: AsyncIterable<Uint8Array> | null): Promise<Uint8Array | null> {
  if (!source) return null;
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function writeIn(writer: BlobWriter, data: Uint8Array, chunkSizes: readonly number[]): Promise<void> {
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = chunkSizes[i % chunkSizes.length] ?? 1;
    await writer.write(data.subarray(offset, offset + size));
    offset += size;
  }
}

const hexOf = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString('hex') : null);

export function describeBlobService(name: string, make: () => Promise<BlobServiceFixture>): void {
  describe(`BlobService: ${name}`, () => {
    let fixture: BlobServiceFixture;
    const open = async () => {
      fixture = await make();
      return fixture.service;
    };
    const expectNoTempFiles = async () => expect(await fixture.tempFiles?.()).toEqual(fixture.tempFiles ? [] : undefined);

    afterEach(async () => {
      await fixture.cleanup?.();
    });

    it('answers a missing blob with false / null', async () => {
      const blobs = await open();
      const digest = blake3(new Uint8Array([1, 2, 3]));
      expect(await blobs.has(digest)).toBe(false);
      expect(await blobs.openRead(digest)).toBeNull();
      expect(await blobs.chunks(digest)).toBeNull();
    });

    it('stores a small blob and reads it back', async () => {
      const blobs = await open();
      const data = new Uint8Array(Buffer.from('Hello World!'));
      const writer = blobs.openWrite();
      await writer.write(data);
      const digest = await writer.close();
      expect(digest.toHex()).toBe('5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c'); // helloworld.nar's blob
      expect(await blobs.has(digest)).toBe(true);
      expect(await blobs.chunks(digest)).not.toBeNull();
      expect(hexOf(await readAll(await blobs.openRead(digest)))).toBe(hexOf(data));
    });

    it('stores the empty blob', async () => {
      const blobs = await open();
      const digest = await blobs.openWrite().close();
      expect(digest.toHex()).toBe(EMPTY_BLAKE3);
      expect(await blobs.has(digest)).toBe(true);
      expect(await readAll(await blobs.openRead(digest))).toHaveLength(0);
      await expectNoTempFiles();
    });

    it('stores a multi-MiB blob written in odd chunk sizes', async () => {
      const blobs = await open();
      const data = patternBytes(5 * 1024 * 1024 + 12_345);
      const writer = blobs.openWrite();
      await writeIn(writer, data, [1, 7, 65_537, 1_000_003, 3]);
      const digest = await writer.close();
      expect(digest.equals(blake3(data))).toBe(true);
      expect(hexOf(await readAll(await blobs.openRead(digest)))).toBe(hexOf(data));
      await expectNoTempFiles();
    });

    it('reads from an offset, without the bytes before it', async () => {
      const blobs = await open();
      const data = patternBytes(3 * 1024 * 1024 + 777);
      const writer = blobs.openWrite();
      await writeIn(writer, data, [1_000_000]);
      const digest = await writer.close();
      for (const offset of [0, 1, 1024 * 1024, data.length - 1]) {
        expect(hexOf(await readAll(await blobs.openRead(digest, { offset })))).toBe(hexOf(data.subarray(offset)));
      }
      expect((await readAll(await blobs.openRead(digest, { offset: data.length })))?.length).toBe(0);
      expect((await readAll(await blobs.openRead(digest, { offset: data.length + 10 })))?.length).toBe(0);
    });

    it('reads a blob whose size the caller states, small or large', async () => {
      const blobs = await open();
      for (const data of [new Uint8Array(0), patternBytes(1000), patternBytes(2 * 1024 * 1024 + 3)]) {
        const writer = blobs.openWrite();
        if (data.length > 0) await writer.write(data);
        const digest = await writer.close();
        expect(hexOf(await readAll(await blobs.openRead(digest, { size: data.length })))).toBe(hexOf(data));
      }
    });

    it('copies each chunk, so the caller may reuse its buffer after write settles', async () => {
      const blobs = await open();
      const buffer = new Uint8Array([1, 2, 3]);
      const writer = blobs.openWrite();
      await writer.write(buffer);
      buffer.fill(9);
      await writer.write(buffer);
      const digest = await writer.close();
      expect(hexOf(await readAll(await blobs.openRead(digest)))).toBe('010203090909');
    });

    it('leaves nothing behind when a write is aborted', async () => {
      const blobs = await open();
      const data = patternBytes(300_000, 7);
      const writer = blobs.openWrite();
      await writeIn(writer, data, [100_000]);
      await writer.abort(new Error('client went away'));
      expect(await blobs.has(blake3(data))).toBe(false);
      await expectNoTempFiles();
      await expect(writer.write(data)).rejects.toThrow();
    });

    it('accepts concurrent writes of the same content', async () => {
      const blobs = await open();
      const data = patternBytes(2 * 1024 * 1024, 3);
      const writers = [blobs.openWrite(), blobs.openWrite(), blobs.openWrite()];
      const digests = await Promise.all(
        writers.map(async (w, i) => {
          await writeIn(w, data, [4096 * (i + 1) + i]);
          return w.close();
        }),
      );
      for (const d of digests) expect(d.equals(blake3(data))).toBe(true);
      expect(hexOf(await readAll(await blobs.openRead(blake3(data))))).toBe(hexOf(data));
      await expectNoTempFiles();
    });

    it('keeps the blob readable after a reader stops early', async () => {
      const blobs = await open();
      const data = patternBytes(3 * 1024 * 1024, 5);
      const writer = blobs.openWrite();
      await writer.write(data);
      const digest = await writer.close();
      const source = await blobs.openRead(digest);
      for await (const chunk of source ?? []) {
        expect(chunk.length).toBeGreaterThan(0);
        break;
      }
      expect(hexOf(await readAll(await blobs.openRead(digest)))).toBe(hexOf(data));
    });

    it('refuses writes after close', async () => {
      const blobs = await open();
      const writer = blobs.openWrite();
      await writer.close();
      await expect(writer.write(new Uint8Array([1]))).rejects.toThrow();
      await expect(writer.close()).rejects.toThrow();
    });

    it('stops at an aborted signal', async () => {
      const blobs = await open();
      const signal = AbortSignal.abort();
      await expect(blobs.has(blake3(new Uint8Array()), { signal })).rejects.toThrow();
      const writer = blobs.openWrite({ signal });
      await expect(writer.write(new Uint8Array([1]))).rejects.toThrow();
      await writer.abort();
      await expectNoTempFiles();
    });
  });
}
