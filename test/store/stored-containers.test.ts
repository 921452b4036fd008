// The stored-mode container encoders, decoded by the real tools: what they write must be what xz, zstd, gzip and
// brotli accept, byte for byte back, at block boundaries too; and their size functions must predict the output.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { brotliUncompressed, brotliUncompressedSize } from '../../src/store/compression/brotli-uncompressed.js';
import { gzipStored, gzipStoredSize } from '../../src/store/compression/gzip-stored.js';
import { xzStored, xzStoredSize } from '../../src/store/compression/xz-stored.js';
import { zstdRaw, zstdRawSize } from '../../src/store/compression/zstd-raw.js';

const MAX_BUFFER = 256 * 1024 * 1024;
const tool =
  (cmd: string, ...args: string[]) =>
  (input: Buffer) =>
    execFileSync(cmd, args, { input, maxBuffer: MAX_BUFFER });

const ENCODERS = [
  { name: 'xz', encode: xzStored, size: xzStoredSize, block: 64 * 1024, decoders: [tool('xz', '-d', '-c')] },
  { name: 'zstd', encode: zstdRaw, size: zstdRawSize, block: 128 * 1024, decoders: [tool('zstd', '-d', '-c', '-q')] },
  { name: 'gzip', encode: gzipStored, size: gzipStoredSize, block: 0xffff, decoders: [tool('gzip', '-d', '-c'), gunzipSync] },
  { name: 'brotli', encode: brotliUncompressed, size: brotliUncompressedSize, block: 64 * 1024, decoders: [brotliDecompressSync] },
] as const;

/** `data` fed in uneven pieces (1, 2, 3, … 997 bytes, then again), so block boundaries fall mid-chunk. */
async function* uneven(data: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let at = 0, n = 1; at < data.byteLength; at += n, n = (n % 997) + 1) yield data.subarray(at, at + n);
}

async function* whole(data: Uint8Array): AsyncGenerator<Uint8Array> {
  if (data.byteLength > 0) yield data;
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of source) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe.each(ENCODERS)('$name', ({ encode, size, block, decoders }) => {
  const sizes = [0, 1, 5, block - 1, block, block + 1, 2 * block, 3 * block + 17];
  it.each(sizes)('round-trips %i bytes through the real decoder, and its size is predicted', async (n) => {
    const data = randomBytes(n);
    for (const feed of [whole, uneven]) {
      const encoded = await collect(encode(feed(data)));
      expect(encoded.byteLength).toBe(size(n));
      for (const decode of decoders) expect(Buffer.from(decode(encoded)).equals(data)).toBe(true);
    }
  });

  it('round-trips a large input fed as big chunks, costing only framing', async () => {
    const data = Buffer.alloc(40 * 1024 * 1024 + 12345, 'large input, exact bytes back ');
    const big = async function* () {
      for (let at = 0; at < data.byteLength; at += 1024 * 1024 + 3) yield data.subarray(at, at + 1024 * 1024 + 3);
    };
    const encoded = await collect(encode(big()));
    expect(encoded.byteLength).toBe(size(data.byteLength));
    expect(encoded.byteLength).toBeLessThan(data.byteLength * 1.001 + 64);
    expect(Buffer.from(decoders[0](encoded)).equals(data)).toBe(true);
  });
});
