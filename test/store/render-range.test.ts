// Ranged renders: every range of a golden NAR equals the same slice of the file, and files wholly before
// the range are never read.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobService, MemoryDirectoryService, type B3Digest, type ReadOptions, type Castore } from '../../src/castore/index.js';
import { ingestNar, planNar } from '../../src/store/index.js';
import { GOLDEN_NARS, TESTDATA } from './golden.js';

/** Records which blobs were opened, and from where. */
class CountingBlobs extends MemoryBlobService {
  readonly opened: Array<{ digest: string; offset: number }> = [];
  override async openRead(digest: B3Digest, opts?: ReadOptions) {
    this.opened.push({ digest: digest.toHex(), offset: opts?.offset ?? 0 });
    return super.openRead(digest, opts);
  }
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function* once(bytes: Uint8Array) {
  yield bytes;
}

async function ingested(file: string) {
  const nar = await readFile(join(TESTDATA, file));
  const blobs = new CountingBlobs();
  const castore: Castore = { blobs, directories: new MemoryDirectoryService() };
  const { node } = await ingestNar(once(nar), castore);
  return { nar, blobs, plan: await planNar(node, castore) };
}

describe.each(GOLDEN_NARS)('ranged render of $file', ({ file }) => {
  it('gives exactly the requested slice for ranges at every kind of position', async () => {
    const { nar, plan } = await ingested(file);
    const size = nar.byteLength;
    const ranges = [
      [0, 0],
      [0, size - 1],
      [1, 8],
      [7, 200],
      [size - 1, size - 1],
      [Math.floor(size / 3), Math.floor((2 * size) / 3)],
      [size - 9, size - 1],
    ].filter(([start = 0, end = 0]) => start <= end && end < size);
    for (const [start = 0, end = 0] of ranges) {
      const bytes = await collect(plan.streamRange({ start, end }));
      expect(bytes.equals(nar.subarray(start, end + 1)), `range ${start}-${end}`).toBe(true);
    }
  });
});

it('reads only the blobs a range overlaps, the first from its offset', async () => {
  const { nar, blobs, plan } = await ingested('nar_1094wph9z4nwlgvsd53abfz8i117ykiv5dwnq9nnhz846s7xqd7d.nar');
  const start = nar.byteLength - 1000;
  const bytes = await collect(plan.streamRange({ start, end: nar.byteLength - 1 }));
  expect(bytes.equals(nar.subarray(start))).toBe(true);
  expect(blobs.opened.length).toBeLessThanOrEqual(2);
  expect(blobs.opened.some(({ offset }) => offset > 0)).toBe(true);
});
