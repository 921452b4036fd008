// FastCDC's boundaries are part of the stored data: blobs share chunks only while every version cuts the same bytes at
// the same places. Pinned here on fixed pseudo-random bytes (computed by the original two-loop chunkLength).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { chunkingParams, chunkLength } from '../../src/castore/blob/fastcdc.js';

/** 8 MiB from xorshift32: the same bytes on every machine. */
function fixedBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = 0x12345678;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('FastCDC boundaries', () => {
  const data = fixedBytes(8 * 1024 * 1024);

  it.each([
    { avg: 4096, count: 1669, first: [2915, 4790, 10_172, 11_267, 16_056], sha256: 'f64b88626a8fac72e11288c231f282665b13c45a5f038694d96976a30a42c151' },
    {
      avg: 131_072,
      count: 57,
      first: [66_143, 180_181, 476_598, 769_733, 906_394],
      sha256: '05469a6523e3d6d25a6dad339431dba59713059526f05a44157fc7845aa733d4',
    },
  ])('cuts at the pinned places with an average of $avg', ({ avg, count, first, sha256 }) => {
    const params = chunkingParams(avg);
    const ends: number[] = [];
    for (let at = 0; at < data.byteLength; ) {
      at += chunkLength(data, at, data.byteLength, params);
      ends.push(at);
    }
    expect(ends.length).toBe(count);
    expect(ends.slice(0, 5)).toEqual(first);
    expect(createHash('sha256').update(ends.join(',')).digest('hex')).toBe(sha256);
  });

  it('cuts the same with fewer than a maximum chunk available as long as the cut lies within them', () => {
    const params = chunkingParams(4096);
    const whole = chunkLength(data, 0, data.byteLength, params);
    expect(chunkLength(data, 0, whole, params)).toBe(whole);
    expect(chunkLength(data, 0, whole - 1, params)).toBe(whole - 1);
  });
});

describe('FastCDC under V8', () => {
  // Regression: the first large blob of a process made V8 compile chunkLength's running loop before the code after it
  // had ever run; that code lacked type feedback, so the optimized code was thrown away again and again and chunking
  // ran at about 40% speed for the first GiB or two. Seen as repeated bailouts under --trace-deopt.
  it("is not deoptimized over and over while chunking a fresh process's first 64 MiB", async () => {
    const module = new URL('../../src/castore/blob/fastcdc.ts', import.meta.url).pathname;
    const script = `
      import { randomFillSync } from 'node:crypto';
      import { chunkingParams, chunkLength } from ${JSON.stringify(module)};
      const data = randomFillSync(new Uint8Array(64 * 1024 * 1024));
      const params = chunkingParams();
      for (let at = 0; at < data.length; ) at += chunkLength(data, at, data.length, params);`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--trace-deopt', '--import', 'tsx', '--input-type=module', '-e', script], {
      timeout: 60_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const bailouts = stdout.split('\n').filter((line) => line.includes('bailout') && line.includes('chunkLength'));
    expect(bailouts.length).toBeLessThanOrEqual(1);
  });
});
