// sliceBytes: skip N bytes, take M, across any chunking, reading no further than it must.
import { describe, expect, it } from 'vitest';
import { sliceBytes } from '../../src/castore/index.js';

const BYTES = Uint8Array.from({ length: 40 }, (_, i) => i);

/** `BYTES` in pieces of `size`, counting how many pieces were pulled. */
function pieces(size: number) {
  const counter = { pulled: 0 };
  async function* source() {
    for (let at = 0; at < BYTES.length; at += size) {
      counter.pulled++;
      yield BYTES.subarray(at, at + size);
    }
  }
  return { source: source(), counter };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of stream) out.push(...chunk);
  return out;
}

describe('sliceBytes', () => {
  it.each([1, 3, 7, 40, 64])('gives exactly bytes skip..skip+take with chunks of %i bytes', async (size) => {
    for (const [skip, take] of [
      [0, 40],
      [0, 1],
      [5, 10],
      [6, 1],
      [39, 1],
      [13, 27],
      [0, 0],
      [40, 5],
      [50, 1],
    ] as const) {
      expect(await collect(sliceBytes(pieces(size).source, skip, take))).toEqual([...BYTES.subarray(skip, skip + take)]);
    }
  });

  it('takes everything after the skipped bytes when no count is given', async () => {
    expect(await collect(sliceBytes(pieces(6).source, 9))).toEqual([...BYTES.subarray(9)]);
  });

  it('stops pulling the source once the taken bytes are out', async () => {
    const { source, counter } = pieces(4);
    await collect(sliceBytes(source, 2, 5)); // bytes 2..6: pieces 0 and 1
    expect(counter.pulled).toBe(2);
  });

  it('never yields an empty chunk', async () => {
    for await (const chunk of sliceBytes(pieces(4).source, 4, 8)) expect(chunk.byteLength).toBeGreaterThan(0);
  });
});
